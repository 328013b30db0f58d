"""Argo CD's RBAC policy (apps/argocd/values.yaml `configs.rbac`, the argocd-rbac-cm the chart writes), asked of the
released argocd binary (`argocd admin settings rbac can`/`validate`, the enforcer the API server runs): everyone
reads, the app team syncs Notejam and nothing else, the platform team administers."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import yaml

from tools.cluster import argocd_settings
from tools.cluster.versions import component_dir, makefile_pins

pytestmark = pytest.mark.control_plane  # the argocd binary that `make cluster-build` builds

APP_TEAM, PLATFORM_TEAM, SOMEONE = "notejam:notejam-app", "notejam:notejam-platform", "notejam:someone-else"


# The command builds a Kubernetes client before it reads --policy-file, and never uses it with one: a kubeconfig that
# points nowhere (and asks for no password) is enough.
NOWHERE = """apiVersion: v1
kind: Config
clusters: [{name: none, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: none, user: {token: none}}]
contexts: [{name: none, context: {cluster: none, user: none}}]
current-context: none
"""


@pytest.fixture(scope="module")
def rbac_cm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    [cm] = [o for o in argocd_settings.settings_objects() if o["metadata"]["name"] == "argocd-rbac-cm"]
    folder = tmp_path_factory.mktemp("rbac")
    (folder / "kubeconfig").write_text(NOWHERE)
    path = folder / "argocd-rbac-cm.yaml"
    path.write_text(yaml.safe_dump(cm))
    return path


def argocd(rbac_cm: Path, *args: str) -> subprocess.CompletedProcess[str]:
    binary = component_dir("argocd", makefile_pins()["argocd"]) / "argocd"
    command = [str(binary), "admin", "settings", "rbac", *args, "--policy-file", str(rbac_cm)]
    env = {**os.environ, "KUBECONFIG": str(rbac_cm.parent / "kubeconfig")}
    return subprocess.run(
        command, capture_output=True, text=True, check=False, timeout=60, env=env, stdin=subprocess.DEVNULL
    )


def can(rbac_cm: Path, subject: str, action: str, resource: str, target: str) -> bool:
    result = argocd(rbac_cm, "can", subject, action, resource, target)
    assert result.stdout.strip() in ("Yes", "No"), result.stdout + result.stderr
    return result.stdout.strip() == "Yes"


def test_the_policy_is_valid(rbac_cm: Path) -> None:
    result = argocd(rbac_cm, "validate")
    assert result.returncode == 0 and "valid" in result.stdout.lower(), result.stdout + result.stderr


@pytest.mark.parametrize(
    ("subject", "action", "resource", "target", "allowed"),
    [
        (SOMEONE, "get", "applications", "notejam/notejam", True),  # policy.default: role:readonly
        (SOMEONE, "sync", "applications", "notejam/notejam", False),
        (APP_TEAM, "sync", "applications", "notejam/notejam", True),
        (APP_TEAM, "action/apps/Deployment/restart", "applications", "notejam/notejam", True),
        (APP_TEAM, "get", "logs", "notejam/notejam", True),
        (APP_TEAM, "sync", "applications", "platform/crossplane", False),
        (APP_TEAM, "delete", "applications", "notejam/notejam", False),
        (APP_TEAM, "update", "projects", "notejam", False),
        (PLATFORM_TEAM, "delete", "applications", "platform/crossplane", True),
        (PLATFORM_TEAM, "update", "projects", "bootstrap", True),
    ],
)
def test_who_may_do_what(rbac_cm: Path, subject: str, action: str, resource: str, target: str, allowed: bool) -> None:
    assert can(rbac_cm, subject, action, resource, target) is allowed
