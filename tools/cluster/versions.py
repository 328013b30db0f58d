"""The pinned component versions, read from the Makefile (the one place per pin) so tools and tests agree."""

from __future__ import annotations

from pathlib import Path

from tools.repository import REPO_ROOT, makefile_pin

COMPONENT_PINS = {
    "kubernetes": "CLUSTER_KUBERNETES_VERSION",
    "etcd": "CLUSTER_ETCD_VERSION",
    "kwok": "CLUSTER_KWOK_VERSION",
    "argocd": "CLUSTER_ARGOCD_VERSION",
    "metrics-server": "CLUSTER_METRICS_SERVER_VERSION",
}


def makefile_pins() -> dict[str, str]:
    """`{component: version}` from the Makefile's `CLUSTER_*_VERSION := vX.Y.Z` lines."""
    return {component: makefile_pin(variable) for component, variable in COMPONENT_PINS.items()}


def tools_dir() -> Path:
    """Where the control-plane binaries are built: one folder per component and version (`.tools/cluster/`)."""
    return REPO_ROOT / ".tools" / "cluster"


def component_dir(component: str, version: str) -> Path:
    return tools_dir() / f"{component}-{version}"
