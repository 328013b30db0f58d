"""Can prod carry a 4x event? The checks that cannot run locally, and the plot of the live run (`make capacity`).

The HPA is not modelled here: tests/live/test_event.py runs the real HPA controller (kube-controller-manager and
metrics-server on the local kwok control plane) through the event and records a time series (EVENT_FILE); this module
summarizes it and draws docs/capacity.png from it. What it checks itself, in closed form (exit status 1 if one fails):
- nodes: the cluster autoscaler cannot run here (the Go module proxy refuses k8s.io/autoscaler/cluster-autoscaler),
  so the node count is a closed-form check: maxReplicas + the rollout surge pods, each with its CPU and memory
  requests, next to what every node runs (SYSTEM_*), fit in the node groups at maxSize, and in each zone's groups
  when prod's zone spread is hard (DoNotSchedule: ceil(pods / zones) per zone).
- database: the connections all those pods may open (workers x pool size + overflow) stay under the RDS instance
  class's max_connections.

It reads the HPA, the Deployment and the database claim rendered from `overlays/prod` (the RDS instance class through
our composition function, `tools.render`), the node groups from clusters/prod/eksctl.yaml, gunicorn's workers from
notejam.gunicorn_conf at the pod's CPU limit, the pool from notejam.database.make_engine, and CPU per request from
`make bench` (.cache/bench.json, else docs/bench.json). The event is an assumption: 50 req/s in business hours
(NORMAL_RPS), 4 times that (EVENT_FACTOR).

    python -m tools.capacity --help
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tools.gunicorn_settings import resolve
from tools.manifests import Document, kustomize_overlay
from tools.repository import INSTANCE_TYPES, REPO_ROOT

NORMAL_RPS = 50.0  # business-hours requests/s, the documented assumption (docs/capacity.md)
EVENT_FACTOR = 4.0  # the event's traffic / normal
EVENT_FILE = REPO_ROOT / ".cache" / "test-results" / "event-prod.json"  # written by tests/live/test_event.py
BENCH_FILES = (REPO_ROOT / ".cache" / "bench.json", REPO_ROOT / "docs" / "bench.json")
DEFAULT_POD_RPS = 80.0  # without bench figures: what base/hpa.yaml assumes a pod sustains
# What else every node runs, an estimate (not in git: chart defaults): the DaemonSets (aws-node, kube-proxy,
# prometheus-node-exporter) and a share of the cluster add-ons (Argo CD, Crossplane, Prometheus, ...).
SYSTEM_PODS_PER_NODE = 3
SYSTEM_CPU_PER_NODE = 0.25  # cores
SYSTEM_MIB_PER_NODE = 512
# fmt: off
# RDS instance classes: memory in GiB (Amazon RDS "DB instance classes", hardware specifications table).
RDS_MEMORY_GIB = {
    "db.t4g.micro": 1, "db.t4g.small": 2, "db.t4g.medium": 4, "db.t4g.large": 8,
    "db.m7g.large": 8, "db.m7g.xlarge": 16, "db.m6g.large": 8, "db.r7g.large": 16,
}
# fmt: on


@dataclass(frozen=True)
class Hpa:
    min_replicas: int
    max_replicas: int
    rps_target: float | None  # the Pods metric, requests/s per pod
    cpu_target: float | None  # CPU utilization of the request, percent


@dataclass(frozen=True)
class NodeGroup:
    name: str
    zones: tuple[str, ...]
    instance_type: str
    min_size: int
    max_size: int


@dataclass(frozen=True)
class Prod:
    hpa: Hpa
    cpu_request: float  # cores
    cpu_limit: float
    memory_request: int  # MiB
    max_surge: int  # pods above maxReplicas during a rollout
    zone_max_skew: int | None  # hard zone spread, None when ScheduleAnyway
    node_groups: tuple[NodeGroup, ...]
    db_instance_class: str


def _cores(value: str | int | float) -> float:
    return int(str(value)[:-1]) / 1000 if str(value).endswith("m") else float(value)


def _mib(value: str) -> int:
    factor = {"Ki": 1 / 1024, "Mi": 1, "Gi": 1024}.get(value[-2:])
    return math.ceil(float(value[:-2]) * factor) if factor else math.ceil(int(value) / 2**20)


def parse_hpa(doc: Document) -> Hpa:
    spec, targets = doc["spec"], {"Pods": None, "cpu": None}
    for metric in spec.get("metrics", []):
        if metric["type"] == "Pods":
            targets["Pods"] = _cores(metric["pods"]["target"]["averageValue"])
        elif metric["type"] == "Resource" and metric["resource"]["name"] == "cpu":
            targets["cpu"] = float(metric["resource"]["target"]["averageUtilization"])
        else:
            raise ValueError(f"metric tools/capacity.py does not know: {metric}")
    return Hpa(int(spec.get("minReplicas", 1)), int(spec["maxReplicas"]), targets["Pods"], targets["cpu"])


def load_prod(root: Path = REPO_ROOT) -> Prod:
    """prod's settings, from the rendered overlay and clusters/prod/eksctl.yaml under `root`."""
    from tools.render import is_claim, render_settled

    app = kustomize_overlay("prod", root)
    named = {(doc["kind"], doc["metadata"]["name"]): doc for doc in app}
    hpa = parse_hpa(named["HorizontalPodAutoscaler", "notejam"])
    deployment = named["Deployment", "notejam"]["spec"]
    pod = deployment["template"]["spec"]
    surge = str(deployment["strategy"]["rollingUpdate"]["maxSurge"])
    spread = [c for c in pod.get("topologySpreadConstraints", []) if c["whenUnsatisfiable"] == "DoNotSchedule"]
    skews = [int(c["maxSkew"]) for c in spread if c["topologyKey"] == "topology.kubernetes.io/zone"]
    claim = next(doc for doc in app if is_claim(doc) and doc["kind"] == "PostgreSQLInstance")
    rds = next(r for r in render_settled(claim).resources if r["kind"] == "Instance")
    eksctl = yaml.safe_load((root / "clusters" / "prod" / "eksctl.yaml").read_text())
    groups = []
    for group in eksctl["managedNodeGroups"]:
        zones = tuple(group.get("availabilityZones") or eksctl["availabilityZones"])
        sizes = int(group["minSize"]), int(group["maxSize"])
        groups.append(NodeGroup(group["name"], zones, group["instanceType"], *sizes))
    resources = pod["containers"][0]["resources"]
    return Prod(
        hpa=hpa,
        cpu_request=_cores(resources["requests"]["cpu"]),
        cpu_limit=_cores(resources["limits"]["cpu"]),
        memory_request=_mib(resources["requests"]["memory"]),
        max_surge=math.ceil(hpa.max_replicas * int(surge[:-1]) / 100) if surge.endswith("%") else int(surge),
        zone_max_skew=skews[0] if skews else None,
        node_groups=tuple(groups),
        db_instance_class=rds["spec"]["forProvider"]["instanceClass"],
    )


def find_bench() -> Path | None:
    """.cache/bench.json (a fresh `make bench`), else the committed docs/bench.json, else None."""
    return next((path for path in BENCH_FILES if path.is_file()), None)


def cpu_ms_per_request(bench: Path | None, cpu_request: float) -> tuple[float, str]:
    """CPU ms per request of the list, pad and note pages (an equal mix) from bench JSON, and where that comes from;
    without bench JSON, DEFAULT_POD_RPS at the CPU request."""
    if bench is None or not bench.is_file():
        return cpu_request * 1000 / DEFAULT_POD_RPS, f"default: {DEFAULT_POD_RPS:g} req/s per pod at its CPU request"
    pages = json.loads(bench.read_text())["apps"]["head"]["pages"].values()
    values = [page["peak"]["cpu_ms_per_request"] for page in pages]
    path = bench.resolve()
    return sum(values) / len(values), str(path.relative_to(REPO_ROOT) if path.is_relative_to(REPO_ROOT) else path)


def replicas_needed(prod: Prod, offered_rps: float, cpu_ms: float) -> int:
    """The replicas `offered_rps` needs by the HPA's own targets: every metric at most at its target per pod, and at
    least minReplicas; not capped at maxReplicas. This is what the targets mean, not the controller's algorithm (no
    tolerance, windows or policies): tests/live/test_event.py runs the real controller."""
    hpa, needed = prod.hpa, [prod.hpa.min_replicas]
    if hpa.rps_target:
        needed.append(offered_rps / hpa.rps_target)
    if hpa.cpu_target:  # CPU ms per second of a pod at the target: target% of its CPU request
        needed.append(offered_rps * cpu_ms / (hpa.cpu_target / 100 * prod.cpu_request * 1000))
    return max(math.ceil(round(value, 9)) for value in needed)  # round: 200 / 20 is 10, not 10.000000001


def degrade_millicores(prod: Prod) -> int:
    """CPU per pod above which latency degrades: the pod's CPU request, all it is guaranteed on a full node (bench's
    p99 figures were measured within it)."""
    return round(prod.cpu_request * 1000)


def node_allocatable(instance_type: str) -> tuple[float, int, int]:
    """(cores, MiB, pods) a node offers pods: capacity minus the EKS AMI's kube-reserved and eviction threshold
    (amazon-eks-ami: CPU 6% of the first core, 1% of the second, 0.5% of cores 3-4, 0.25% above; memory
    11 MiB per pod + 255 MiB; evictionHard memory.available 100Mi)."""
    if instance_type not in INSTANCE_TYPES:
        raise ValueError(f"instance type {instance_type} is not in tools/repository.INSTANCE_TYPES: add it")
    cpus, mib, pods = INSTANCE_TYPES[instance_type]
    shares = [0.06, 0.01, 0.005, 0.005] + [0.0025] * max(cpus - 4, 0)
    return cpus - sum(shares[:cpus]), mib - (255 + 11 * pods) - 100, pods


def web_pods_per_node(instance_type: str, prod: Prod) -> int:
    """Notejam pods that fit on one node next to what every node runs (SYSTEM_*), by CPU, memory and pod slots."""
    cores, mib, pods = node_allocatable(instance_type)
    by_cpu = int((cores - SYSTEM_CPU_PER_NODE) // prod.cpu_request)
    by_memory = int((mib - SYSTEM_MIB_PER_NODE) // prod.memory_request)
    return max(min(by_cpu, by_memory, pods - SYSTEM_PODS_PER_NODE), 0)


def _nodes_for(pods: int, groups: list[tuple[int, int]]) -> float:
    """Nodes that hold `pods` in groups of (web pods per node, max nodes), roomiest first; beyond their max, as many
    more of the roomiest as it would take (inf if no pod fits on any)."""
    nodes = 0
    for fit, max_nodes in sorted(groups, reverse=True):
        take = min(max_nodes, math.ceil(pods / fit)) if fit else 0
        nodes, pods = nodes + take, max(pods - take * fit, 0)
    if not pods:
        return nodes
    best = max(fit for fit, _ in groups)
    return nodes + math.ceil(pods / best) if best else math.inf


def check_nodes(prod: Prod) -> tuple[bool, list[str]]:
    """maxReplicas + surge pods fit in the node groups at maxSize; with a hard zone spread, ceil(pods / zones) of them
    in each zone's groups."""
    pods, groups = prod.hpa.max_replicas + prod.max_surge, prod.node_groups
    fit = {group.instance_type: web_pods_per_node(group.instance_type, prod) for group in groups}
    lines = [
        f"pods: {prod.hpa.max_replicas} maxReplicas + {prod.max_surge} maxSurge = {pods}, each requesting "
        f"{prod.cpu_request:g} CPU and {prod.memory_request} MiB (overlays/prod: HPA, Deployment)",
        "node groups (clusters/prod/eksctl.yaml): "
        + ", ".join(f"{g.name} {g.instance_type} in {'/'.join(g.zones)}, {g.min_size}-{g.max_size}" for g in groups),
    ]
    for kind, count in fit.items():
        cores, mib, slots = node_allocatable(kind)
        lines.append(
            f"per {kind}: {cores:.2f} CPU, {mib} MiB, {slots} pods allocatable, less {SYSTEM_CPU_PER_NODE:g} CPU, "
            f"{SYSTEM_MIB_PER_NODE} MiB, {SYSTEM_PODS_PER_NODE} pods for the system (SYSTEM_*): {count} web pods"
        )
    places: dict[str, list[tuple[int, int]]] = {}  # where pods must fit: (web pods per node, max nodes) of each group
    for group in groups:
        for index, zone in enumerate(group.zones):  # a group's maxSize split evenly: its Auto Scaling group balances
            share = group.max_size // len(group.zones) + (index < group.max_size % len(group.zones))
            places.setdefault(zone if prod.zone_max_skew else "any zone", []).append((fit[group.instance_type], share))
    per_place = math.ceil(pods / len(places))
    if prod.zone_max_skew:
        lines.append(f"zone spread: maxSkew {prod.zone_max_skew}, DoNotSchedule: {per_place} pods in each zone")
    ok, needed = True, 0.0
    for place, room in sorted(places.items()):
        here, available = _nodes_for(per_place, room), sum(nodes for _, nodes in room)
        ok, needed = ok and here <= available, needed + here
        lines.append(f"{place}: {per_place} pods need {here:g} nodes of {available} at maxSize")
    lines.append(f"nodes: {needed:g} needed, {sum(g.max_size for g in groups)} available: {'OK' if ok else 'FAIL'}")
    return ok, lines


def rds_max_connections(instance_class: str) -> int:
    """RDS for PostgreSQL's default: LEAST({DBInstanceClassMemory/9531392}, 5000) (Amazon RDS user guide, "Maximum
    number of database connections"). DBInstanceClassMemory is a little below the nominal memory, so this is an
    upper bound of the real limit."""
    if instance_class not in RDS_MEMORY_GIB:
        raise ValueError(f"RDS class {instance_class} is not in tools/capacity.py's RDS_MEMORY_GIB: add it")
    return min(RDS_MEMORY_GIB[instance_class] * 2**30 // 9531392, 5000)


def database_connections(prod: Prod, workers: dict[str, Any]) -> int:
    """All connections prod's pods may hold at once: pods (maxReplicas + rollout surge) x workers x the connections
    one worker can use (threads, at most pool size + overflow; make_engine's settings)."""
    from notejam.database import make_engine

    engine = make_engine("postgresql+psycopg2://capacity@127.0.0.1/capacity")  # never connects
    pool = engine.pool.size() + engine.pool._max_overflow  # type: ignore[attr-defined]
    engine.dispose()
    per_worker = min(int(workers["threads"]), pool) if workers["worker_class"] != "sync" else pool
    return (prod.hpa.max_replicas + prod.max_surge) * int(workers["workers"]) * per_worker


def check_database(prod: Prod, workers: dict[str, Any]) -> tuple[bool, str]:
    """The connections all pods may open stay under the RDS instance class's max_connections."""
    connections, limit = database_connections(prod, workers), rds_max_connections(prod.db_instance_class)
    ok = connections <= limit
    return ok, (
        f"{connections} connections at most ({prod.hpa.max_replicas}+{prod.max_surge} pods x {workers['workers']} "
        f"{workers['worker_class']} workers x pool) vs max_connections {limit} of {prod.db_instance_class} "
        f"(the claim in overlays/prod): {'OK' if ok else 'FAIL'}"
    )


def _series(event: dict[str, Any], key: str) -> list[float]:
    return [math.nan if sample.get(key) is None else float(sample[key]) for sample in event["samples"]]


def _peak(event: dict[str, Any], key: str) -> float:
    return max((value for value in _series(event, key) if not math.isnan(value)), default=math.nan)


def read_event(path: Path, prod: Prod, needed: int, factor: float = EVENT_FACTOR) -> dict[str, Any]:
    """The live run's JSON, its nulls replaced by prod's values (and the event's `needed` replicas)."""
    recorded = {key: value for key, value in json.loads(path.read_text()).items() if value is not None}
    defaults = {"factor": factor, "time_scale": "?", "phases": {}, "samples": [], "replicas_needed": needed}
    defaults |= {"min_replicas": prod.hpa.min_replicas, "max_replicas": prod.hpa.max_replicas}
    return defaults | {"degrade_millicores": degrade_millicores(prod)} | recorded


def summarize_event(event: dict[str, Any]) -> list[str]:
    """Peak replicas, time into the event until the replicas needed, the highest CPU per pod vs the degrade point
    (`event` as read_event returns it)."""
    needed, start = event["replicas_needed"], event["phases"].get("event_start")
    since = "into the event" if start is not None else "into the run (no event_start recorded)"
    start = start or 0.0
    lines = [f"peak: {_peak(event, 'replicas'):g} replicas, {_peak(event, 'ready'):g} ready; {needed} needed"]
    for key, what in (("replicas", "replicas"), ("ready", "ready pods")):
        pairs = zip(_series(event, "t"), _series(event, key), strict=True)
        reached = next((t - start for t, value in pairs if t >= start and value >= needed), None)
        lines.append(f"{needed} {what} " + (f"{reached:.0f} s {since}" if reached is not None else "never"))
    peak, degrade = _peak(event, "cpu_millicores_per_pod"), event["degrade_millicores"]
    verdict = "above: latency degrades" if peak > degrade else "within"
    lines.append(f"highest mean CPU per pod {peak:.0f} millicores, degrade point {degrade} ({verdict})")
    return lines


def plot_event(event: dict[str, Any], path: Path) -> None:
    """Offered requests/s, the Deployment's replicas and ready pods, mean CPU per pod, over the live run's seconds
    (`event` as read_event returns it)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    times = _series(event, "t")
    figure, (load, pods, cpu) = plt.subplots(3, 1, figsize=(10, 8), sharex=True)
    figure.suptitle(
        f"prod's x{event['factor']:g} event on the real HPA controller (kube-controller-manager, metrics-server) on\n"
        f"the local control plane, with the HPA's time fields divided by time_scale = {event['time_scale']}"
    )
    load.plot(times, _series(event, "offered_rps"), color="tab:blue")
    load.set_ylabel("offered requests/s")
    pods.step(times, _series(event, "replicas"), where="post", label="replicas (Deployment spec)")
    pods.step(times, _series(event, "ready"), where="post", label="ready pods")
    for key, style, label in (("min_replicas", ":", "minReplicas"), ("max_replicas", "--", "maxReplicas")):
        if event.get(key) is not None:
            pods.axhline(event[key], color="grey", linestyle=style, label=f"{label} {event[key]}")
    if event.get("replicas_needed") is not None:
        pods.axhline(
            event["replicas_needed"],
            color="tab:green",
            linestyle="-.",
            label=f"replicas needed {event['replicas_needed']}",
        )
    pods.set_ylabel("pods")
    pods.set_ylim(bottom=0)
    cpu.plot(times, _series(event, "cpu_millicores_per_pod"), color="tab:red", label="mean CPU per pod")
    if event.get("degrade_millicores") is not None:
        cpu.axhline(event["degrade_millicores"], color="grey", linestyle="--", label="degrade point (CPU request)")
    cpu.set_ylabel("millicores")
    cpu.set_ylim(bottom=0)
    cpu.set_xlabel("seconds of the run")
    start, end = event["phases"].get("event_start"), event["phases"].get("event_end")
    if start is not None and end is not None:  # the event, shaded
        for axis in (load, pods, cpu):
            axis.axvspan(start, end, color="tab:orange", alpha=0.1)
    pods.legend(loc="lower center", ncol=3, fontsize="small")
    cpu.legend(loc="upper left", fontsize="small")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=72, metadata={"Software": None})  # no version string: the PNG only changes with figures
    plt.close(figure)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.capacity", description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=REPO_ROOT, help="repository to read prod from (default: this)")
    parser.add_argument("--bench", type=Path, help="bench JSON (default: .cache/bench.json, else docs/bench.json)")
    parser.add_argument("--normal-rps", type=float, default=NORMAL_RPS, help=f"default {NORMAL_RPS:g}")
    parser.add_argument("--event-factor", type=float, default=EVENT_FACTOR, help=f"default {EVENT_FACTOR:g}")
    parser.add_argument("--event", type=Path, default=EVENT_FILE, help="the live run's JSON (tests/live/test_event.py)")
    parser.add_argument("--plot", type=Path, help="draw the live run into this PNG")
    args = parser.parse_args(argv)

    prod = load_prod(args.root)
    hpa = prod.hpa
    cpu_ms, source = cpu_ms_per_request(args.bench or find_bench(), prod.cpu_request)
    offered = args.normal_rps * args.event_factor
    needed = replicas_needed(prod, offered, cpu_ms)
    print(
        f"prod: HPA {hpa.min_replicas}-{hpa.max_replicas} pods, targets {hpa.rps_target} req/s, {hpa.cpu_target}% CPU"
    )
    within = "within" if needed <= hpa.max_replicas else "ABOVE"
    print(
        f"the event: {args.normal_rps:g} req/s x {args.event_factor:g} = {offered:g} req/s at {cpu_ms:.2f} CPU ms per "
        f"request ({source}) needs {needed} replicas by the HPA's targets ({within} maxReplicas {hpa.max_replicas}); "
        f"latency degrades above {degrade_millicores(prod)} millicores per pod (its CPU request)"
    )
    print("nodes, a closed-form check: the cluster autoscaler cannot run here (the Go module proxy refuses")
    print("  k8s.io/autoscaler/cluster-autoscaler), so no scale-up is simulated, only whether maxSize has the room:")
    nodes_ok, lines = check_nodes(prod)
    print("\n".join(f"  {line}" for line in lines))
    database_ok, line = check_database(prod, resolve(math.ceil(prod.cpu_limit), args.root / "src"))
    print(f"database: {line}")

    if args.event.is_file():
        event = read_event(args.event, prod, needed, args.event_factor)
        print(f"live run ({args.event}, the real HPA controller, time_scale {event['time_scale']}):")
        print("\n".join(f"  {line}" for line in summarize_event(event)))
        if args.plot:
            plot_event(event, args.plot)
            print(f"plot written to {args.plot}")
    else:
        skipped = f" ({args.plot} not drawn)" if args.plot else ""
        print(f"no live run at {args.event}{skipped}: run `make test` or `python -m pytest tests/live/test_event.py`")

    failures = [name for name, ok in (("nodes", nodes_ok), ("database", database_ok)) if not ok]
    print(f"FAIL: {', '.join(failures)}" if failures else "prod passes the closed-form checks (nodes, database)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
