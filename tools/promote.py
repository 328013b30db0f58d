"""Promote the Notejam image between environments by editing the overlays' `images:` tag.

Argo CD deploys whatever `main` says, so promotion is a commit: the release workflow sets the freshly built tag in
`overlays/dev`, and each later step copies the tag of the previous environment (dev -> staging -> prod) in a pull
request whose merge is the promotion.

    python -m tools.promote --env dev --tag 0123abc...        # set a tag
    python -m tools.promote --from-env dev --env staging      # copy dev's tag to staging
    python -m tools.promote --show                            # print every environment's tag

The edit is a line edit of `newTag:` so that comments and layout of the kustomization survive.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import yaml

IMAGE = "ghcr.io/notejam/notejam"
ENVIRONMENTS = ("dev", "staging", "prod")
REPO_ROOT = Path(__file__).resolve().parent.parent
TAG_PATTERN = re.compile(r"^[0-9a-f]{40}$")


class PromotionError(Exception):
    """A promotion that cannot be made; the message says why."""


def kustomization_path(env: str, root: Path = REPO_ROOT) -> Path:
    if env not in ENVIRONMENTS:
        raise PromotionError(f"unknown environment {env!r}: expected one of {', '.join(ENVIRONMENTS)}")
    return root / "overlays" / env / "kustomization.yaml"


def read_tag(env: str, root: Path = REPO_ROOT) -> str:
    path = kustomization_path(env, root)
    images = yaml.safe_load(path.read_text()).get("images") or []
    for image in images:
        if image.get("name") == IMAGE and image.get("newTag"):
            return str(image["newTag"])
    raise PromotionError(f"{path}: no `images:` entry for {IMAGE} with a newTag")


def set_tag(env: str, tag: str, root: Path = REPO_ROOT) -> bool:
    """Set the image tag of one environment; returns False when it already had that tag."""
    if not TAG_PATTERN.fullmatch(tag):
        raise PromotionError(f"tag {tag!r} is not a full git commit SHA (40 lowercase hex characters)")
    current = read_tag(env, root)
    if current == tag:
        return False
    path = kustomization_path(env, root)
    lines = path.read_text().splitlines(keepends=True)
    in_our_image = False
    for number, line in enumerate(lines):
        name = re.match(r"^\s*-?\s*name:\s*(\S+)\s*$", line)
        if name:
            in_our_image = name.group(1) == IMAGE
        tag_line = re.match(r"^(\s*-?\s*newTag:\s*)\S+(.*)$", line)
        if tag_line and in_our_image:
            lines[number] = f"{tag_line.group(1)}{quote_if_numeric(tag)}{tag_line.group(2)}\n"
            break
    path.write_text("".join(lines))
    if read_tag(env, root) != tag:  # the line edit must mean the same to a YAML reader
        raise PromotionError(f"{path}: could not rewrite the newTag of {IMAGE}")
    return True


def quote_if_numeric(tag: str) -> str:
    """A SHA of digits only would otherwise be read back as a number."""
    return f'"{tag}"' if tag.isdigit() else tag


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", choices=ENVIRONMENTS, help="the environment to change")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--tag", help="the image tag (full git SHA) to set")
    source.add_argument("--from-env", choices=ENVIRONMENTS, help="copy the tag of this environment")
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
        changed = set_tag(args.env, tag, args.root)
    except PromotionError as error:
        print(f"promote: {error}", file=sys.stderr)
        return 2
    print(f"{args.env}: {IMAGE}:{tag}" + ("" if changed else " (already there)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
