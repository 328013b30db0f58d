"""The render snapshots in tests/crossplane/golden/: what `python -m tools.render` prints for each case below.

After a change to the compositions, the function or a claim, regenerate them with `make golden` and review
`git diff tests/crossplane/golden/` like any other change: test_golden_render.py fails until they match.
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

from tools.render import main
from tools.repository import REPO_ROOT

GOLDEN = Path(__file__).parent / "golden"
EXAMPLES = [
    str(path.relative_to(REPO_ROOT)) for path in sorted((REPO_ROOT / "crossplane/apis").glob("*/examples/claim.yaml"))
]
# An input, not a snapshot: the composed resources as AWS reported them after the backup example's first reconcile.
BACKUP_OBSERVED = GOLDEN / "backup-observed-after-first-reconcile.yaml"
CASES = {
    "environments-assume-created.yaml": ["--assume-created"],
    "environments-first-reconcile.yaml": [],
    "examples-assume-created.yaml": ["--assume-created", *EXAMPLES],
    "examples-first-reconcile.yaml": EXAMPLES,
    "backup-second-reconcile.yaml": [
        "--observed",
        str(BACKUP_OBSERVED.relative_to(REPO_ROOT)),
        "crossplane/apis/backup/examples/claim.yaml",
    ],
}


def render(case: str) -> str:
    """What `python -m tools.render <the case's arguments>` prints, run from the repository root."""
    output = io.StringIO()
    with contextlib.chdir(REPO_ROOT), contextlib.redirect_stdout(output):
        status = main(CASES[case])
    if status != 0:
        raise RuntimeError(f"python -m tools.render {' '.join(CASES[case])} failed ({status})")
    return output.getvalue()


if __name__ == "__main__":
    for case in CASES:
        (GOLDEN / case).write_text(render(case))
        print(f"wrote {(GOLDEN / case).relative_to(REPO_ROOT)}")
