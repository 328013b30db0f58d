"""Can prod carry a 4x event? A day of traffic through prod's HPA, cluster autoscaler and database (`make capacity`).

Every setting comes from what prod runs: the HPA, Deployment and database claim rendered from `overlays/prod`
(`tools.manifests.render_overlay`, the RDS instance class through our composition function), the autoscaler's
arguments and prometheus-adapter's rate window from `clusters/prod`, the node groups from clusters/prod/eksctl.yaml,
gunicorn's workers from notejam.gunicorn_conf for the pod's CPU limit, the pool from notejam.database.make_engine.
Per-pod capacity comes from `make bench` (CPU milliseconds per request of the list, pad and note pages).

The models, step by step (5 s):
- HPA (kube-controller-manager, every 15 s): per metric, ratio = current/target over ready pods, unready pods count as
  0 on a scale-up, no change within the tolerance (0.1 or `behavior.*.tolerance`), else ceil(ratio x pods); the
  highest metric wins; then the stabilization windows (max recommendation of the down window, min of the up window)
  and the scale-up/scale-down policies with their periods and selectPolicy, as in the controller's
  normalizeDesiredReplicasWithBehaviors; then min/max replicas. The request-rate metric is a rate over the adapter's
  window, CPU utilization is averaged over metrics-server's 15 s resolution.
- Scheduler: a pod needs its CPU and memory requests on a Ready node; prod's hard zone spread (maxSkew) is honoured.
- Cluster autoscaler (every scan interval, 10 s by default): pending pods add nodes in their zone's node group up to
  its maxSize, Ready after `--node-startup` seconds; a node unneeded for scale-down-unneeded-time is removed.
- Latency: each ready pod is an M/M/1 queue served at its CPU request (the CPU it is guaranteed), so a request takes
  longer than the target with probability exp(-(mu - lambda) x target); an overloaded pod (lambda >= mu) misses it
  for every request.

Prod carries the event when: at most 1% of the event's requests miss the latency target (the p99 target), every pod
the HPA asks for during the event is Ready within `--settle` of its start and the HPA does not ask for more than
maxReplicas (its target per pod is the headroom the team designed for spikes), and the database connections that
all pods may open at once (pods during a rollout x workers x threads x pool size + overflow) stay under the RDS
instance class's max_connections. Exit status 1 otherwise.

    python -m tools.capacity --help
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tools.gunicorn_settings import resolve
from tools.manifests import REPO_ROOT, Document, render, render_overlay

STEP = 5  # seconds per simulation step
HPA_SYNC_PERIOD = 15  # kube-controller-manager --horizontal-pod-autoscaler-sync-period default
HPA_TOLERANCE = 0.1  # --horizontal-pod-autoscaler-tolerance default
CPU_METRIC_WINDOW = 15  # metrics-server --metric-resolution default
# Cluster autoscaler defaults (its FAQ, "What are the parameters to CA?"), unless the Application's extraArgs set them.
CA_DEFAULTS = {"scan-interval": "10s", "scale-down-unneeded-time": "10m", "scale-down-delay-after-add": "10m"}
LATENCY_TARGET_MS = 100  # issue 12: p99 under 100 ms
MAX_SHARE_OVER_TARGET = 0.01  # a p99 target: at most 1% of requests over it
# Without bench figures: a pod sustains 80 req/s, what base/hpa.yaml assumes ("20/s is about a quarter of what a
# pod sustains before latency climbs").
DEFAULT_POD_RPS = 80.0
# What else every node runs, an estimate (not in git: chart defaults): the DaemonSets (aws-node, kube-proxy,
# prometheus-node-exporter) and a share of the cluster add-ons (Argo CD, Crossplane, Prometheus, ...).
SYSTEM_PODS_PER_NODE = 3
SYSTEM_CPU_PER_NODE = 0.25  # cores
SYSTEM_MIB_PER_NODE = 512
BENCH_FILES = (REPO_ROOT / ".cache" / "bench.json", REPO_ROOT / "docs" / "bench.json")

# EC2 instance types: vCPUs and memory (AWS EC2 "Instance types" pages), and the pods the VPC CNI allows
# (amazon-eks-ami's eni-max-pods.txt: ENIs x (IPv4 per ENI - 1) + 2).
INSTANCE_TYPES: dict[str, tuple[int, int, int]] = {  # name: (vCPUs, MiB, max pods)
    "t3.small": (2, 2048, 11),
    "t3.medium": (2, 4096, 17),
    "t3.large": (2, 8192, 35),
    "m5.large": (2, 8192, 29),
    "m6i.large": (2, 8192, 29),
    "m6i.xlarge": (4, 16384, 58),
    "m7i.large": (2, 8192, 29),
    "c6i.large": (2, 4096, 29),
}
# RDS instance classes: memory in GiB (Amazon RDS "DB instance classes", hardware specifications table).
RDS_MEMORY_GIB = {
    "db.t4g.micro": 1,
    "db.t4g.small": 2,
    "db.t4g.medium": 4,
    "db.t4g.large": 8,
    "db.m7g.large": 8,
    "db.m7g.xlarge": 16,
    "db.m6g.large": 8,
    "db.r7g.large": 16,
}


# -- what prod runs ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScalingRules:
    window: int
    select: str
    policies: tuple[tuple[str, int, int], ...]  # (type, value, periodSeconds)
    tolerance: float


@dataclass(frozen=True)
class Hpa:
    min_replicas: int
    max_replicas: int
    rps_target: float | None  # the Pods metric, requests/s per pod
    cpu_target: float | None  # CPU utilization of the request, percent
    up: ScalingRules
    down: ScalingRules


@dataclass(frozen=True)
class NodeGroup:
    name: str
    zones: tuple[str, ...]
    instance_type: str
    min_size: int
    max_size: int
    desired: int


@dataclass(frozen=True)
class Prod:
    hpa: Hpa
    cpu_request: float  # cores
    cpu_limit: float
    memory_request: int  # MiB
    max_surge: int  # pods above max during a rollout
    zone_max_skew: int | None  # hard zone spread, None when ScheduleAnyway
    node_groups: tuple[NodeGroup, ...]
    autoscaler: dict[str, int]  # seconds
    rate_window: int  # seconds of prometheus-adapter's rate()
    db_instance_class: str


def _quantity_cores(value: str | int | float) -> float:
    text = str(value)
    return int(text[:-1]) / 1000 if text.endswith("m") else float(text)


def _quantity_mib(value: str) -> int:
    units = {"Ki": 1 / 1024, "Mi": 1, "Gi": 1024}
    for suffix, factor in units.items():
        if value.endswith(suffix):
            return math.ceil(float(value[: -len(suffix)]) * factor)
    return math.ceil(int(value) / 2**20)


def _seconds(value: str) -> int:
    match = re.fullmatch(r"(\d+)([smh])", value)
    if not match:
        raise ValueError(f"not a duration: {value!r}")
    return int(match[1]) * {"s": 1, "m": 60, "h": 3600}[match[2]]


def _rules(behavior: dict[str, Any], direction: str, default_window: int) -> ScalingRules:
    rules = behavior.get(direction) or {}
    policies = tuple((p["type"], int(p["value"]), int(p["periodSeconds"])) for p in rules.get("policies", []))
    return ScalingRules(
        window=int(rules.get("stabilizationWindowSeconds", default_window)),
        select=rules.get("selectPolicy", "Max"),
        policies=policies,
        tolerance=float(rules.get("tolerance", HPA_TOLERANCE)),
    )


def parse_hpa(doc: Document) -> Hpa:
    spec = doc["spec"]
    rps_target = cpu_target = None
    for metric in spec.get("metrics", []):
        if metric["type"] == "Pods":
            rps_target = _quantity_cores(metric["pods"]["target"]["averageValue"])
        elif metric["type"] == "Resource" and metric["resource"]["name"] == "cpu":
            cpu_target = float(metric["resource"]["target"]["averageUtilization"])
        else:
            raise ValueError(f"metric the simulation does not know: {metric}")
    behavior = spec.get("behavior") or {}
    return Hpa(
        min_replicas=int(spec.get("minReplicas", 1)),
        max_replicas=int(spec["maxReplicas"]),
        rps_target=rps_target,
        cpu_target=cpu_target,
        up=_rules(behavior, "scaleUp", 0),
        down=_rules(behavior, "scaleDown", 300),
    )


def _one(docs: list[Document], kind: str, name: str) -> Document:
    found = [d for d in docs if d.get("kind") == kind and d["metadata"]["name"] == name]
    if len(found) != 1:
        raise ValueError(f"expected one {kind} {name}, found {len(found)}")
    return found[0]


def load_prod(root: Path = REPO_ROOT) -> Prod:
    """prod's settings, from the rendered overlay, the rendered cluster and its eksctl config under `root`."""
    from tools.render import is_claim, render_settled

    app = render_overlay("prod", root)
    hpa = parse_hpa(_one(app, "HorizontalPodAutoscaler", "notejam"))
    deployment = _one(app, "Deployment", "notejam")["spec"]
    container = deployment["template"]["spec"]["containers"][0]
    surge = str(deployment["strategy"]["rollingUpdate"]["maxSurge"])
    max_surge = math.ceil(hpa.max_replicas * int(surge[:-1]) / 100) if surge.endswith("%") else int(surge)
    skew = None
    for constraint in deployment["template"]["spec"].get("topologySpreadConstraints", []):
        if (
            constraint["topologyKey"] == "topology.kubernetes.io/zone"
            and constraint["whenUnsatisfiable"] == "DoNotSchedule"
        ):
            skew = int(constraint["maxSkew"])
    claim = next(doc for doc in app if is_claim(doc) and doc["kind"] == "PostgreSQLInstance")
    rds = next(r for r in render_settled(claim).resources if r["kind"] == "Instance")

    cluster = render(root / "clusters" / "prod")
    args = dict(CA_DEFAULTS)
    rate_window = None
    for doc in cluster:
        values = (((doc.get("spec") or {}).get("source") or {}).get("helm") or {}).get("valuesObject") or {}
        if doc.get("kind") == "Application" and doc["metadata"]["name"] == "cluster-autoscaler":
            args |= {key: str(value) for key, value in (values.get("extraArgs") or {}).items()}
        found = re.search(r"rate\(<<\.Series>>\{<<\.LabelMatchers>>\}\[(\w+)\]\)", json.dumps(values))
        if found:
            rate_window = _seconds(found[1])
    if rate_window is None:
        raise ValueError("no prometheus-adapter rate() rule found in clusters/prod")

    eksctl = yaml.safe_load((root / "clusters" / "prod" / "eksctl.yaml").read_text())
    groups = tuple(
        NodeGroup(
            name=group["name"],
            zones=tuple(group.get("availabilityZones") or eksctl["availabilityZones"]),
            instance_type=group["instanceType"],
            min_size=int(group["minSize"]),
            max_size=int(group["maxSize"]),
            desired=int(group.get("desiredCapacity", group["minSize"])),
        )
        for group in eksctl["managedNodeGroups"]
    )
    return Prod(
        hpa=hpa,
        cpu_request=_quantity_cores(container["resources"]["requests"]["cpu"]),
        cpu_limit=_quantity_cores(container["resources"]["limits"]["cpu"]),
        memory_request=_quantity_mib(container["resources"]["requests"]["memory"]),
        max_surge=max_surge,
        zone_max_skew=skew,
        node_groups=groups,
        autoscaler={key: _seconds(args[key]) for key in CA_DEFAULTS},
        rate_window=rate_window,
        db_instance_class=rds["spec"]["forProvider"]["instanceClass"],
    )


def node_allocatable(instance_type: str) -> tuple[float, int, int]:
    """(cores, MiB, pods) a node offers pods: capacity minus the EKS AMI's kube-reserved and eviction threshold
    (amazon-eks-ami: CPU 6% of the first core, 1% of the second, 0.5% of cores 3-4, 0.25% above; memory
    11 MiB per pod + 255 MiB; evictionHard memory.available 100Mi)."""
    if instance_type not in INSTANCE_TYPES:
        raise ValueError(f"instance type {instance_type} is not in tools/capacity.py's INSTANCE_TYPES: add it")
    cpus, mib, pods = INSTANCE_TYPES[instance_type]
    shares = [0.06, 0.01, 0.005, 0.005] + [0.0025] * max(cpus - 4, 0)
    reserved_cpu = sum(shares[:cpus])
    return cpus - reserved_cpu, mib - (255 + 11 * pods) - 100, pods


def web_pods_per_node(instance_type: str, prod: Prod) -> int:
    """Notejam pods that fit on one node next to what every node runs (SYSTEM_*), by CPU, memory and pod slots."""
    cores, mib, pods = node_allocatable(instance_type)
    return max(
        min(
            int((cores - SYSTEM_CPU_PER_NODE) // prod.cpu_request),
            int((mib - SYSTEM_MIB_PER_NODE) // prod.memory_request),
            pods - SYSTEM_PODS_PER_NODE,
        ),
        0,
    )


def rds_max_connections(instance_class: str) -> int:
    """RDS for PostgreSQL's default: LEAST({DBInstanceClassMemory/9531392}, 5000) (Amazon RDS user guide, "Maximum
    number of database connections"). DBInstanceClassMemory is a little below the nominal memory, so this is an
    upper bound of the real limit."""
    if instance_class not in RDS_MEMORY_GIB:
        raise ValueError(f"RDS class {instance_class} is not in tools/capacity.py's RDS_MEMORY_GIB: add it")
    return min(RDS_MEMORY_GIB[instance_class] * 2**30 // 9531392, 5000)


# -- inputs ---------------------------------------------------------------------------------------------------------


def cpu_ms_per_request(bench: Path | None, cpu_request: float) -> tuple[float, str]:
    """CPU per request of the list, pad and note pages (equal mix) from bench JSON, or the documented default."""
    if bench is not None and bench.is_file():
        figures = json.loads(bench.read_text())
        pages = figures["apps"]["head"]["pages"].values()
        values = [page["peak"]["cpu_ms_per_request"] for page in pages]
        return sum(values) / len(values), f"{bench.name} ({bench.parent.name}/)"
    return cpu_request * 1000 / DEFAULT_POD_RPS, f"default: {DEFAULT_POD_RPS:g} req/s per pod at its CPU request"


def traffic(t: float, normal: float, event_start: int, event_minutes: int, ramp: int, factor: float) -> float:
    """Requests/s at second `t` of the day: 10% of `normal` at night, `normal` 09:00-17:00 (cosine ramps over the
    two hours before and after), times `factor` during the event (reached in `ramp` seconds)."""
    hour = t / 3600

    def ramp_up(start: float, length: float) -> float:
        x = min(max((hour - start) / length, 0.0), 1.0)
        return (1 - math.cos(math.pi * x)) / 2

    rate = normal * (0.1 + 0.9 * (ramp_up(7, 2) - ramp_up(17, 2)))
    into = t - event_start
    end = event_minutes * 60
    if 0 <= into < end + ramp:
        boost = min(into / ramp, 1.0) if into < end else max(1 - (into - end) / ramp, 0.0)
        rate *= 1 + (factor - 1) * boost
    return rate


# -- the simulation -------------------------------------------------------------------------------------------------


@dataclass
class Pod:
    zone: str | None = None  # None: pending
    ready_at: float = math.inf


@dataclass
class Node:
    ready_at: float
    group: NodeGroup
    zone: str


@dataclass
class HpaState:
    """The controller's memory for one HPA: recommendations and scale events with their times."""

    recommendations: list[tuple[float, int]] = field(default_factory=list)
    up_events: list[tuple[float, int]] = field(default_factory=list)
    down_events: list[tuple[float, int]] = field(default_factory=list)


def metric_replicas(usage_ratio: float, ready: int, unready: int, current: int, tolerance: float) -> int:
    """replica_calculator.go calcPlainMetricReplicas: unready pods count as 0 usage on a scale-up."""
    if unready == 0 or usage_ratio <= 1.0:
        if abs(1.0 - usage_ratio) <= tolerance:
            return current
        return math.ceil(usage_ratio * ready)
    new_ratio = usage_ratio * ready / (ready + unready)
    if abs(1.0 - new_ratio) <= tolerance or new_ratio < 1.0:
        return current
    return max(math.ceil(new_ratio * (ready + unready)), current)


def tolerance(hpa: Hpa, usage_ratio: float) -> float:
    """The scale-up tolerance above the target, the scale-down one below it (`behavior.*.tolerance`, else 10%)."""
    return hpa.up.tolerance if usage_ratio > 1.0 else hpa.down.tolerance


def _change_in_period(events: list[tuple[float, int]], now: float, period: int) -> int:
    return sum(change for when, change in events if when > now - period)


def normalize(hpa: Hpa, state: HpaState, now: float, current: int, desired: int) -> int:
    """horizontal.go normalizeDesiredReplicasWithBehaviors: stabilization windows, then the policies' rate limits."""
    up_rec = down_rec = desired
    for when, recommendation in state.recommendations:
        if when > now - hpa.up.window:
            up_rec = min(up_rec, recommendation)
        if when > now - hpa.down.window:
            down_rec = max(down_rec, recommendation)
    keep = max(hpa.up.window, hpa.down.window)
    state.recommendations = [(w, r) for w, r in state.recommendations if w > now - keep] + [(now, desired)]
    stabilized = min(max(current, up_rec), down_rec)

    if stabilized > current:
        limit = current
        if hpa.up.select != "Disabled":
            proposals = []
            for kind, value, period in hpa.up.policies:
                start = current - _change_in_period(state.up_events, now, period)
                start += _change_in_period(state.down_events, now, period)
                proposals.append(start + value if kind == "Pods" else math.ceil(start * (1 + value / 100)))
            limit = (min if hpa.up.select == "Min" else max)(proposals)
        return min(stabilized, max(limit, current), hpa.max_replicas)
    if stabilized < current:
        limit = current
        if hpa.down.select != "Disabled":
            proposals = []
            for kind, value, period in hpa.down.policies:
                start = current - _change_in_period(state.up_events, now, period)
                start += _change_in_period(state.down_events, now, period)
                proposals.append(start - value if kind == "Pods" else int(start * (1 - value / 100)))
            limit = (max if hpa.down.select == "Min" else min)(proposals)
        return max(stabilized, min(limit, current), hpa.min_replicas)
    return stabilized


@dataclass
class Result:
    times: list[float]
    rps: list[float]
    replicas: list[int]
    ready: list[int]
    nodes: list[int]
    over_target: list[float]  # share of the step's requests over the latency target
    wanted_beyond_max: int  # most replicas the metrics asked for above maxReplicas during the event
    unready_after_settle: int  # most pods not Ready, after the settle time, during the event
    event_share: float
    day_share: float
    db_connections: int
    db_max_connections: int
    pod_rps: float
    cpu_ms: float
    capacity_source: str
    workers: dict[str, Any]

    @property
    def failures(self) -> list[str]:
        found = []
        if self.event_share > MAX_SHARE_OVER_TARGET:
            found.append(f"{self.event_share:.2%} of the event's requests over {LATENCY_TARGET_MS} ms (at most 1%)")
        if self.wanted_beyond_max:
            found.append(f"the HPA asks for {self.wanted_beyond_max} pods more than maxReplicas during the event")
        if self.unready_after_settle:
            found.append(f"{self.unready_after_settle} pods the HPA wants are still not Ready (no node for them)")
        if self.db_connections > self.db_max_connections:
            found.append(
                f"{self.db_connections} possible database connections > max_connections {self.db_max_connections}"
            )
        return found


def simulate(
    prod: Prod,
    cpu_ms: float,
    normal: float,
    factor: float,
    event_start: int,
    event_minutes: int,
    ramp: int,
    pod_startup: int,
    node_startup: int,
    settle: int,
) -> Result:
    hpa = prod.hpa
    pod_rps = prod.cpu_request * 1000 / cpu_ms  # mu: requests/s a pod serves at its CPU request
    nodes: list[Node] = []
    for group in prod.node_groups:
        for index in range(group.desired):
            nodes.append(Node(ready_at=0, group=group, zone=group.zones[index % len(group.zones)]))
    per_node = {group.name: web_pods_per_node(group.instance_type, prod) for group in prod.node_groups}
    zones = sorted({zone for group in prod.node_groups for zone in group.zones})
    pods = [Pod() for _ in range(hpa.min_replicas)]

    def schedule(now: float, startup: float) -> None:
        """Pending pods go to a Ready node with room, honouring the hard zone spread."""
        for pod in pods:
            if pod.zone is not None:
                continue
            counts = {zone: sum(1 for p in pods if p.zone == zone) for zone in zones}
            room = {
                zone: sum(per_node[n.group.name] for n in nodes if n.zone == zone and n.ready_at <= now) - counts[zone]
                for zone in zones
            }
            lowest = min(counts.values())
            candidates = [
                zone
                for zone in zones
                if room[zone] > 0 and (prod.zone_max_skew is None or counts[zone] + 1 - lowest <= prod.zone_max_skew)
            ]
            if candidates:
                pod.zone = min(candidates, key=lambda zone: counts[zone])
                pod.ready_at = now + startup

    schedule(0, 0)  # the day starts with prod at rest: minReplicas pods Ready
    state = HpaState()
    history: deque[tuple[float, float, float]] = deque()  # (time, rps per ready pod, cpu utilization)
    last_scale_up = -math.inf
    unneeded_since: dict[str, float] = {}
    result = Result([], [], [], [], [], [], 0, 0, 0.0, 0.0, 0, 0, pod_rps, cpu_ms, "", {})
    event_requests = event_over = day_requests = day_over = 0.0
    event_end = event_start + event_minutes * 60 + ramp

    for step in range(0, 24 * 3600, STEP):
        now = float(step)
        schedule(now, pod_startup)
        ready = [p for p in pods if p.ready_at <= now]
        rps = traffic(now, normal, event_start, event_minutes, ramp, factor)
        per_pod = rps / max(len(ready), 1)
        over = 1.0 if per_pod >= pod_rps else math.exp(-(pod_rps - per_pod) * LATENCY_TARGET_MS / 1000)
        utilization = min(per_pod * cpu_ms / 1000, prod.cpu_limit) / prod.cpu_request * 100
        history.append((now, per_pod, utilization))
        while history and history[0][0] <= now - max(prod.rate_window, CPU_METRIC_WINDOW):
            history.popleft()

        # The HPA.
        if step % HPA_SYNC_PERIOD == 0 and ready:  # no ready pod, no metrics: the HPA does nothing
            current = len(pods)
            unready = len(pods) - len(ready)
            desired = 0
            if hpa.rps_target:
                window = [h[1] for h in history if h[0] > now - prod.rate_window]
                ratio = sum(window) / len(window) / hpa.rps_target
                desired = max(desired, metric_replicas(ratio, len(ready), unready, current, tolerance(hpa, ratio)))
            if hpa.cpu_target:
                window = [h[2] for h in history if h[0] > now - CPU_METRIC_WINDOW]
                ratio = sum(window) / len(window) / hpa.cpu_target
                desired = max(desired, metric_replicas(ratio, len(ready), unready, current, tolerance(hpa, ratio)))
            if event_start + settle <= now < event_end:  # once the autoscalers had their time
                result.wanted_beyond_max = max(result.wanted_beyond_max, desired - hpa.max_replicas)
            new = normalize(hpa, state, now, current, desired)
            if new > current:
                state.up_events.append((now, new - current))
                pods += [Pod() for _ in range(new - current)]
            elif new < current:
                state.down_events.append((now, current - new))
                for _ in range(current - new):  # the ReplicaSet removes unscheduled, then unready, then ready pods
                    pods.sort(key=lambda p: (p.zone is None, p.ready_at))
                    pods.pop()
        if event_start + settle <= now < event_end:
            result.unready_after_settle = max(result.unready_after_settle, len(pods) - len(ready))

        # The cluster autoscaler.
        if step % prod.autoscaler["scan-interval"] == 0:
            pending = sum(1 for p in pods if p.zone is None)
            if pending:
                # Where the pending pods will go (evenly over the zones, as the spread wants), and the nodes that
                # gives each zone's node group to add beyond the room it has or is already starting.
                wanted = {zone: sum(1 for p in pods if p.zone == zone) for zone in zones}
                for _ in range(pending):
                    wanted[min(zones, key=lambda zone: wanted[zone])] += 1
                for zone in zones:
                    capacity = sum(per_node[n.group.name] for n in nodes if n.zone == zone)
                    for group in (g for g in prod.node_groups if zone in g.zones):
                        while capacity < wanted[zone] and sum(1 for n in nodes if n.group is group) < group.max_size:
                            nodes.append(Node(ready_at=now + node_startup, group=group, zone=zone))
                            capacity += per_node[group.name]
                            last_scale_up = now
            elif now - last_scale_up >= prod.autoscaler["scale-down-delay-after-add"]:
                for zone in zones:
                    in_zone = [n for n in nodes if n.zone == zone]
                    needed = sum(1 for p in pods if p.zone == zone)
                    spare = sum(per_node[n.group.name] for n in in_zone[:-1]) >= needed if in_zone else False
                    group = in_zone[-1].group if in_zone else None
                    if spare and group and sum(1 for n in nodes if n.group is group) > group.min_size:
                        since = unneeded_since.setdefault(zone, now)
                        if now - since >= prod.autoscaler["scale-down-unneeded-time"]:
                            nodes.remove(in_zone[-1])
                            unneeded_since.pop(zone)
                    else:
                        unneeded_since.pop(zone, None)

        requests = rps * STEP
        day_requests += requests
        day_over += requests * over
        if event_start <= now < event_end:
            event_requests += requests
            event_over += requests * over
        result.times.append(now)
        result.rps.append(rps)
        result.replicas.append(len(pods))
        result.ready.append(len(ready))
        result.nodes.append(sum(1 for n in nodes if n.ready_at <= now))
        result.over_target.append(over)

    result.event_share = event_over / event_requests if event_requests else 0.0
    result.day_share = day_over / day_requests
    return result


def database_connections(prod: Prod, workers: dict[str, Any]) -> int:
    """All connections prod's pods may hold at once: pods (maxReplicas + rollout surge) x workers x the connections
    one worker can use (threads, at most pool size + overflow; make_engine's settings)."""
    from notejam.database import make_engine

    engine = make_engine("postgresql+psycopg2://capacity@127.0.0.1/capacity")  # never connects
    pool = engine.pool.size() + engine.pool._max_overflow  # type: ignore[attr-defined]
    engine.dispose()
    per_worker = min(int(workers["threads"]), pool) if workers["worker_class"] != "sync" else pool
    return (prod.hpa.max_replicas + prod.max_surge) * int(workers["workers"]) * per_worker


def plot(result: Result, prod: Prod, event: tuple[float, float], path: Path) -> None:
    """Three rows (traffic, pods and nodes, share over the latency target); left the day, right the event."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    hours = [t / 3600 for t in result.times]
    slow = [max(share * 100, 0.001) for share in result.over_target]
    figure, rows = plt.subplots(3, 2, figsize=(12, 8), sharex="col", sharey="row", width_ratios=(3, 2))
    figure.suptitle(
        f"prod through a 4x event: HPA {prod.hpa.min_replicas}-{prod.hpa.max_replicas} pods, "
        f"{result.pod_rps:.0f} req/s per pod at {prod.cpu_request:g} CPU ({result.capacity_source})"
    )
    for column, (left, right) in enumerate(((0, 24), (event[0] / 3600 - 0.25, event[1] / 3600 + 0.5))):
        load, fleet, latency = rows[0][column], rows[1][column], rows[2][column]
        load.plot(hours, result.rps, color="tab:blue")
        fleet.step(hours, result.replicas, where="post", label="pods (HPA)")
        fleet.step(hours, result.ready, where="post", label="pods Ready")
        fleet.step(hours, result.nodes, where="post", label="nodes Ready")
        fleet.axhline(prod.hpa.max_replicas, color="grey", linestyle=":", label="maxReplicas")
        latency.plot(hours, slow, color="tab:red")
        latency.axhline(MAX_SHARE_OVER_TARGET * 100, color="grey", linestyle=":", label="1% (the p99 target)")
        latency.set_yscale("log")
        latency.set_xlim(left, right)
        latency.set_xlabel("hour of the day (UTC)" if column == 0 else "the event (hours, UTC)")
    rows[0][0].set_ylabel("requests/s")
    rows[1][0].set_ylabel("count")
    rows[2][0].set_ylabel(f"% of requests over {LATENCY_TARGET_MS} ms")
    rows[1][0].legend(loc="upper left")
    rows[2][0].legend(loc="upper left")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=72, metadata={"Software": None})  # no version string: the PNG only changes with figures
    plt.close(figure)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.capacity", description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=REPO_ROOT, help="repository to read prod from (default: this)")
    parser.add_argument("--bench", type=Path, help="bench JSON (default: .cache/bench.json, else docs/bench.json)")
    parser.add_argument("--no-bench", action="store_true", help=f"use the default {DEFAULT_POD_RPS:g} req/s per pod")
    parser.add_argument("--normal-rps", type=float, default=50.0, help="business-hours requests/s (default 50)")
    parser.add_argument("--event-factor", type=float, default=4.0, help="event traffic / normal (default 4)")
    parser.add_argument("--event-start", default="14:00", help="UTC hour:minute (default 14:00)")
    parser.add_argument("--event-minutes", type=int, default=60, help="default 60")
    parser.add_argument("--event-ramp", type=int, default=120, help="seconds to reach the event's rate (default 120)")
    parser.add_argument("--pod-startup", type=int, default=20, help="seconds from scheduled to Ready (default 20)")
    parser.add_argument("--node-startup", type=int, default=180, help="seconds from scale-up to Ready (default 180)")
    parser.add_argument("--settle", type=int, default=600, help="seconds the autoscalers get (default 600)")
    parser.add_argument("--plot", type=Path, help="write the PNG here")
    parser.add_argument("--json", type=Path, help="write the summary as JSON here")
    args = parser.parse_args(argv)

    prod = load_prod(args.root)
    bench = None if args.no_bench else args.bench or next((p for p in BENCH_FILES if p.is_file()), None)
    cpu_ms, source = cpu_ms_per_request(bench, prod.cpu_request)
    hour, minute = (int(part) for part in args.event_start.split(":"))
    result = simulate(
        prod,
        cpu_ms,
        args.normal_rps,
        args.event_factor,
        hour * 3600 + minute * 60,
        args.event_minutes,
        args.event_ramp,
        args.pod_startup,
        args.node_startup,
        args.settle,
    )
    workers = resolve(math.ceil(prod.cpu_limit), args.root / "src")
    result.db_connections = database_connections(prod, workers)
    result.db_max_connections = rds_max_connections(prod.db_instance_class)
    result.capacity_source, result.workers = source, workers

    day = range(len(result.times))
    print(
        f"prod: HPA {prod.hpa.min_replicas}-{prod.hpa.max_replicas} pods (targets {prod.hpa.rps_target:g} req/s, "
        f"{prod.hpa.cpu_target:g}% CPU), pod requests {prod.cpu_request:g} CPU / {prod.memory_request} MiB, "
        f"node groups {', '.join(f'{g.name} {g.instance_type} {g.min_size}-{g.max_size}' for g in prod.node_groups)}"
    )
    print(f"capacity: {cpu_ms:.2f} CPU ms per request ({source}) -> {result.pod_rps:.0f} req/s per pod")
    print(
        f"traffic: {args.normal_rps:g} req/s business hours, x{args.event_factor:g} at {args.event_start} UTC for "
        f"{args.event_minutes} min"
    )
    print(f"{'time':>6}{'req/s':>8}{'pods':>6}{'ready':>6}{'nodes':>6}{'% slow':>8}")
    for index in day:
        t = result.times[index]
        if t % 1800 == 0 or (hour * 3600 + minute * 60 - 60 <= t <= hour * 3600 + minute * 60 + 900 and t % 60 == 0):
            print(
                f"{int(t // 3600):02d}:{int(t % 3600 // 60):02d}{result.rps[index]:>8.0f}{result.replicas[index]:>6}"
                f"{result.ready[index]:>6}{result.nodes[index]:>6}{result.over_target[index] * 100:>8.2f}"
            )
    print(
        f"requests over {LATENCY_TARGET_MS} ms: {result.event_share:.3%} of the event's, {result.day_share:.3%} "
        f"of the day's; peak {max(result.replicas)} pods, {max(result.nodes)} nodes"
    )
    print(
        f"database: {result.db_connections} connections at most ({prod.hpa.max_replicas}+{prod.max_surge} pods x "
        f"{workers['workers']} {workers['worker_class']} workers x pool) vs max_connections "
        f"{result.db_max_connections} of {prod.db_instance_class}"
    )
    if args.plot:
        start = hour * 3600 + minute * 60
        plot(result, prod, (start, start + args.event_minutes * 60 + args.event_ramp), args.plot)
        print(f"plot written to {args.plot}")
    if args.json:
        summary = {
            key: getattr(result, key)
            for key in (
                "event_share",
                "day_share",
                "db_connections",
                "db_max_connections",
                "pod_rps",
                "cpu_ms",
                "capacity_source",
                "wanted_beyond_max",
                "unready_after_settle",
            )
        }
        args.json.write_text(json.dumps(summary | {"failures": result.failures}, indent=2) + "\n")
    for failure in result.failures:
        print(f"FAIL: {failure}")
    print("prod carries the event" if not result.failures else "prod does NOT carry the event")
    return 1 if result.failures else 0


if __name__ == "__main__":
    sys.exit(main())
