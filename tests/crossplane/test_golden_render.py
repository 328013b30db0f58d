"""`make render` prints exactly the snapshots in tests/crossplane/golden/ (tests/crossplane/snapshots.py lists the
cases). A change to what the compositions compose shows up here as a diff to review; `make golden` rewrites them."""

from __future__ import annotations

import difflib

import pytest

from tests.crossplane.snapshots import CASES, GOLDEN, render


@pytest.mark.parametrize("case", sorted(CASES))
def test_render_matches_its_snapshot(case: str) -> None:
    now, before = render(case), (GOLDEN / case).read_text()
    diff = "".join(difflib.unified_diff(before.splitlines(True), now.splitlines(True), f"golden/{case}", "render", n=2))
    assert now == before, f"the render changed: review it, then `make golden`\n{diff[:6000]}"
