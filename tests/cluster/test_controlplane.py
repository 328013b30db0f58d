"""The local control plane's wiring around kwokctl, without starting a cluster: the port plan, what kwokctl is given,
and that a component that dies or a port that is taken is a clear error within seconds, not a sync timeout."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

import pytest

from tools.cluster.controlplane import PORTS, SLOTS, ControlPlane, port_plan
from tools.cluster.versions import component_dir, makefile_pins
from tools.repository import ENVIRONMENTS


def test_no_two_components_environments_or_slots_share_a_port() -> None:
    ports = [port for slot in SLOTS for env in ENVIRONMENTS for port in port_plan(env, slot).values()]
    assert len(ports) == len(set(ports)) == len(SLOTS) * len(ENVIRONMENTS) * len(PORTS)
    # Below the kernel's ephemeral range, where outgoing connections could take a port before its server binds it.
    assert min(ports) > 1024 and max(ports) < 32768


def test_a_taken_port_is_refused_before_anything_starts(tmp_path: Path) -> None:
    plane = ControlPlane(tmp_path, "staging", slot="tests")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        # The plan with one of its ports taken (not the real one: a live test may be using the plan right now).
        plane.ports = {"redis": taken.getsockname()[1]}
        with pytest.raises(RuntimeError, match=rf"taken by another process: {{'redis': {plane.ports['redis']}}}"):
            plane.start()
    assert not plane.cluster_dir.exists()


@pytest.mark.parametrize("reaped", [True, False], ids=["reaped", "zombie"])
def test_a_component_that_exits_is_named_with_its_log_within_seconds(tmp_path: Path, reaped: bool) -> None:
    plane = ControlPlane(tmp_path, "dev", slot="tests")
    (plane.cluster_dir / "pids").mkdir(parents=True)
    plane.logs.mkdir()
    dead = subprocess.Popen(["true"])  # a PID that has exited: gone, or a zombie until its parent reaps it
    if reaped:
        dead.wait()
    else:
        time.sleep(0.5)
    (plane.cluster_dir / "pids" / "argocd-repo-server.pid").write_text(str(dead.pid))
    (plane.logs / "argocd-repo-server.log").write_text("starting\nFATAL: unknown flag --redis-typo\n")
    started = time.monotonic()
    with pytest.raises(RuntimeError, match=r"argocd-repo-server exited: see .*argocd-repo-server.log") as error:
        plane.wait_ready(["argocd-repo-server"], timeout=60)
    assert "FATAL: unknown flag --redis-typo" in str(error.value)
    assert time.monotonic() - started < 5
    dead.wait()


def test_a_live_component_that_never_listens_times_out_naming_it(tmp_path: Path) -> None:
    plane = ControlPlane(tmp_path, "prod", slot="tests")
    (plane.cluster_dir / "pids").mkdir(parents=True)
    plane.logs.mkdir()
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        plane.ports = {"redis": unused.getsockname()[1]}  # bound, never listening
    with subprocess.Popen(["sleep", "30"]) as alive:
        (plane.cluster_dir / "pids" / "redis-server.pid").write_text(str(alive.pid))
        with pytest.raises(TimeoutError, match=r"not ready after 1 s: \['redis-server'\]"):
            plane.wait_ready(["redis-server"], timeout=1)
        alive.kill()


@pytest.mark.control_plane
def test_kwokctl_runs_our_binaries_on_loopback_at_the_planned_ports(tmp_path: Path) -> None:
    plane = ControlPlane(tmp_path, "dev", slot="tests")
    options = plane.kwokctl_configuration()["options"]
    assert options["bindAddress"] == "127.0.0.1"
    assert options["runtime"] == "binary"
    assert options["kubeApiserverPort"] == plane.ports["kube-apiserver"]
    assert options["etcdPeerPort"] == plane.ports["etcd-peer"]
    pins = makefile_pins()
    assert options["kubeApiserverBinary"] == str(component_dir("kubernetes", pins["kubernetes"]) / "kube-apiserver")
    assert options["kwokControllerBinary"] == str(component_dir("kwok", pins["kwok"]) / "kwok")
    # Everything kwokctl does not run by itself is one of its components, started in the cluster's folder.
    components = plane.components()
    assert [c["name"] for c in components] == [
        "redis-server", "git-daemon", "argocd-repo-server", "argocd-application-controller", "argocd-server",
        "argocd-notifications", Path(components[-1]["binary"]).name,
    ]  # fmt: skip
    # kwok's own pod Stages: its defaults (which it drops when given any) and the chaos Stage that fails a container.
    assert {stage["metadata"]["name"] for stage in plane.pod_stages()} == {
        "pod-ready", "pod-complete", "pod-delete", "pod-container-running-failed"}  # fmt: skip
    assert {c["workDir"] for c in components} == {str(plane.cluster_dir)}
    assert all(Path(c["binary"]).name == c["name"] for c in components)  # kwokctl's PID files are named so
