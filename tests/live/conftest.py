"""One local control plane per environment for the whole test run: created by kwokctl, synced from the served
repository, stopped at the end (`kwokctl stop cluster`; its logs stay in the test's temporary folder).

What is real and what is simulated is named here, once, and printed in the test run's header.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.live.on_call import OnCallReceiver
from tools.cluster.controlplane import ControlPlane
from tools.cluster.kube import Kube, Object
from tools.cluster.sync import applications, apply_root, wait_until_synced
from tools.repository import ENVIRONMENTS, REPO_ROOT

REAL = (
    "etcd, kube-apiserver (admission: PodSecurity, CRD schemas and CEL rules, API aggregation), "
    "kube-controller-manager (Deployments, ReplicaSets, Jobs, garbage collection, the HPA controller), "
    "kube-scheduler, metrics-server (the chart's release), run by kwokctl (binary runtime)",
    "Argo CD application controller, repo server, notifications controller and API server with its web UI (the "
    "release the clusters run: apps/argocd/values.yaml pins its image and CRDs), Redis, git daemon",
)
SIMULATED = (
    "kwok: Nodes (one per zone, labelled like EKS nodes) and their kubelets; Pods turn Ready, Jobs' Pods complete "
    "(or fail, with kwok's chaos Stage, when labelled for it); the pods' CPU that metrics-server scrapes",
    "the on-call tool: a webhook receiver in the test run (tests/live/on_call.py) that Argo CD Notifications posts to",
    "Helm charts of the add-ons: local folders carrying the CRDs the charts install and kube-prometheus-stack's "
    "Prometheus (tools/cluster/served_repo)",
    "Crossplane, External Secrets, AWS Load Balancer Controller, Prometheus Operator, Prometheus with "
    "prometheus-adapter (the custom metrics API: each pod's request rate), the users' load on an Ingress: "
    "tools/cluster/fake_controllers, with durations divided by its TIME_SCALE, "
    "through the intermediate and failure states the real controllers report (README: what the local control plane "
    "simulates)",
)
# A first sync takes about 110 s on a quiet machine, and 310 to 420 s in `make test`, where three control planes sync
# side by side with the other tests on two cores (.cache/test-results/live-progress.log has each step). A commit that
# cannot render still fails within STUCK_AFTER_SECONDS (tools/cluster/sync.py), so the margin costs nothing when
# something breaks.
SYNC_TIMEOUT = 720


def pytest_report_header(config: pytest.Config) -> list[str]:
    return [
        "live control plane, real: " + "; ".join(REAL),
        *("live control plane, SIMULATED: " + item for item in SIMULATED),
    ]


@dataclass
class LiveCluster:
    """A control plane that has synced one environment; `first_sync` is every Application right after that."""

    environment: str
    plane: ControlPlane
    kube: Kube
    first_sync: dict[str, Object]
    first_sync_failures: dict[str, set[str]] = field(default_factory=dict)
    objects_after_first_sync: dict[str, Object] = field(default_factory=dict)
    # namespace -> its Events right after the first sync: what later tests cause (a failed release, prod's event
    # test changing the HPA while its controller writes status) is not the first sync's.
    events_after_first_sync: dict[str, list[Object]] = field(default_factory=dict)
    on_call: OnCallReceiver | None = None

    def notejam_namespace(self) -> str:
        return f"notejam-{self.environment}"


PROGRESS_LOG = REPO_ROOT / ".cache" / "test-results" / "live-progress.log"


def say(config: pytest.Config, line: str) -> None:
    """A line of progress as it happens (a sync's, the time of each phase): in the test output of a serial run, and
    in `.cache/test-results/live-progress.log` (a parallel worker's output reaches no terminal)."""
    PROGRESS_LOG.parent.mkdir(parents=True, exist_ok=True)
    with PROGRESS_LOG.open("a") as log:
        log.write(f"{time.strftime('%H:%M:%S')} {line}\n")
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    capture = config.pluginmanager.get_plugin("capturemanager")
    if reporter is None:
        return
    if capture is None:
        reporter.write_line(f"live: {line}")
        return
    with capture.global_and_fixture_disabled():
        reporter.write_line(f"live: {line}")


def snapshot_notejam(kube: Kube, namespace: str) -> dict[str, Object]:
    """The Notejam objects whose timestamps tell the sync order (hooks are recreated by later syncs)."""
    found: dict[str, Object] = {}
    for job in kube.items(f"/apis/batch/v1/namespaces/{namespace}/jobs"):
        found[f"Job/{job['metadata']['name']}"] = job
    deployment = kube.get(f"/apis/apps/v1/namespaces/{namespace}/deployments/notejam")
    if deployment is not None:
        found["Deployment/notejam"] = deployment
    for plural, kind in (("postgresqlinstances", "PostgreSQLInstance"), ("databasebackups", "DatabaseBackup")):
        for claim in kube.items(f"/apis/platform.notejam.io/v1alpha1/namespaces/{namespace}/{plural}"):
            found[f"{kind}/{claim['metadata']['name']}"] = claim
    return found


def interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


@pytest.fixture(scope="session", params=ENVIRONMENTS)
def live(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveCluster]:
    environment: str = request.param
    state: Path = tmp_path_factory.mktemp(f"cluster-{environment}")
    plane = ControlPlane(state, environment, slot="tests")
    on_call = OnCallReceiver(plane.ports["on-call"])
    # A terminated test run still stops the control plane (pytest runs finalizers on KeyboardInterrupt).
    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        plane.start()
        say(request.config, f"{environment}: control plane started in {plane.timings['start']:.1f} s ({state})")
        for item in SIMULATED:
            say(request.config, f"{environment}: SIMULATED {item}")
        # Listening before the root Application exists, so that no notification of the first sync is lost.
        on_call.start()
        kube = plane.kube()
        apply_root(kube, environment, plane.info()["git_url"])
        failures: dict[str, set[str]] = {}
        try:
            took = wait_until_synced(
                kube, SYNC_TIMEOUT, say=lambda line: say(request.config, f"{environment} {line}"), failures=failures
            )
        except TimeoutError:
            say(request.config, f"{environment}: logs of every component in {plane.logs}")
            raise
        say(request.config, f"{environment}: first sync Synced and Healthy in {took:.1f} s")
        cluster = LiveCluster(environment, plane, kube, applications(kube), failures, on_call=on_call)
        cluster.objects_after_first_sync = snapshot_notejam(kube, cluster.notejam_namespace())
        cluster.events_after_first_sync = {
            namespace: kube.items(f"/api/v1/namespaces/{namespace}/events")
            for namespace in ("argocd", cluster.notejam_namespace())
        }
        yield cluster
    finally:
        signal.signal(signal.SIGTERM, previous)
        started = time.monotonic()
        on_call.stop()  # its port is in the plane's plan, which stop() waits to see free
        plane.stop()
        say(request.config, f"{environment}: stopped (kwokctl stop cluster) in {time.monotonic() - started:.1f} s")
