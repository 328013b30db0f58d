"""Promote the Notejam image and the platform versions between environments.

Argo CD deploys whatever `main` says, so promotion is a commit: the release workflow sets the freshly built tag in
`overlays/dev`, Renovate bumps add-on charts, Crossplane providers and functions in `clusters/dev/versions/`, and
each later step copies both from the previous environment (dev -> staging -> prod) in a pull request whose merge is
the promotion.

    python -m tools.promote --env dev --tag 0123abc...        # set a tag
    python -m tools.promote --from-env dev --env staging      # copy dev's tag and platform versions to staging
    python -m tools.promote --show                            # print every environment's tag

The tag is a line edit of `newTag:` so that comments and layout of the kustomization survive. The platform versions
are a folder that names no environment (a test insists), so promotion copies it file by file.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import yaml

from tools.repository import ENVIRONMENTS, RELEASE_TAG, REPO_ROOT

IMAGE = "ghcr.io/notejam/notejam"
# clusters/<env>/versions/: the chart versions of the add-ons and the Crossplane package tags of one cluster.
VERSIONS = "versions"
# What would make a copied versions file wrong in the next environment: a cluster name or a path into one cluster.
NAMES_AN_ENVIRONMENT = re.compile(rf"\b(notejam-|clusters/)({'|'.join(ENVIRONMENTS)})\b")


class PromotionError(Exception):
    """A promotion that cannot be made; the message says why."""


def kustomization_path(env: str, root: Path = REPO_ROOT) -> Path:
    if env not in ENVIRONMENTS:
        raise PromotionError(f"unknown environment {env!r}: expected one of {', '.join(ENVIRONMENTS)}")
    return root / "overlays" / env / "kustomization.yaml"


def image_tag(path: Path, image: str) -> str:
    """The `newTag` of `image` in the `images:` of the kustomization at `path`."""
    images = yaml.safe_load(path.read_text()).get("images") or []
    for entry in images:
        if entry.get("name") == image and entry.get("newTag"):
            return str(entry["newTag"])
    raise PromotionError(f"{path}: no `images:` entry for {image} with a newTag")


def set_image_tag(path: Path, image: str, tag: str) -> bool:
    """Line-edit the `newTag` of `image` in the kustomization at `path`; returns False when it already had `tag`."""
    if image_tag(path, image) == tag:
        return False
    lines = path.read_text().splitlines(keepends=True)
    in_our_image = False
    for number, line in enumerate(lines):
        name = re.match(r"^\s*-?\s*name:\s*(\S+)\s*$", line)
        if name:
            in_our_image = name.group(1) == image
        tag_line = re.match(r"^(\s*-?\s*newTag:\s*)\S+(.*)$", line)
        if tag_line and in_our_image:
            lines[number] = f"{tag_line.group(1)}{quote_if_numeric(tag)}{tag_line.group(2)}\n"
            break
    path.write_text("".join(lines))
    if image_tag(path, image) != tag:  # the line edit must mean the same to a YAML reader
        raise PromotionError(f"{path}: could not rewrite the newTag of {image}")
    return True


def read_tag(env: str, root: Path = REPO_ROOT) -> str:
    return image_tag(kustomization_path(env, root), IMAGE)


def set_tag(env: str, tag: str, root: Path = REPO_ROOT) -> bool:
    """Set the image tag of one environment; returns False when it already had that tag."""
    if not RELEASE_TAG.fullmatch(tag):
        raise PromotionError(f"tag {tag!r} is not a full git commit SHA (40 lowercase hex characters)")
    return set_image_tag(kustomization_path(env, root), IMAGE, tag)


def quote_if_numeric(tag: str) -> str:
    """A SHA of digits only would otherwise be read back as a number."""
    return f'"{tag}"' if tag.isdigit() else tag


def versions_dir(env: str, root: Path = REPO_ROOT) -> Path:
    if env not in ENVIRONMENTS:
        raise PromotionError(f"unknown environment {env!r}: expected one of {', '.join(ENVIRONMENTS)}")
    return root / "clusters" / env / VERSIONS


def version_files(env: str, root: Path = REPO_ROOT) -> dict[str, str]:
    """The files of clusters/<env>/versions/, by path inside that folder."""
    directory = versions_dir(env, root)
    if not directory.is_dir():
        raise PromotionError(f"{directory}: no platform versions folder")
    return {p.relative_to(directory).as_posix(): p.read_text() for p in sorted(directory.rglob("*")) if p.is_file()}


def copy_versions(from_env: str, to_env: str, root: Path = REPO_ROOT) -> list[str]:
    """Make clusters/<to_env>/versions/ what clusters/<from_env>/versions/ is; returns the files that changed."""
    source, target = version_files(from_env, root), version_files(to_env, root)
    for name, text in source.items():
        if NAMES_AN_ENVIRONMENT.search(text):
            raise PromotionError(f"{versions_dir(from_env, root) / name} names its environment: it cannot be copied")
    directory = versions_dir(to_env, root)
    changed = []
    for name in sorted(source.keys() | target.keys()):
        if source.get(name) == target.get(name):
            continue
        path = directory / name
        if name in source:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(source[name])
        else:
            path.unlink()
        changed.append(name)
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", choices=ENVIRONMENTS, help="the environment to change")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--tag", help="the image tag (full git SHA) to set")
    source.add_argument(
        "--from-env", choices=ENVIRONMENTS, help="copy the tag and the platform versions of this environment"
    )
    parser.add_argument("--show", action="store_true", help="print the tag of every environment")
    parser.add_argument("--root", type=Path, default=REPO_ROOT, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    try:
        if args.show:
            for env in ENVIRONMENTS:
                print(f"{env}\t{read_tag(env, args.root)}")
            return 0
        if not args.env or (args.tag is None and args.from_env is None):
            parser.error("give --env and one of --tag or --from-env (or --show)")
        tag = args.tag if args.tag is not None else read_tag(args.from_env, args.root)
        # Versions first: copying them may be refused (a file that names its environment), and then nothing changed.
        versions = copy_versions(args.from_env, args.env, args.root) if args.from_env else None
        changed = set_tag(args.env, tag, args.root)
    except PromotionError as error:
        print(f"promote: {error}", file=sys.stderr)
        return 2
    print(f"{args.env}: {IMAGE}:{tag}" + ("" if changed else " (already there)"))
    if versions is not None:
        detail = f" ({', '.join(versions)})" if versions else " (already there)"
        print(f"{args.env}: platform versions from {args.from_env}{detail}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
