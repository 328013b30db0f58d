"""Build the local control plane's binaries from Go modules into `.tools/cluster/<component>-<version>/`.

Each component is built once per version (the folder is keyed by it, so a pin change rebuilds). Kubernetes and Argo CD
carry `replace` directives, so `go install` refuses them: their wrapper modules in `tools/cluster/gomod/` require the
exact release and repeat its replace block. Argo CD is built from a module copy with its web UI built in
(tools/cluster/argocd_ui.py). kwok, kwokctl and metrics-server install directly. Every build uses one Go toolchain
(GOTOOLCHAIN, Argo CD needs it) and CGO_ENABLED=0, so the Go build cache is shared between them.

    python -m tools.cluster.build --kubernetes v1.35.4 --etcd v3.6.16 --kwok v0.7.0 --argocd v3.6.1 \
        --metrics-server v0.8.0
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from tools.cluster import argocd_ui
from tools.cluster.versions import component_dir, makefile_pins
from tools.repository import REPO_ROOT
from tools.validation_data import argocd_module_dir

GOMOD_DIR = REPO_ROOT / "tools" / "cluster" / "gomod"
KUBERNETES_COMMANDS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl")
# Argo CD is one binary whose file name selects the component.
ARGOCD_NAMES = ("argocd-application-controller", "argocd-repo-server", "argocd-server", "argocd-notifications")
ARGOCD_MODULE = "github.com/argoproj/argo-cd/v3"
# kwok's pod Stages the control plane runs: its default ones (`fast`: what kwokctl configures when given none) and
# the one that fails a container on request (`chaos`: pods labelled `pod-container-running-failed.stage.kwok.x-k8s.io`).
KWOK_POD_STAGES = ("fast/pod-ready.yaml", "fast/pod-complete.yaml", "fast/pod-delete.yaml",
                   "chaos/pod-container-running-failed.yaml")  # fmt: skip
KWOK_STAGES_DIR = "stages"


def go_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"/usr/local/go/bin:{env.get('PATH', '')}"
    env["CGO_ENABLED"] = "0"
    if "GOTOOLCHAIN" not in env:
        raise SystemExit("build: GOTOOLCHAIN is not set (the Makefile exports it: run through `make cluster-build`)")
    return env


def run(command: list[str], cwd: Path) -> None:
    print(f"  $ {' '.join(command)}", flush=True)
    subprocess.run(command, cwd=cwd, env=go_env(), check=True)  # noqa: S603 - fixed go commands


def kubernetes_ldflags(version: str) -> str:
    major, minor = version.lstrip("v").split(".")[:2]
    flags = []
    for package in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        flags += [
            f"-X {package}.gitVersion={version}",
            f"-X {package}.gitMajor={major}",
            f"-X {package}.gitMinor={minor}",
            f"-X {package}.gitTreeState=clean",
        ]
    return " ".join(flags)


def build_kubernetes(version: str, out: Path) -> None:
    packages = [f"k8s.io/kubernetes/cmd/{name}" for name in KUBERNETES_COMMANDS]
    command = ["go", "build", "-ldflags", kubernetes_ldflags(version), "-o", f"{out}/", *packages]
    run(command, GOMOD_DIR / "kubernetes")


def build_etcd(version: str, out: Path) -> None:
    run(["go", "build", "-o", str(out / "etcd"), "."], GOMOD_DIR / "etcd")


def build_kwok(version: str, out: Path) -> None:
    """kwok-controller and kwokctl, which runs the control plane (tools/cluster/controlplane.py), and the pod Stages
    it configures, as kwok publishes them at that version (`kustomize/stage/`)."""
    env_command = ["go", "install", f"sigs.k8s.io/kwok/cmd/kwok@{version}", f"sigs.k8s.io/kwok/cmd/kwokctl@{version}"]
    print(f"  $ GOBIN={out} {' '.join(env_command)}", flush=True)
    subprocess.run(env_command, cwd=REPO_ROOT, env={**go_env(), "GOBIN": str(out)}, check=True)  # noqa: S603
    where = ["go", "mod", "download", "-json", f"sigs.k8s.io/kwok@{version}"]  # the module `go install` fetched
    download = subprocess.run(where, cwd=out, env={**go_env(), "GOFLAGS": "-mod=mod"}, capture_output=True, text=True,  # noqa: S603
                              check=True)  # fmt: skip
    module = Path(json.loads(download.stdout)["Dir"])
    (out / KWOK_STAGES_DIR).mkdir(exist_ok=True)
    for stage in KWOK_POD_STAGES:
        shutil.copyfile(module / "kustomize" / "stage" / "pod" / stage, out / KWOK_STAGES_DIR / Path(stage).name)


def build_metrics_server(version: str, out: Path) -> None:
    """metrics-server, which kwokctl runs next to the cluster (the HPA controller reads CPU from it), with its version
    set as its own Makefile sets it (`k8s.io/client-go/pkg/version`), so kwokctl parses it from `--version`."""
    ldflags = f"-X k8s.io/client-go/pkg/version.gitVersion={version}"
    command = ["go", "install", "-ldflags", ldflags, f"sigs.k8s.io/metrics-server/cmd/metrics-server@{version}"]
    print(f"  $ GOBIN={out} {' '.join(command)}", flush=True)
    subprocess.run(command, cwd=REPO_ROOT, env={**go_env(), "GOBIN": str(out)}, check=True)  # noqa: S603


def build_argocd(version: str, out: Path) -> None:
    """argocd (one binary for every component), its web UI embedded: built from the module copy of argocd_ui."""
    module = argocd_module_dir(version)
    copy = argocd_ui.build(version, module, argocd_ui.argo_ui_tarball())
    modfile = argocd_ui.modfile_with_replace(GOMOD_DIR / "argocd", copy, out)
    ldflags = f"-X {ARGOCD_MODULE}/common.version={version.lstrip('v')} -X {ARGOCD_MODULE}/common.gitTreeState=clean"
    command = ["go", "build", f"-modfile={modfile}", "-ldflags", ldflags, "-o", str(out / "argocd"),
               f"{ARGOCD_MODULE}/cmd"]  # fmt: skip
    run(command, GOMOD_DIR / "argocd")
    for name in ARGOCD_NAMES:
        link = out / name
        if not link.exists():
            link.symlink_to("argocd")
    # The repo server runs this script for every manifest generation (it must be on PATH); it ships in hack/.
    wrapper = out / "git-verify-wrapper.sh"
    shutil.copyfile(module / "hack" / "git-verify-wrapper.sh", wrapper)
    wrapper.chmod(0o755)
    (out / argocd_ui.BUILT_MARKER).write_text(str(copy))


BUILDERS = {
    "etcd": (build_etcd, ("etcd",)),
    "kubernetes": (build_kubernetes, KUBERNETES_COMMANDS),
    "kwok": (build_kwok, ("kwok", "kwokctl", *(f"{KWOK_STAGES_DIR}/{Path(s).name}" for s in KWOK_POD_STAGES))),
    "metrics-server": (build_metrics_server, ("metrics-server",)),
    "argocd": (build_argocd, ("argocd", *ARGOCD_NAMES, "git-verify-wrapper.sh", argocd_ui.BUILT_MARKER)),
}


def is_built(component: str, version: str) -> bool:
    out = component_dir(component, version)
    if not all((out / name).exists() for name in BUILDERS[component][1]):
        return False
    if component == "argocd":  # built with the web UI of the argo-ui tarball configured now
        ui_copy = argocd_ui.copy_dir(version, argocd_ui.argo_ui_tarball())
        return (out / argocd_ui.BUILT_MARKER).read_text() == str(ui_copy)
    return True


def build(pins: dict[str, str]) -> dict[str, float]:
    """Build what is missing; `{component: seconds}` (0 when it was already built at that version)."""
    took = {}
    for component, version in pins.items():
        out = component_dir(component, version)
        if is_built(component, version):
            took[component] = 0.0
            continue
        print(f"build: {component} {version} -> {out}", flush=True)
        out.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        BUILDERS[component][0](version, out)
        took[component] = time.monotonic() - started
        print(f"build: {component} {version} took {took[component]:.0f} s", flush=True)
    return took


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    defaults = makefile_pins()
    for component in BUILDERS:
        parser.add_argument(
            f"--{component}", dest=component, default=defaults[component],
            help=f"version (default {defaults[component]})",
        )  # fmt: skip
    args = parser.parse_args(argv)
    started = time.monotonic()
    try:
        build({component: getattr(args, component) for component in BUILDERS})
    except subprocess.CalledProcessError as failed:
        print(f"build: failed ({failed.returncode}): {' '.join(failed.cmd)}", file=sys.stderr)
        return 1
    print(f"build: control-plane binaries ready in {time.monotonic() - started:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
