"""Render our platform.notejam.io claims offline into the AWS managed resources they compose (`make render`).

The semantics (what Crossplane and function-patch-and-transform do, and why this is not `crank render`) live in
`tools.patch_and_transform`; this module finds the claims (overlays or examples) and prints the renderings.

    python -m tools.render --help
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from tools import manifests
from tools.patch_and_transform.composite import APIS_DIR
from tools.patch_and_transform.errors import RenderError
from tools.patch_and_transform.fieldpath import Object
from tools.patch_and_transform.pipeline import PLACEHOLDER_ACCOUNT, render, render_settled

REPO_ROOT = Path(__file__).resolve().parents[1]
OVERLAYS_DIR = REPO_ROOT / "overlays"
PLATFORM_GROUP = "platform.notejam.io"


def example_claims(apis_dir: Path = APIS_DIR) -> list[Object]:
    """The example claims of every API: the API contract the overlays copy."""
    claims = []
    for path in sorted(apis_dir.glob("*/examples/*.yaml")):
        claims.extend(doc for doc in yaml.safe_load_all(path.read_text()) if is_claim(doc))
    return claims


def is_claim(document: Any) -> bool:
    return isinstance(document, dict) and document.get("apiVersion", "").startswith(f"{PLATFORM_GROUP}/")


def overlay_claims(overlays_dir: Path = OVERLAYS_DIR) -> dict[str, list[Object]]:
    """Each overlay's claims, built with kustomize; empty when no overlay exists yet."""
    return {
        overlay.parent.name: [doc for doc in manifests.render(overlay.parent) if is_claim(doc)]
        for overlay in sorted(overlays_dir.glob("*/kustomization.yaml"))
    }


def _dump(documents: Sequence[Object]) -> str:
    return yaml.safe_dump_all(documents, sort_keys=False, default_flow_style=False)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.render",
        description="Render platform.notejam.io claims into their composed AWS resources (offline).",
        epilog="With no CLAIM files, renders every overlay's claims (overlays/<env>, built with kustomize); "
        "without overlays, the example claims in crossplane/apis/*/examples.",
    )
    parser.add_argument("claims", nargs="*", type=Path, metavar="CLAIM.yaml", help="claim manifests to render")
    source = parser.add_mutually_exclusive_group()
    source.add_argument(
        "--observed",
        type=Path,
        metavar="FILE",
        help="YAML stream of observed composed resources (like crank --observed-resources)",
    )
    source.add_argument(
        "--assume-created",
        action="store_true",
        help="show the end state: pretend AWS created every resource and reported a placeholder ARN "
        f"(account {PLACEHOLDER_ACCOUNT}), so the resources that wait for an ARN appear too",
    )
    args = parser.parse_args(argv)
    observed = list(yaml.safe_load_all(args.observed.read_text())) if args.observed else None
    if args.claims:
        groups = {
            "claims": [doc for path in args.claims for doc in yaml.safe_load_all(path.read_text()) if is_claim(doc)]
        }
    else:
        groups = overlay_claims() or {"examples": example_claims()}
    try:
        for environment, claims in groups.items():
            for claim in claims:
                rendering = render_settled(claim) if args.assume_created else render(claim, observed)
                meta = claim["metadata"]
                print(f"# environment: {environment}; {claim['kind']} {meta['namespace']}/{meta['name']}")
                for warning in rendering.warnings:
                    print(f"# warning: {warning}")
                print(_dump([rendering.composite, *rendering.resources]), end="")
                print("---")
    except RenderError as error:
        print(f"render failed: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
