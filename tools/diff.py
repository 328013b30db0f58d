"""What a change does to each environment: `make diff BASE=<git ref>`.

Renders every environment's two kustomizations twice, at BASE (a `git archive` of that ref in a temp directory: the
work tree is not touched) and in the working tree, and prints a unified diff of the rendered YAML of each:
`overlays/<env>` (the app and its claims) and `clusters/<env>` (what the cluster's root Application syncs: the
add-ons' Applications with their chart versions, Argo CD, the projects). CI posts the output on pull requests, so a
reviewer sees the objects that change, not only the lines of the overlay, and a Renovate or promotion pull request
that only touches `clusters/<env>/versions/` shows the Applications it changes.

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

from tools.manifests import KustomizeError, build_kustomization
from tools.repository import REPO_ROOT


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


# The folders whose subfolders are one environment's kustomization each: the app, and what the cluster syncs.
TREES = ("overlays", "clusters")


def kustomizations(*roots: Path) -> list[str]:
    """Every `overlays/<env>` and `clusters/<env>` present in any of the trees, in a stable order."""
    return sorted(
        {
            f"{tree}/{p.name}"
            for root in roots
            for tree in TREES
            for p in (root / tree).glob("*")
            if (p / "kustomization.yaml").is_file()
        }
    )


def render_or_empty(root: Path, folder: str) -> str:
    """The rendered kustomization, or "" when the tree has no such folder (an added or removed environment)."""
    path = root / folder
    return build_kustomization(path) if (path / "kustomization.yaml").is_file() else ""


def diff_environments(base_ref: str, repo: Path = REPO_ROOT) -> dict[str, str]:
    """`{"overlays/<env>" or "clusters/<env>": unified diff}`; an empty string means no change."""
    with tempfile.TemporaryDirectory(prefix="notejam-diff-") as tmp:
        base_root = Path(tmp)
        export_ref(repo, base_ref, base_root)
        diffs = {}
        for folder in kustomizations(base_root, repo):
            before = render_or_empty(base_root, folder)
            after = render_or_empty(repo, folder)
            diffs[folder] = "".join(
                difflib.unified_diff(
                    before.splitlines(keepends=True),
                    after.splitlines(keepends=True),
                    fromfile=f"{folder} @ {base_ref}",
                    tofile=f"{folder} @ working tree",
                )
            )
        return diffs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.diff",
        description="Unified diff of every rendered overlay and cluster between a git ref and the working tree.",
    )
    parser.add_argument("--base", required=True, help="git ref to compare with, e.g. origin/main")
    parser.add_argument("--repo", type=Path, default=REPO_ROOT, help="repository (default: this one)")
    args = parser.parse_args(argv)
    try:
        diffs = diff_environments(args.base, args.repo.resolve())
    except (DiffError, KustomizeError) as error:
        parser.exit(2, f"error: {error}\n")
    for folder, text in diffs.items():
        print(f"## {folder}: {'changes' if text else 'no changes'}")
        if text:
            print(text, end="" if text.endswith("\n") else "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
