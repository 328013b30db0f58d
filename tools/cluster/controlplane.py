"""A local control plane on 127.0.0.1, run by kwokctl (sigs.k8s.io/kwok, its `binary` runtime).

kwokctl creates the cluster from our built binaries: etcd, kube-apiserver, kube-controller-manager, kube-scheduler,
kwok-controller and metrics-server (with the APIService v1beta1.metrics.k8s.io, kwok simulating the kubelets'
resource metrics it scrapes), with its certificates, kubeconfig, logs and PID files in `<state>/clusters/<name>/`. What
kwokctl does not know joins the same cluster as custom components of its configuration (`components` in the
cluster's `kwok.yaml`, kwokctl's own format): Redis, a git daemon serving the repository, Argo CD's repo server,
application controller and API server (with its web UI), and the fake controllers (with the custom metrics API of
the Prometheus and prometheus-adapter stand-in, whose APIService is applied with the base objects). They start with
`kwokctl start cluster` once the API server holds Argo CD's CRDs and settings, and stop with the rest
(`kwokctl stop cluster`, `kwokctl delete cluster`). Every port comes from a fixed plan (`port_plan`), so no two
components, environments or runs (`make cluster` and the tests) share one; every component must answer on its
port (the fake controllers: on the custom metrics API's) within seconds, else start fails naming it and its log.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tools.cluster import argocd_settings, kwok_nodes, served_repo
from tools.cluster.build import KWOK_STAGES_DIR
from tools.cluster.fake_controllers import external_secrets, prometheus_adapter
from tools.cluster.fake_controllers.status import TIME_SCALE
from tools.cluster.kube import Kube
from tools.cluster.versions import component_dir, makefile_pins
from tools.manifests import kustomize, kustomize_source, tool_path
from tools.repository import ENVIRONMENTS, REPO_ROOT
from tools.validation_data import argocd_crds_dir, crds_dir
from tools.waiting import listening, wait_until

# Every controller, the HPA's included: metrics-server serves CPU, the adapter stand-in the request rate.
CONTROLLERS = "*"
# The HPA controller's clock runs as fast as the stand-ins' (fake_controllers/status.py TIME_SCALE): its sync period,
# CPU initialization period and initial readiness delay (defaults 15 s, 5 min, 30 s: kube-controller-manager's
# --horizontal-pod-autoscaler-* flags) divided by it. metrics-server keeps its 15 s resolution: it refuses less than
# 10 s, so CPU reaches this HPA later, in its scaled time, than it would in a cluster.
HPA_FLAGS = {
    "horizontal-pod-autoscaler-sync-period": f"{15 / TIME_SCALE}s",
    "horizontal-pod-autoscaler-cpu-initialization-period": f"{300 / TIME_SCALE:.0f}s",
    "horizontal-pod-autoscaler-initial-readiness-delay": f"{30 / TIME_SCALE:.0f}s",
}
# Argo CD compares every Application this often, without jitter (the chart's default is 3 minutes, plus up to one
# minute of jitter): a perpetual diff shows within the live tests' one-minute watch, and a CRD turning Established
# (which requests no refresh by itself) is seen within seconds.
APP_RESYNC_SECONDS = 10
# Every listening port of one control plane, in the order of the plan. The kwokctl ones are set in its
# configuration (it would otherwise count down from 32766, checking only that a port is free at that moment).
# "on-call" is the on-call tool's webhook, which nothing here runs: the live tests answer it
# (tests/live/conftest.py), and Argo CD Notifications posts to it.
PORTS = ("etcd", "etcd-peer", "etcd-http", "kube-apiserver", "kube-controller-manager", "kube-scheduler",
         "kwok-controller", "redis", "git", "repo-server", "repo-server-metrics", "controller-metrics", "server",
         "server-metrics", "notifications-metrics", "on-call", "metrics-server", "custom-metrics")  # fmt: skip
# Below Linux's ephemeral range (32768-60999), where outgoing connections take their ports.
FIRST_PORT = 20000
# Slots: `make cluster`, the live tests and their negative controls (tests/live/test_negative_controls.py) may run
# side by side.
SLOTS = {"cluster": 0, "tests": 1, "controls": 2}
READY_TIMEOUT = 60
STOP_TIMEOUT = 30
# kwokctl names a component's PID and log files after its binary: the fake controllers are `python`'s.
FAKE_CONTROLLERS = Path(sys.executable).name
# The port each component answers on, where its name is not the plan's.
PORT_OF = {"redis-server": "redis", "git-daemon": "git", "argocd-repo-server": "repo-server", "argocd-server": "server",
           "argocd-application-controller": "controller-metrics", "argocd-notifications": "notifications-metrics",
           FAKE_CONTROLLERS: "custom-metrics"}  # fmt: skip
ALIVE_SECONDS = 3


def port_plan(environment: str, slot: str) -> dict[str, int]:
    """`{component: port}`: a block of 100 ports per environment and 1,000 per slot, one port per component."""
    base = FIRST_PORT + 1000 * SLOTS[slot] + 100 * ENVIRONMENTS.index(environment)
    return {name: base + offset for offset, name in enumerate(PORTS)}


@dataclass
class ControlPlane:
    state: Path
    environment: str = "dev"
    slot: str = "cluster"
    pins: dict[str, str] = field(default_factory=makefile_pins)
    timings: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.state = self.state.resolve()
        self.name = f"notejam-{self.environment}"
        self.cluster_dir = self.state / "clusters" / self.name
        # Next to kwokctl's own folder, one of each per environment: `make cluster` may run several.
        self.kubeconfig = self.state / f"{self.name}.kubeconfig"
        self.git_base = self.state / "served" / self.name
        self.ports = port_plan(self.environment, self.slot)

    def binary(self, component: str, name: str) -> Path:
        path = component_dir(component, self.pins[component]) / name
        if not path.exists():
            raise FileNotFoundError(f"{path} is missing: run `make cluster-build` first")
        return path

    @property
    def info_file(self) -> Path:
        return self.state / f"{self.name}.json"

    def info(self) -> dict:
        return json.loads(self.info_file.read_text())

    @property
    def served_copy(self) -> Path:
        return self.git_base / served_repo.REPOSITORY_NAME

    @property
    def logs(self) -> Path:
        return self.cluster_dir / "logs"

    def kube(self) -> Kube:
        return Kube(self.kubeconfig, self.binary("kubernetes", "kubectl"))

    # -- kwokctl ---------------------------------------------------------------------------------------------------

    def kwokctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        # kwokctl waits for the API server with the `kubectl` on PATH: ours, at the cluster's version.
        path = os.pathsep.join([str(self.binary("kubernetes", "kubectl").parent), os.environ.get("PATH", "")])
        env = {**os.environ, "KWOK_WORKDIR": str(self.state), "PATH": path}
        command = [str(self.binary("kwok", "kwokctl")), *args, "--name", self.name]
        result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)  # noqa: S603
        if check and result.returncode != 0:
            raise RuntimeError(f"kwokctl {args[0]} {args[1]} failed ({result.returncode}): {result.stderr[-2000:]}")
        return result

    def kwokctl_configuration(self) -> dict[str, Any]:
        """Ports on 127.0.0.1 and the flags we need on top of kwokctl's (its `componentsPatches`)."""
        ports = self.ports
        extra_args = {
            # gRPC and HTTP on separate ports: built with Go 1.27, etcd's shared-port multiplexer drops gRPC.
            "etcd": {
                "unsafe-no-fsync": "true",
                "listen-client-http-urls": f"http://127.0.0.1:{ports['etcd-http']}",
                "log-level": "warn",
            },
            "kube-controller-manager": {"controllers": CONTROLLERS, **HPA_FLAGS},
        }
        return {
            "apiVersion": "config.kwok.x-k8s.io/v1alpha1",
            "kind": "KwokctlConfiguration",
            "options": {
                "runtime": "binary",
                "bindAddress": "127.0.0.1",
                "etcdPort": ports["etcd"],
                "etcdPeerPort": ports["etcd-peer"],
                "kubeApiserverPort": ports["kube-apiserver"],
                "kubeControllerManagerPort": ports["kube-controller-manager"],
                "kubeSchedulerPort": ports["kube-scheduler"],
                "kwokControllerPort": ports["kwok-controller"],
                "enableMetricsServer": True,
                "metricsServerPort": ports["metrics-server"],
                "metricsServerBinary": str(self.binary("metrics-server", "metrics-server")),
                "etcdBinary": str(self.binary("etcd", "etcd")),
                "kubeApiserverBinary": str(self.binary("kubernetes", "kube-apiserver")),
                "kubeControllerManagerBinary": str(self.binary("kubernetes", "kube-controller-manager")),
                "kubeSchedulerBinary": str(self.binary("kubernetes", "kube-scheduler")),
                "kwokControllerBinary": str(self.binary("kwok", "kwok")),
                "kubectlBinary": str(self.binary("kubernetes", "kubectl")),
            },
            "componentsPatches": [
                {"name": name, "extraArgs": [{"key": key, "value": value} for key, value in args.items()]}
                for name, args in extra_args.items()
            ],
        }

    def pod_stages(self) -> list[dict[str, Any]]:
        """kwok's default pod Stages and its container-failure one, from the kwok build (tools/cluster/build.py).
        Given any Stage, kwok runs only those given for that kind, so the defaults are listed too."""
        stages = sorted((self.binary("kwok", "kwokctl").parent / KWOK_STAGES_DIR).glob("*.yaml"))
        return [yaml.safe_load(path.read_text()) for path in stages]

    # -- start -----------------------------------------------------------------------------------------------------

    def start(self) -> None:
        started = time.monotonic()
        if self.cluster_dir.exists():
            raise RuntimeError(f"a control plane exists in {self.cluster_dir}: `make cluster-down` first")
        busy = {name: port for name, port in self.ports.items() if listening(port)}
        if busy:
            raise RuntimeError(f"ports of {self.environment}'s plan are taken by another process: {busy}")
        for stale in (self.git_base, self.tmp):
            shutil.rmtree(stale, ignore_errors=True)
        self.state.mkdir(parents=True, exist_ok=True)
        git_url = f"git://127.0.0.1:{self.ports['git']}/{served_repo.REPOSITORY_NAME}"
        self.info_file.write_text(json.dumps({
            "environment": self.environment, "ports": self.ports, "git_url": git_url,
            "kubeconfig": str(self.kubeconfig), "ui_url": f"http://127.0.0.1:{self.ports['server']}",
            "logs": str(self.logs),
        }, indent=2))  # fmt: skip
        configuration = self.state / f"{self.name}.kwokctl.yaml"
        documents = [self.kwokctl_configuration(), *self.pod_stages()]
        configuration.write_text(yaml.safe_dump_all(documents, sort_keys=False))
        # kwokctl merges its context into --kubeconfig; a file of our own keeps ~/.kube/config untouched.
        self.kwokctl("create", "cluster", "--config", str(configuration), "--kubeconfig", str(self.kwokctl_kubeconfig),
                     "--wait", "2m")  # fmt: skip
        self._write_kubeconfig()
        self.wait_ready(["etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok-controller"])
        kube = self.kube()
        self._install_base(kube)
        served_repo.make_served_copy(self.git_base, git_url, crds_dir(), argocd_crds_dir())
        components = self.components()
        self._add_components(components)
        self.kwokctl("start", "cluster")
        self.wait_ready([component["name"] for component in components])
        self.timings["start"] = time.monotonic() - started
        print(f"control plane: started in {self.timings['start']:.1f} s", flush=True)

    @property
    def kwokctl_kubeconfig(self) -> Path:
        return self.state / f"{self.name}.kwokctl-kubeconfig"

    def _write_kubeconfig(self) -> None:
        """kwokctl's kubeconfig flattened (certificates inline) with `argocd` as the namespace, by kubectl."""
        kubectl = str(self.binary("kubernetes", "kubectl"))
        view = [kubectl, "config", "view", "--flatten", "--minify", f"--context=kwok-{self.name}"]
        flat = subprocess.run([*view, f"--kubeconfig={self.kwokctl_kubeconfig}"], capture_output=True, text=True,  # noqa: S603
                              check=True)  # fmt: skip
        self.kubeconfig.write_text(flat.stdout)
        namespace = [kubectl, "config", "set-context", "--current", f"--namespace={argocd_settings.NAMESPACE}"]
        subprocess.run([*namespace, f"--kubeconfig={self.kubeconfig}"], capture_output=True, check=True)  # noqa: S603

    def _install_base(self, kube: Kube) -> None:
        crds = [d for path in sorted(argocd_crds_dir().glob("*-crd.yaml")) for d in load_all(path)]
        # As the argocd Application's stand-in will render them (it annotates everything with its chart version), so
        # that Argo CD's first comparison finds its CRDs in sync, as it finds the bootstrap's CRDs in a real cluster.
        # Without it Argo CD re-applied them for minutes: its cluster cache shows a CRD's update late, so each
        # comparison after a sync still saw the annotation missing.
        version = served_repo.argocd_chart_version()
        for crd in crds:
            crd["metadata"].setdefault("annotations", {})[served_repo.CHART_VERSION_ANNOTATION] = version
        kube.apply(crds)
        for crd in crds:
            path = f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{crd['metadata']['name']}"
            wait_until(f"CRD {crd['metadata']['name']}", lambda path=path: established(kube.get(path)), 60)
        kube.apply(argocd_settings.settings_objects())
        kube.apply(prometheus_adapter.api_objects(self.ports["custom-metrics"]))
        for node in kwok_nodes.nodes(self.environment):
            kube.apply([node])
            # A Node's status is not taken from a create: set its capacity, as a kubelet would report it.
            kube.merge_patch(f"/api/v1/nodes/{node['metadata']['name']}/status", {"status": node["status"]})

    @property
    def tmp(self) -> Path:
        return self.state / "tmp" / self.name

    def argocd_env(self) -> dict[str, str]:
        self.tmp.mkdir(parents=True, exist_ok=True)
        path_dirs = [str(component_dir("argocd", self.pins["argocd"])), str(Path(tool_path("kustomize")).parent)]
        return {
            "PATH": os.pathsep.join([*path_dirs, os.environ.get("PATH", "")]),
            "KUBECONFIG": str(self.kubeconfig),
            "ARGOCD_FAKE_IN_CLUSTER": "true",
            "ARGOCD_GPG_ENABLED": "false",
            "TMPDIR": str(self.tmp),
        }

    def components(self) -> list[dict[str, Any]]:
        """What kwokctl does not run by itself, as kwokctl components (name, binary, args, envs, links)."""
        ports = self.ports
        redis = shutil.which("redis-server")
        if redis is None:
            raise FileNotFoundError("redis-server not found: run .ci/run, which installs Debian's redis-server")
        argocd = lambda name: str(self.binary("argocd", name))  # noqa: E731
        argocd_env = self.argocd_env()
        redis_address = f"--redis=127.0.0.1:{ports['redis']}"
        repo_server = f"--repo-server=127.0.0.1:{ports['repo-server']}"
        python_path = os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")])
        found = [
            ("redis-server", redis, ["--bind", "127.0.0.1", "--port", str(ports["redis"]), "--save", "",
                                     "--appendonly", "no", "--dir", str(self.cluster_dir)], {}),
            # git-daemon itself: `git daemon` would run it as a child, which outlives a kill of the `git` process.
            ("git-daemon", git_daemon(), served_repo.daemon_command(self.git_base, ports["git"])[2:], {}),
            ("argocd-repo-server", argocd("argocd-repo-server"), [
                f"--port={ports['repo-server']}", "--address=127.0.0.1", "--metrics-address=127.0.0.1",
                f"--metrics-port={ports['repo-server-metrics']}", "--disable-tls", "--client-ca-path=", redis_address,
                "--logformat=text"], argocd_env),
            ("argocd-application-controller", argocd("argocd-application-controller"), [
                repo_server, "--repo-server-plaintext", redis_address, f"--metrics-port={ports['controller-metrics']}",
                f"--app-resync={APP_RESYNC_SECONDS}", "--app-resync-jitter=0", "--status-processors=4",
                "--operation-processors=4", "--logformat=text"], {**argocd_env, **argocd_settings.controller_env()}),
            # The API and web UI, plain HTTP on loopback (on EKS the Ingress terminates TLS). On its first start it
            # writes a random admin password to Secret argocd-initial-admin-secret, as it does in a cluster.
            ("argocd-server", argocd("argocd-server"), [
                "--insecure", "--address=127.0.0.1", f"--port={ports['server']}", "--metrics-address=127.0.0.1",
                f"--metrics-port={ports['server-metrics']}", repo_server, "--repo-server-plaintext", redis_address,
                "--logformat=text"], argocd_env),
            # The notifications controller (apps/argocd/values.yaml: notifications), with the settings the chart
            # would give it; its metrics listener binds 0.0.0.0 (not configurable).
            ("argocd-notifications", argocd("argocd-notifications"), [
                f"--argocd-repo-server=127.0.0.1:{ports['repo-server']}", "--argocd-repo-server-plaintext",
                f"--metrics-port={ports['notifications-metrics']}", "--logformat=text"], argocd_env),
            (FAKE_CONTROLLERS, sys.executable, [
                "-m", "tools.cluster.fake_controllers", f"--kubeconfig={self.kubeconfig}",
                f"--kubectl={self.binary('kubernetes', 'kubectl')}", f"--crds={crds_dir()}",
                f"--adapter-port={ports['custom-metrics']}", f"--adapter-cert={self.cluster_dir / 'pki' / 'admin.crt'}",
                f"--adapter-key={self.cluster_dir / 'pki' / 'admin.key'}"],
                {"PYTHONPATH": python_path, external_secrets.VALUES_ENV: json.dumps(self.local_secret_values())}),
        ]  # fmt: skip
        return [
            {"name": name, "binary": binary, "args": args, "workDir": str(self.cluster_dir),
             "links": ["kube-apiserver"], "envs": [{"name": key, "value": value} for key, value in env.items()]}
            for name, binary, args, env in found
        ]  # fmt: skip

    def local_secret_values(self) -> dict[str, dict[str, str]]:
        """What this plane's Secrets Manager stand-in answers instead of a placeholder: the on-call webhook's URL
        (the secret and property of the ExternalSecret in the argocd Application's apps/argocd/secrets source,
        with this cluster's facts) is the local receiver."""
        [argocd] = [doc for doc in kustomize(REPO_ROOT / "clusters" / self.environment)
                    if doc["kind"] == "Application" and doc["metadata"]["name"] == "argocd"]  # fmt: skip
        [source] = [s for s in argocd["spec"]["sources"] if s.get("path") == "apps/argocd/secrets"]
        [external] = [
            doc
            for doc in kustomize_source(source)
            if doc["kind"] == "ExternalSecret" and doc["metadata"]["name"] == "argocd-notifications-secret"
        ]
        [reference] = [item["remoteRef"] for item in external["spec"]["data"]]
        return {reference["key"]: {reference["property"]: f"http://127.0.0.1:{self.ports['on-call']}/"}}

    def _add_components(self, components: list[dict[str, Any]]) -> None:
        """Add `components` to the cluster's saved configuration (kwok.yaml), for `kwokctl start cluster`."""
        saved = self.cluster_dir / "kwok.yaml"
        documents = list(yaml.safe_load_all(saved.read_text()))
        configuration = next(d for d in documents if d and d.get("kind") == "KwokctlConfiguration")
        configuration["components"] = [*configuration.get("components", []), *components]
        saved.write_text(yaml.safe_dump_all(documents, sort_keys=False))

    # -- readiness -------------------------------------------------------------------------------------------------

    def pid(self, component: str) -> int | None:
        """The PID kwokctl recorded for `component` (named after its binary), if that process still runs."""
        pid_file = self.cluster_dir / "pids" / f"{Path(component).name}.pid"
        if not pid_file.exists():
            return None
        pid = int(pid_file.read_text().strip())
        return pid if running(pid) else None

    def wait_ready(self, components: list[str], timeout: float = READY_TIMEOUT) -> None:
        """Each component alive and answering on its planned port (one without a port: alive for
        `ALIVE_SECONDS`), else an error naming it with the end of its log."""
        alive_since: dict[str, float] = {}
        waiting = set(components)

        def ready(name: str) -> bool:
            if self.pid(name) is None:
                raise RuntimeError(f"{name} exited: see {self.logs / (name + '.log')}:\n{self.log_tail(name)}")
            alive_since.setdefault(name, time.monotonic())
            port = self.ports.get(PORT_OF.get(name, name))
            return listening(port) if port else time.monotonic() - alive_since[name] >= ALIVE_SECONDS

        def all_ready() -> bool:
            waiting.difference_update([name for name in sorted(waiting) if ready(name)])
            return not waiting

        try:
            wait_until("the control plane's components", all_ready, timeout)
        except TimeoutError:
            raise TimeoutError(f"not ready after {timeout:.0f} s: {sorted(waiting)} (logs in {self.logs})") from None

    def log_tail(self, component: str, lines: int = 20) -> str:
        log = self.logs / f"{component}.log"
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:]) if log.exists() else "(no log)"

    # -- stop ------------------------------------------------------------------------------------------------------

    def exists(self) -> bool:
        """Whether kwokctl has this cluster (running, or stopped with its logs)."""
        return self.cluster_dir.exists()

    def stop(self) -> None:
        """Stop every component (kwokctl kills them by their PID files); the cluster folder and its logs stay."""
        if self.exists():
            self.kwokctl("stop", "cluster", check=False)
            # kwokctl signals the components and returns; the plan's ports are free (for the next control plane of
            # this slot) only once they have exited.
            wait_until("the control plane's ports free", lambda: not any(map(listening, self.ports.values())),
                       STOP_TIMEOUT)  # fmt: skip

    def delete(self) -> None:
        """Stop every component and remove the cluster folder."""
        if self.exists():
            self.kwokctl("delete", "cluster", "--kubeconfig", str(self.kwokctl_kubeconfig))


def git_daemon() -> str:
    exec_path = subprocess.run(["git", "--exec-path"], capture_output=True, text=True, check=True).stdout.strip()  # noqa: S607
    return str(Path(exec_path) / "git-daemon")


def running(pid: int) -> bool:
    """Whether `pid` runs: a component that exited stays a zombie until its parent (init, here) reaps it."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def established(crd: dict | None) -> bool:
    conditions = ((crd or {}).get("status") or {}).get("conditions") or []
    return any(c["type"] == "Established" and c["status"] == "True" for c in conditions)


def load_all(path: Path) -> list[dict]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]
