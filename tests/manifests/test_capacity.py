"""`make capacity`: prod's rendered settings pass the closed-form node and database checks, copies with less node or
database room fail them, and the live run's time series (tests/live/test_event.py writes it) is summarized and drawn.

The HPA is not modelled here any more: the live test runs the real controller. `replicas_needed` is only the
definition of the HPA's targets, checked on prod's values.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tools import capacity
from tools.repository import REPO_ROOT

# What `load_prod` and the database check read: the overlay and its base, eksctl, and the app's gunicorn config.
COPIED = ("base", "overlays", "clusters", "components", "src")
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def prod() -> capacity.Prod:
    return capacity.load_prod()


@pytest.fixture
def prod_copy(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    for name in COPIED:
        shutil.copytree(REPO_ROOT / name, root / name, ignore=shutil.ignore_patterns("__pycache__"))
    return root


def edit(path: Path, old: str, new: str, count: int = -1) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, count))


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    """`python -m tools.capacity` in this process, with no live run unless `--event` says where one is."""
    event = () if "--event" in args else ("--event", str(REPO_ROOT / ".cache" / "no-such-event.json"))
    status = capacity.main([*event, *args])
    return status, capsys.readouterr().out


def event_json(path: Path, **changes: object) -> Path:
    """A small live run as tests/live/test_event.py records it: 50 req/s, 4x from 40 s to 160 s."""
    samples = []
    for t in range(0, 200, 10):
        rps = 200.0 if 40 <= t < 160 else 50.0
        replicas = 3 if t < 50 else 6 if t < 60 else 10
        ready = 3 if t < 60 else 6 if t < 70 else 10
        sample = {"t": float(t), "offered_rps": rps, "replicas": replicas, "ready": ready}
        sample |= {"cpu_millicores_per_pod": rps * 2.58 / ready, "hpa_desired": replicas}
        samples.append(sample | {"rps_per_pod_metric": rps / ready, "argocd_health": "Healthy"})
    samples[5]["cpu_millicores_per_pod"] = None  # metrics-server had no sample yet
    event = {
        "environment": "prod",
        "time_scale": 10,
        "cpu_ms_per_request": 2.58,
        "cpu_source": "docs/bench.json",
        "normal_rps": 50,
        "factor": 4,
        "min_replicas": 3,
        "max_replicas": 10,
        "replicas_needed": 10,
        "degrade_millicores": 500,
        "phases": {"event_start": 40.0, "event_end": 160.0},
        "samples": samples,
    }
    path.write_text(json.dumps(event | changes))
    return path


def test_make_capacity_passes_on_prod_and_draws_the_live_run(tmp_path):
    """As `make capacity` runs it: prod passes both checks; the live run is summarized and plotted."""
    event, plot = event_json(tmp_path / "event.json"), tmp_path / "docs" / "capacity.png"
    result = subprocess.run(
        [sys.executable, "-m", "tools.capacity", "--event", str(event), "--plot", str(plot)],
        cwd=REPO_ROOT,
        env=os.environ | {"PYTHONPATH": f"{REPO_ROOT / 'src'}:{REPO_ROOT}"},
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    output = result.stdout
    assert "nodes: 6 needed, 12 available: OK" in output  # 13 pods, 5 per zone, 3 per m6i.large
    assert "390 connections at most" in output and "max_connections 901 of db.m7g.large" in output
    assert "k8s.io/autoscaler/cluster-autoscaler" in output  # why nodes are a closed-form check
    assert "needs 10 replicas by the HPA's targets" in output
    assert "10 replicas 20 s into the event" in output and "10 ready pods 30 s into the event" in output
    assert "highest mean CPU per pod 172 millicores, degrade point 500 (within)" in output  # 200 x 2.58 / 3
    assert "prod passes the closed-form checks" in output
    data = plot.read_bytes()
    assert data.startswith(PNG) and len(data) > 10_000


def test_a_missing_live_run_does_not_fail(tmp_path, capsys):
    plot = tmp_path / "capacity.png"
    status, output = run(capsys, "--event", str(tmp_path / "missing.json"), "--plot", str(plot))
    assert status == 0, output
    assert "python -m pytest tests/live/test_event.py" in output and f"({plot} not drawn)" in output
    assert not plot.exists()


def test_smaller_node_groups_fail_the_node_check(tmp_path, capsys, prod_copy):
    edit(prod_copy / "clusters/prod/eksctl.yaml", "maxSize: 4", "maxSize: 1")  # 3 nodes, 3 web pods each
    status, output = run(capsys, "--root", str(prod_copy))
    assert status == 1, output
    assert "eu-west-1a: 5 pods need 2 nodes of 1 at maxSize" in output
    assert "FAIL: nodes" in output and "FAIL: nodes, database" not in output


def test_one_small_zone_fails_the_hard_zone_spread(prod):
    """Room for 3 + 12 + 12 pods is enough for 13, but the spread puts 5 in each zone: one node's 3 do not hold them."""
    small_a = dataclasses.replace(prod.node_groups[0], max_size=1)
    spread = dataclasses.replace(prod, node_groups=(small_a, *prod.node_groups[1:]))
    ok, lines = capacity.check_nodes(spread)
    assert not ok and "eu-west-1a: 5 pods need 2 nodes of 1 at maxSize" in lines
    ok, lines = capacity.check_nodes(dataclasses.replace(spread, zone_max_skew=None))  # ScheduleAnyway: it fits
    assert ok and "any zone: 13 pods need 5 nodes of 9 at maxSize" in lines


def test_a_smaller_database_fails_the_database_check(tmp_path, capsys, prod_copy):
    edit(prod_copy / "overlays/prod/database-claim.yaml", "size: large", "size: small")  # db.t4g.micro
    status, output = run(capsys, "--root", str(prod_copy))
    assert status == 1, output
    assert "vs max_connections 112 of db.t4g.micro" in output
    assert "FAIL: database" in output


def test_a_bigger_pool_fails_the_database_check(capsys, monkeypatch):
    from sqlalchemy import create_engine

    from notejam import database

    monkeypatch.setattr(database, "make_engine", lambda url: create_engine(url, pool_size=50, max_overflow=20))
    status, output = run(capsys)
    assert status == 1, output
    assert "2730 connections at most" in output  # 13 pods x 3 workers x 70
    assert "FAIL: database" in output


def test_replicas_needed_is_the_hpa_targets(prod):
    assert (capacity.NORMAL_RPS, capacity.EVENT_FACTOR) == (50.0, 4.0)
    assert capacity.EVENT_FILE == REPO_ROOT / ".cache" / "test-results" / "event-prod.json"
    offered = capacity.NORMAL_RPS * capacity.EVENT_FACTOR
    assert capacity.replicas_needed(prod, offered, cpu_ms=2.58) == 10  # 200 req/s at 20 req/s per pod, not 11
    assert capacity.replicas_needed(prod, offered, cpu_ms=20.0) == 16  # 4000 CPU ms/s at 250 per pod (50% of 500m)
    assert capacity.replicas_needed(prod, 10.0, cpu_ms=2.58) == 3  # minReplicas
    assert capacity.replicas_needed(prod, 300.0, cpu_ms=2.58) == 15  # not capped at maxReplicas
    assert capacity.degrade_millicores(prod) == 500


def test_prod_settings_are_read_from_the_rendered_manifests(prod):
    assert prod.hpa == capacity.Hpa(min_replicas=3, max_replicas=10, rps_target=20, cpu_target=50)
    assert (prod.cpu_request, prod.cpu_limit, prod.memory_request, prod.max_surge) == (0.5, 1.0, 384, 3)
    assert prod.zone_max_skew == 1
    assert [(g.instance_type, g.zones, g.min_size, g.max_size) for g in prod.node_groups] == [
        ("m6i.large", (f"eu-west-1{zone}",), 1, 4) for zone in "abc"
    ]
    assert prod.db_instance_class == "db.m7g.large"


def test_node_room_and_rds_connection_limit_follow_the_documented_formulas(prod):
    cores, mib, pods = capacity.node_allocatable("m6i.large")
    assert (round(cores, 3), mib, pods) == (1.93, 8192 - 255 - 11 * 29 - 100, 29)
    assert capacity.web_pods_per_node("m6i.large", prod) == 3  # (1.93 - 0.25) // 0.5
    assert capacity.rds_max_connections("db.m7g.large") == 8 * 2**30 // 9531392 == 901
    with pytest.raises(ValueError, match="add it"):
        capacity.node_allocatable("x9.huge")


def test_cpu_per_request_comes_from_the_bench_figures(tmp_path):
    bench = tmp_path / "bench.json"
    pages = {
        page: {"peak": {"cpu_ms_per_request": ms}} for page, ms in (("all notes", 4.0), ("pad", 2.0), ("note", 3.0))
    }
    bench.write_text(json.dumps({"apps": {"head": {"pages": pages}}}))
    assert capacity.cpu_ms_per_request(bench, 0.5) == (3.0, str(bench.resolve()))
    assert capacity.cpu_ms_per_request(None, 0.5)[0] == 500 / capacity.DEFAULT_POD_RPS
    found = capacity.find_bench()
    assert found in capacity.BENCH_FILES
    assert capacity.cpu_ms_per_request(found, 0.5)[1] in (".cache/bench.json", "docs/bench.json")


def test_a_live_run_with_nulls_is_summarized_and_drawn(tmp_path, capsys):
    """Nulls the live test may write (no time_scale yet, no phases, no replicas needed) fall back to prod's."""
    event = event_json(tmp_path / "event.json", time_scale=None, phases=None, replicas_needed=None)
    plot = tmp_path / "capacity.png"
    status, output = run(capsys, "--event", str(event), "--plot", str(plot))
    assert status == 0, output
    assert "10 replicas 60 s into the run (no event_start recorded)" in output  # needed 10 from prod's targets
    assert plot.read_bytes().startswith(PNG)
