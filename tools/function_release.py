"""Set (or show) the tag of our composition function's package: crossplane/packages/function-notejam.yaml.

The release workflow builds the function from a commit on main, pushes its package as
ghcr.io/notejam/function-notejam:<commit sha> and commits that tag here; every cluster's Argo CD then installs it,
as `tools.promote` does for the app image in overlays/dev.

    python -m tools.function_release --tag 0123abc...   # set the tag (a full commit SHA)
    python -m tools.function_release --show             # print the package reference

The edit is a line edit of `package:`, so the file's comments and layout survive.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import yaml

PACKAGE = "ghcr.io/notejam/function-notejam"
MANIFEST = Path(__file__).resolve().parents[1] / "crossplane" / "packages" / "function-notejam.yaml"
TAG_PATTERN = re.compile(r"^[0-9a-f]{40}$")


class ReleaseError(Exception):
    """A tag that cannot be set; the message says why."""


def package(manifest: Path = MANIFEST) -> str:
    return yaml.safe_load(manifest.read_text())["spec"]["package"]


def set_tag(tag: str, manifest: Path = MANIFEST) -> bool:
    """Point the Function at PACKAGE:<tag>; False when it already does."""
    if not TAG_PATTERN.fullmatch(tag):
        raise ReleaseError(f"tag {tag!r} is not a full git commit SHA (40 lowercase hex characters)")
    wanted = f"{PACKAGE}:{tag}"
    if package(manifest) == wanted:
        return False
    text, count = re.subn(r"^(\s*package:\s*)\S+(.*)$", rf"\g<1>{wanted}\g<2>", manifest.read_text(), flags=re.M)
    if count != 1:
        raise ReleaseError(f"{manifest}: expected exactly one `package:` line, found {count}")
    manifest.write_text(text)
    if package(manifest) != wanted:  # the line edit must mean the same to a YAML reader
        raise ReleaseError(f"{manifest}: could not set spec.package to {wanted}")
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.function_release", description=__doc__.splitlines()[0])
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--tag", help="the commit SHA the function's package was built and pushed from")
    action.add_argument("--show", action="store_true", help="print the package the clusters install")
    parser.add_argument("--manifest", type=Path, default=MANIFEST, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.show:
        print(package(args.manifest))
        return 0
    try:
        changed = set_tag(args.tag, args.manifest)
    except ReleaseError as error:
        print(f"function_release: {error}", file=sys.stderr)
        return 2
    print(f"{PACKAGE}:{args.tag}" + ("" if changed else " (unchanged)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
