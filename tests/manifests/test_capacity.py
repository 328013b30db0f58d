"""`make capacity`: prod's rendered settings carry the 4x event; copies with less HPA, node or database room do not.

The runs use the documented default capacity (--no-bench: 80 req/s per pod), so the verdicts do not depend on the
machine's speed. The HPA arithmetic is checked against the controller's documented behaviour.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tools import capacity
from tools.manifests import REPO_ROOT

# What `load_prod` reads: the overlay and its base, the cluster's add-ons, eksctl, and the app's gunicorn config.
COPIED = ("base", "overlays", "clusters", "apps", "src")


def run_capacity(tmp_path: Path, *args: str, root: Path = REPO_ROOT) -> tuple[int, str, dict]:
    summary = tmp_path / "summary.json"
    command = [sys.executable, "-m", "tools.capacity", "--root", str(root), "--json", str(summary), *args]
    result = subprocess.run(
        command,
        cwd=REPO_ROOT,
        env=os.environ | {"PYTHONPATH": f"{REPO_ROOT / 'src'}:{REPO_ROOT}"},
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert summary.is_file(), result.stdout + result.stderr
    return result.returncode, result.stdout, json.loads(summary.read_text())


@pytest.fixture
def prod_copy(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    for name in COPIED:
        shutil.copytree(REPO_ROOT / name, root / name, ignore=shutil.ignore_patterns("__pycache__"))
    return root


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert text.count(old) >= 1, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new))


def test_prod_carries_the_event_and_the_plot_is_drawn(tmp_path):
    status, output, summary = run_capacity(tmp_path, "--no-bench", "--plot", str(tmp_path / "capacity.png"))
    assert status == 0, output
    assert summary["failures"] == []
    assert summary["event_share"] <= 0.01
    assert summary["db_connections"] < summary["db_max_connections"] == 901  # db.m7g.large, 8 GiB
    assert "prod carries the event" in output
    assert (tmp_path / "capacity.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_smaller_hpa_maximum_cannot_carry_the_event(tmp_path, prod_copy):
    edit(
        prod_copy / "overlays/prod/kustomization.yaml",
        "path: /spec/maxReplicas, value: 10",
        "path: /spec/maxReplicas, value: 3",
    )
    status, output, summary = run_capacity(tmp_path, "--no-bench", root=prod_copy)
    assert status == 1, output
    assert summary["event_share"] > 0.01  # three pods at 67 req/s each: most requests are slow
    assert any("more than maxReplicas" in failure for failure in summary["failures"])
    assert "prod does NOT carry the event" in output


def test_smaller_node_groups_cannot_carry_the_event(tmp_path, prod_copy):
    edit(prod_copy / "clusters/prod/eksctl.yaml", "maxSize: 4", "maxSize: 1")  # 3 nodes, 3 web pods each
    status, output, summary = run_capacity(tmp_path, "--no-bench", root=prod_copy)
    assert status == 1, output
    assert any("still not Ready" in failure for failure in summary["failures"]), summary


def test_a_smaller_database_cannot_take_every_connection(tmp_path, prod_copy):
    edit(prod_copy / "overlays/prod/database-claim.yaml", "size: large", "size: small")  # db.t4g.micro
    status, output, summary = run_capacity(tmp_path, "--no-bench", root=prod_copy)
    assert status == 1, output
    assert summary["db_max_connections"] == 112
    assert any("max_connections 112" in failure for failure in summary["failures"])


def test_prod_settings_are_read_from_the_rendered_manifests():
    prod = capacity.load_prod()
    hpa = prod.hpa
    assert (hpa.min_replicas, hpa.max_replicas, hpa.rps_target, hpa.cpu_target) == (3, 10, 20, 50)
    assert hpa.up == capacity.ScalingRules(0, "Max", (("Percent", 300, 30), ("Pods", 4, 30)), 0.1)
    assert hpa.down == capacity.ScalingRules(600, "Min", (("Pods", 1, 120),), 0.1)
    assert (prod.cpu_request, prod.cpu_limit, prod.memory_request, prod.max_surge) == (0.5, 1.0, 384, 3)
    assert prod.zone_max_skew == 1
    assert [(g.instance_type, g.zones, g.min_size, g.max_size) for g in prod.node_groups] == [
        ("m6i.large", (f"eu-west-1{zone}",), 1, 4) for zone in "abc"
    ]
    assert prod.rate_window == 120 and prod.autoscaler["scan-interval"] == 10
    assert prod.db_instance_class == "db.m7g.large"


def test_hpa_scale_up_policies_select_the_largest_change():
    hpa = capacity.load_prod().hpa
    state = capacity.HpaState()
    # From 3 pods: 300% gives 12, 4 pods gives 7; Max picks 12, then maxReplicas caps it.
    assert capacity.normalize(hpa, state, now=0, current=3, desired=30) == 10
    state = capacity.HpaState(up_events=[(0, 3)])  # 3 pods added in this 30 s period: it started at 2
    assert capacity.normalize(hpa, state, now=15, current=5, desired=9) == 8  # max(ceil(2 x 4), 2 + 4)
    state = capacity.HpaState(up_events=[(0, 6)])  # started at 2 in this period: at most max(8, 6) = 8
    assert capacity.normalize(hpa, state, now=15, current=8, desired=10) == 8
    assert capacity.normalize(hpa, state, now=31, current=8, desired=10) == 10  # a new period


def test_hpa_scale_down_waits_for_the_window_and_removes_one_pod_per_two_minutes():
    hpa = capacity.load_prod().hpa
    state = capacity.HpaState()
    assert capacity.normalize(hpa, state, now=0, current=10, desired=10) == 10
    assert capacity.normalize(hpa, state, now=300, current=10, desired=3) == 10  # 10 still in the 600 s window
    assert capacity.normalize(hpa, state, now=615, current=10, desired=3) == 9  # window passed: one pod
    state.down_events.append((615, 1))
    assert capacity.normalize(hpa, state, now=700, current=9, desired=3) == 9  # one per 120 s
    assert capacity.normalize(hpa, state, now=736, current=9, desired=3) == 8


def test_metric_replicas_tolerance_and_unready_pods():
    assert capacity.metric_replicas(1.05, ready=4, unready=0, current=4, tolerance=0.1) == 4  # within 10%
    assert capacity.metric_replicas(1.5, ready=4, unready=0, current=4, tolerance=0.1) == 6
    assert capacity.metric_replicas(0.5, ready=4, unready=0, current=4, tolerance=0.1) == 2
    # Scaling up with 4 starting pods: they count as 0, so 4 ready pods at 1.5x ask for no more than the 8 there are.
    assert capacity.metric_replicas(1.5, ready=4, unready=4, current=8, tolerance=0.1) == 8
    assert capacity.metric_replicas(3.0, ready=4, unready=4, current=8, tolerance=0.1) == 12


def test_node_room_and_rds_connection_limit_follow_the_documented_formulas():
    cores, mib, pods = capacity.node_allocatable("m6i.large")
    assert (round(cores, 3), mib, pods) == (1.93, 8192 - 255 - 11 * 29 - 100, 29)
    assert capacity.rds_max_connections("db.m7g.large") == 8 * 2**30 // 9531392
    with pytest.raises(ValueError, match="add it"):
        capacity.node_allocatable("x9.huge")


def test_capacity_comes_from_the_bench_figures(tmp_path):
    bench = tmp_path / "bench.json"
    pages = {
        page: {"peak": {"cpu_ms_per_request": ms}} for page, ms in (("all notes", 4.0), ("pad", 2.0), ("note", 3.0))
    }
    bench.write_text(json.dumps({"apps": {"head": {"pages": pages}}}))
    status, output, summary = run_capacity(tmp_path, "--bench", str(bench))
    assert status == 0, output
    assert summary["pod_rps"] == pytest.approx(500 / 3.0)  # the mean of the three pages at 0.5 CPU
    assert "3.00 CPU ms per request (bench.json" in output


def test_per_direction_tolerance_is_read_from_the_behavior():
    doc = {
        "spec": {
            "maxReplicas": 5,
            "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {"averageUtilization": 50}}}],
            "behavior": {"scaleUp": {"tolerance": "0.05"}, "scaleDown": {"tolerance": 0.2}},
        }
    }
    hpa = capacity.parse_hpa(doc)
    assert (capacity.tolerance(hpa, 1.07), capacity.tolerance(hpa, 0.85)) == (0.05, 0.2)
    assert capacity.metric_replicas(1.07, 4, 0, 4, capacity.tolerance(hpa, 1.07)) == 5  # beyond 5%: scale up
    assert capacity.metric_replicas(0.85, 4, 0, 4, capacity.tolerance(hpa, 0.85)) == 4  # within 20%: stay
    assert capacity.load_prod().hpa.up.tolerance == capacity.HPA_TOLERANCE == 0.1  # prod sets none: the default
