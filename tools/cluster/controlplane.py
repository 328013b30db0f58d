"""A local control plane on 127.0.0.1: etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok, Redis,
a git daemon serving the repository, Argo CD's repo server, application controller and API server (with its web UI),
and the fake controllers.

Everything it starts is recorded under its state folder (PIDs, logs, certificates, kubeconfig, the served copy) and
stopped by PID (`stop`). Ports are picked free at start, so several control planes can run side by side.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

from tools.cluster import argocd_settings, kwok_nodes, served_repo
from tools.cluster.certificates import make_pki, write_kubeconfig
from tools.cluster.kube import Kube
from tools.cluster.processes import Processes, free_port, port_open, wait_for
from tools.cluster.versions import component_dir, makefile_pins
from tools.manifests import REPO_ROOT, tool_path
from tools.validation_data import argocd_crds_dir, crds_dir

SERVICE_CIDR = "10.96.0.0/16"
# The HPA controller is off: nothing serves the metrics APIs here (see fake_controllers, "metrics pipeline").
CONTROLLERS = "*,-horizontal-pod-autoscaler-controller"
# Argo CD compares every Application this often, without jitter (the chart's default is 3 minutes, plus up to one
# minute of jitter): a perpetual diff shows within the live tests' one-minute watch, and a CRD turning Established
# (which requests no refresh by itself) is seen within seconds.
APP_RESYNC_SECONDS = 10


@dataclass
class ControlPlane:
    state: Path
    environment: str = "dev"
    pins: dict[str, str] = field(default_factory=makefile_pins)
    timings: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.state = self.state.resolve()
        self.processes = Processes(self.state)
        self.kubeconfig = self.state / "kubeconfig"
        self.git_base = self.state / "git"

    def binary(self, component: str, name: str) -> Path:
        path = component_dir(component, self.pins[component]) / name
        if not path.exists():
            raise FileNotFoundError(f"{path} is missing: run `make cluster-build` first")
        return path

    @property
    def info_file(self) -> Path:
        return self.state / "cluster.json"

    def info(self) -> dict:
        return json.loads(self.info_file.read_text())

    @property
    def served_copy(self) -> Path:
        return self.git_base / served_repo.REPOSITORY_NAME

    def kube(self) -> Kube:
        return Kube(self.kubeconfig, self.binary("kubernetes", "kubectl"))

    # -- start -----------------------------------------------------------------------------------------------------

    def start(self) -> None:
        started = time.monotonic()
        if self.processes.running():
            raise RuntimeError(f"a control plane is already running from {self.state}: stop it first")
        for stale in ("pki", "etcd", "git", "tmp", "logs"):
            shutil.rmtree(self.state / stale, ignore_errors=True)
        self.state.mkdir(parents=True, exist_ok=True)
        ports = {name: free_port() for name in (
            "etcd", "etcd-http", "etcd-peer", "apiserver", "controller-manager", "scheduler", "kwok", "redis", "git",
            "repo-server", "repo-server-metrics", "controller-metrics", "server", "server-metrics",
        )}  # fmt: skip
        git_url = f"git://127.0.0.1:{ports['git']}/{served_repo.REPOSITORY_NAME}"
        self.info_file.write_text(json.dumps({"environment": self.environment, "ports": ports, "git_url": git_url,
                                              "kubeconfig": str(self.kubeconfig),
                                              "ui_url": f"http://127.0.0.1:{ports['server']}"}, indent=2))  # fmt: skip
        pki = make_pki(self.state / "pki")
        server = f"https://127.0.0.1:{ports['apiserver']}"
        write_kubeconfig(pki, server, self.kubeconfig, namespace=argocd_settings.NAMESPACE)
        self._start_kubernetes(ports, pki.dir)
        kube = self.kube()
        self._install_base(kube)
        self._start_redis_and_git(ports, git_url)
        self._start_argocd(ports)
        self._start_fake_controllers()
        self.timings["start"] = time.monotonic() - started
        print(f"control plane: started in {self.timings['start']:.1f} s", flush=True)

    def _start_kubernetes(self, ports: dict[str, int], pki: Path) -> None:
        data = self.state / "etcd"
        peer = f"http://127.0.0.1:{ports['etcd-peer']}"
        client = f"http://127.0.0.1:{ports['etcd']}"
        http = f"http://127.0.0.1:{ports['etcd-http']}"
        # gRPC and HTTP on separate ports: built with Go 1.27, etcd's shared-port multiplexer drops gRPC connections.
        etcd = self.processes.start("etcd", [
            str(self.binary("etcd", "etcd")), "--name=local", f"--data-dir={data}",
            f"--listen-client-urls={client}", f"--listen-client-http-urls={http}", f"--advertise-client-urls={client}",
            f"--listen-peer-urls={peer}", f"--initial-advertise-peer-urls={peer}", f"--initial-cluster=local={peer}",
            "--unsafe-no-fsync", "--log-level=warn",
        ])  # fmt: skip
        wait_for("etcd", lambda: requests.get(f"{http}/health", timeout=1).ok, 60, etcd)
        k8s = lambda name: str(self.binary("kubernetes", name))  # noqa: E731
        apiserver = self.processes.start("kube-apiserver", [
            k8s("kube-apiserver"), f"--etcd-servers={client}", "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1", f"--secure-port={ports['apiserver']}",
            f"--client-ca-file={pki / 'ca.crt'}", f"--tls-cert-file={pki / 'apiserver.crt'}",
            f"--tls-private-key-file={pki / 'apiserver.key'}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-account-key-file={pki / 'service-account.pub'}",
            f"--service-account-signing-key-file={pki / 'service-account.key'}",
            f"--service-cluster-ip-range={SERVICE_CIDR}", "--authorization-mode=RBAC", "--profiling=false",
        ])  # fmt: skip
        kube = self.kube()
        wait_for("kube-apiserver", lambda: kube.session.get(f"{kube.server}/readyz", timeout=2).ok, 90, apiserver)
        kubeconfig = str(self.kubeconfig)
        self.processes.start("kube-controller-manager", [
            k8s("kube-controller-manager"), f"--kubeconfig={kubeconfig}", "--bind-address=127.0.0.1",
            f"--secure-port={ports['controller-manager']}", f"--authentication-kubeconfig={kubeconfig}",
            f"--authorization-kubeconfig={kubeconfig}",
            f"--service-account-private-key-file={pki / 'service-account.key'}",
            f"--root-ca-file={pki / 'ca.crt'}", "--leader-elect=false", f"--controllers={CONTROLLERS}",
            "--use-service-account-credentials=false", "--profiling=false",
        ])  # fmt: skip
        self.processes.start("kube-scheduler", [
            k8s("kube-scheduler"), f"--kubeconfig={kubeconfig}", "--bind-address=127.0.0.1",
            f"--secure-port={ports['scheduler']}", f"--authentication-kubeconfig={kubeconfig}",
            f"--authorization-kubeconfig={kubeconfig}", "--leader-elect=false", "--profiling=false",
        ])  # fmt: skip
        self.processes.start("kwok", [
            str(self.binary("kwok", "kwok")), f"--kubeconfig={kubeconfig}",
            "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
            # Heartbeats by Lease, as kubelets do: node status patches alone lag on a busy machine, and the node
            # lifecycle controller then marks the Nodes NotReady and their Pods unready.
            "--node-lease-duration-seconds=40",
            f"--server-address=127.0.0.1:{ports['kwok']}",
        ])  # fmt: skip

    def _install_base(self, kube: Kube) -> None:
        crds = [d for path in sorted(argocd_crds_dir().glob("*-crd.yaml")) for d in served_repo_load(path)]
        kube.apply(crds)
        for crd in crds:
            path = f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{crd['metadata']['name']}"
            wait_for(f"CRD {crd['metadata']['name']}", lambda path=path: established(kube.get(path)), 60)
        kube.apply(argocd_settings.settings_objects())
        for node in kwok_nodes.nodes(self.environment):
            kube.apply([node])
            # A Node's status is not taken from a create: set its capacity, as a kubelet would report it.
            kube.merge_patch(f"/api/v1/nodes/{node['metadata']['name']}/status", {"status": node["status"]})

    def _start_redis_and_git(self, ports: dict[str, int], git_url: str) -> None:
        redis = shutil.which("redis-server")
        if redis is None:
            raise FileNotFoundError("redis-server not found: run .ci/run, which installs Debian's redis-server")
        process = self.processes.start("redis", [
            redis, "--bind", "127.0.0.1", "--port", str(ports["redis"]), "--save", "", "--appendonly", "no",
            "--dir", str(self.state),
        ])  # fmt: skip
        wait_for("redis", port_open(ports["redis"]), 30, process)
        served_repo.make_served_copy(self.git_base, git_url, crds_dir(), argocd_crds_dir())
        daemon = self.processes.start("git-daemon", served_repo.daemon_command(self.git_base, ports["git"]))
        wait_for("git daemon", port_open(ports["git"]), 30, daemon)

    def argocd_env(self) -> dict[str, str]:
        tmp = self.state / "tmp"
        tmp.mkdir(exist_ok=True)
        path_dirs = [str(component_dir("argocd", self.pins["argocd"])), str(Path(tool_path("kustomize")).parent)]
        return {
            **os.environ,
            "PATH": os.pathsep.join([*path_dirs, os.environ.get("PATH", "")]),
            "KUBECONFIG": str(self.kubeconfig),
            "ARGOCD_FAKE_IN_CLUSTER": "true",
            "ARGOCD_GPG_ENABLED": "false",
            "TMPDIR": str(tmp),
        }

    def _start_argocd(self, ports: dict[str, int]) -> None:
        env = self.argocd_env()
        redis = f"127.0.0.1:{ports['redis']}"
        repo_server = self.processes.start("argocd-repo-server", [
            str(self.binary("argocd", "argocd-repo-server")), f"--port={ports['repo-server']}",
            "--address=127.0.0.1", "--metrics-address=127.0.0.1",
            f"--metrics-port={ports['repo-server-metrics']}", "--disable-tls", "--client-ca-path=", f"--redis={redis}",
            "--logformat=text",
        ], env=env)  # fmt: skip
        wait_for("argocd-repo-server", port_open(ports["repo-server"]), 60, repo_server)
        self.processes.start("argocd-application-controller", [
            str(self.binary("argocd", "argocd-application-controller")),
            f"--repo-server=127.0.0.1:{ports['repo-server']}",
            "--repo-server-plaintext", f"--redis={redis}", f"--metrics-port={ports['controller-metrics']}",
            f"--app-resync={APP_RESYNC_SECONDS}", "--app-resync-jitter=0",
            "--status-processors=4", "--operation-processors=4",
            "--logformat=text",
        ], env=env)  # fmt: skip
        # The API and web UI, plain HTTP on loopback (on EKS the Ingress terminates TLS). On its first start it
        # writes a random admin password to Secret argocd-initial-admin-secret, as it does in a cluster.
        server = self.processes.start("argocd-server", [
            str(self.binary("argocd", "argocd-server")), "--insecure", "--address=127.0.0.1",
            f"--port={ports['server']}", "--metrics-address=127.0.0.1", f"--metrics-port={ports['server-metrics']}",
            f"--repo-server=127.0.0.1:{ports['repo-server']}", "--repo-server-plaintext", f"--redis={redis}",
            "--logformat=text",
        ], env=env)  # fmt: skip
        wait_for("argocd-server", port_open(ports["server"]), 60, server)

    def admin_password(self, timeout: float = 60) -> str:
        """The password argocd-server generated for the local `admin` account (argocd-initial-admin-secret)."""
        kube = self.kube()
        path = f"/api/v1/namespaces/{argocd_settings.NAMESPACE}/secrets/argocd-initial-admin-secret"
        wait_for("argocd-initial-admin-secret", lambda: kube.get(path) is not None, timeout)
        return base64.b64decode(kube.get(path)["data"]["password"]).decode()

    def _start_fake_controllers(self) -> None:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")])}
        self.processes.start("fake-controllers", [
            sys.executable, "-m", "tools.cluster.fake_controllers", f"--kubeconfig={self.kubeconfig}",
            f"--kubectl={self.binary('kubernetes', 'kubectl')}", f"--crds={crds_dir()}",
        ], env=env)  # fmt: skip

    # -- stop ------------------------------------------------------------------------------------------------------

    def stop(self) -> list[str]:
        return self.processes.stop_all()


def established(crd: dict | None) -> bool:
    conditions = ((crd or {}).get("status") or {}).get("conditions") or []
    return any(c["type"] == "Established" and c["status"] == "True" for c in conditions)


def served_repo_load(path: Path) -> list[dict]:
    import yaml

    return [d for d in yaml.safe_load_all(path.read_text()) if d]
