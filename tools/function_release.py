"""Set (or show) dev's tag of our composition function's package: clusters/dev/versions/crossplane-packages.

The release workflow builds the function from a commit on main, pushes its package as
ghcr.io/notejam/function-notejam:<commit sha> and commits that tag to dev's platform versions; promotion
(`tools.promote`) then carries it to staging and prod with the other versions, as it carries the app image.

    python -m tools.function_release --tag 0123abc...   # set dev's tag (a full commit SHA)
    python -m tools.function_release --show             # print the package dev installs

The edit is a line edit of the package's `newTag:` in that kustomization, so the file's comments and layout survive.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tools.promote import PromotionError, image_tag, set_image_tag
from tools.repository import RELEASE_TAG, REPO_ROOT

PACKAGE = "ghcr.io/notejam/function-notejam"
MANIFEST = REPO_ROOT / "clusters" / "dev" / "versions" / "crossplane-packages" / "kustomization.yaml"


class ReleaseError(Exception):
    """A tag that cannot be set; the message says why."""


def package(manifest: Path = MANIFEST) -> str:
    try:
        return f"{PACKAGE}:{image_tag(manifest, PACKAGE)}"
    except PromotionError as error:
        raise ReleaseError(str(error)) from error


def set_tag(tag: str, manifest: Path = MANIFEST) -> bool:
    """Point dev's Function at PACKAGE:<tag>; False when it already does."""
    if not RELEASE_TAG.fullmatch(tag):
        raise ReleaseError(f"tag {tag!r} is not a full git commit SHA (40 lowercase hex characters)")
    try:
        return set_image_tag(manifest, PACKAGE, tag)
    except PromotionError as error:
        raise ReleaseError(str(error)) from error


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.function_release", description=__doc__.splitlines()[0])
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--tag", help="the commit SHA the function's package was built and pushed from")
    action.add_argument("--show", action="store_true", help="print the package dev installs")
    parser.add_argument("--manifest", type=Path, default=MANIFEST, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    try:
        if args.show:
            print(package(args.manifest))
            return 0
        changed = set_tag(args.tag, args.manifest)
    except ReleaseError as error:
        print(f"function_release: {error}", file=sys.stderr)
        return 2
    print(f"{PACKAGE}:{args.tag}" + ("" if changed else " (unchanged)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
