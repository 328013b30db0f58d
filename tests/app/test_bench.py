"""`make bench` runs and prints its table (the figures themselves are never asserted)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_bench_prints_rate_and_percentiles_per_page():
    result = subprocess.run(
        [sys.executable, "-m", "bench.requests", "--requests", "10", "--concurrency", "2", "--workers", "1"],
        cwd=REPO,
        env=os.environ | {"PYTHONPATH": f"{REPO / 'src'}:{REPO}"},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[1].split() == ["page", "req/s", "p50", "ms", "p90", "ms", "p99", "ms"]
    rows = {line.split()[0]: line.split()[-4:] for line in lines[2:]}
    assert {"/healthz", "/readyz", "/signin/", "/"} <= set(rows)
    assert all(float(value) > 0 for values in rows.values() for value in values)
