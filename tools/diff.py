"""What a change does to each environment: `make diff BASE=<git ref>`.

Renders every overlay twice, at BASE (a `git archive` of that ref in a temp directory: the work tree is not touched)
and in the working tree, and prints a unified diff of the rendered YAML per environment. CI posts the output on
pull requests, so a reviewer sees the objects that change, not only the lines of the overlay.

    python -m tools.diff --base origin/main
"""

from __future__ import annotations

import argparse
import difflib
import io
import subprocess
import tarfile
import tempfile
from pathlib import Path

from tools.manifests import REPO_ROOT, RenderError, build_kustomization


class DiffError(RuntimeError):
    """BASE cannot be read (unknown ref, not a git repository)."""


def export_ref(repo: Path, ref: str, destination: Path) -> None:
    """Write the tree of `ref` into `destination` (read-only for the repository)."""
    result = subprocess.run(  # noqa: S603 - fixed git subcommand
        ["git", "-C", str(repo), "archive", "--format=tar", ref],  # noqa: S607 - git from PATH
        capture_output=True,
        check=False,
    )
    if result.returncode != 0:
        raise DiffError(f"cannot read {ref!r} in {repo}: {result.stderr.decode().strip()}")
    with tarfile.open(fileobj=io.BytesIO(result.stdout)) as archive:
        archive.extractall(destination, filter="data")


def environments(*roots: Path) -> list[str]:
    """Every overlay present in any of the trees, in a stable order."""
    names = {p.name for root in roots for p in (root / "overlays").glob("*") if (p / "kustomization.yaml").is_file()}
    return sorted(names)


def render_or_empty(root: Path, environment: str) -> str:
    """The rendered overlay, or "" when the tree has no such overlay (added or removed environment)."""
    overlay = root / "overlays" / environment
    return build_kustomization(overlay) if (overlay / "kustomization.yaml").is_file() else ""


def diff_overlays(base_ref: str, repo: Path = REPO_ROOT) -> dict[str, str]:
    """`{environment: unified diff}`; an empty string means no change."""
    with tempfile.TemporaryDirectory(prefix="notejam-diff-") as tmp:
        base_root = Path(tmp)
        export_ref(repo, base_ref, base_root)
        diffs = {}
        for environment in environments(base_root, repo):
            before = render_or_empty(base_root, environment)
            after = render_or_empty(repo, environment)
            diffs[environment] = "".join(
                difflib.unified_diff(
                    before.splitlines(keepends=True),
                    after.splitlines(keepends=True),
                    fromfile=f"overlays/{environment} @ {base_ref}",
                    tofile=f"overlays/{environment} @ working tree",
                )
            )
        return diffs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.diff",
        description="Unified diff of every rendered overlay between a git ref and the working tree.",
    )
    parser.add_argument("--base", required=True, help="git ref to compare with, e.g. origin/main")
    parser.add_argument("--repo", type=Path, default=REPO_ROOT, help="repository (default: this one)")
    args = parser.parse_args(argv)
    try:
        diffs = diff_overlays(args.base, args.repo.resolve())
    except (DiffError, RenderError) as error:
        parser.exit(2, f"error: {error}\n")
    for environment, text in diffs.items():
        print(f"## {environment}: {'changes' if text else 'no changes'}")
        if text:
            print(text, end="" if text.endswith("\n") else "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
