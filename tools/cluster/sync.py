"""Apply an environment's root Application, pointed at the local git daemon, and wait until the tree is Synced and
Healthy, printing progress (`make cluster`, the live tests)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import yaml

from tools import waiting
from tools.cluster.kube import Kube, Object
from tools.manifests import kustomize
from tools.repository import REPO_ROOT

APPLICATIONS = "/apis/argoproj.io/v1alpha1/namespaces/argocd/applications"
# A commit whose manifests cannot be generated (kustomize or Helm failing on it) does not heal by waiting: once the
# same error has stood this long, the wait stops with Argo CD's message instead of at its timeout.
STUCK_AFTER_SECONDS = 90
MANIFEST_ERROR = "failed to generate manifest for source"


class StuckSync(TimeoutError):
    """The tree cannot converge: an Application's manifests fail to generate, and keep failing."""


def root_application(environment: str, git_url: str) -> Object:
    """The root Application as clusters/<env> renders it (apps/root.yaml with the cluster's facts), its source pointed
    at the local daemon (the repository is not changed)."""
    [root] = [doc for doc in kustomize(REPO_ROOT / "clusters" / environment)
              if doc["kind"] == "Application" and doc["metadata"]["name"] == "root"]  # fmt: skip
    root["spec"]["source"]["repoURL"] = git_url
    return root


def applications(kube: Kube) -> dict[str, Object]:
    return {app["metadata"]["name"]: app for app in kube.items(APPLICATIONS)}


def state_of(app: Object) -> tuple[str, str]:
    status = app.get("status") or {}
    return (status.get("sync") or {}).get("status", "Unknown"), (status.get("health") or {}).get("status", "Unknown")


def expected_children(apps: dict[str, Object], parent: str = "root") -> set[str]:
    """The Applications the parent manages, from its status (so a child not yet created still counts)."""
    resources = ((apps.get(parent) or {}).get("status") or {}).get("resources") or []
    return {r["name"] for r in resources if r.get("kind") == "Application"}


def refresh(kube: Kube, name: str, how: str = "normal") -> None:
    """What the UI's Refresh does: compare the Application with git now, not at the next poll."""
    kube.merge_patch(f"{APPLICATIONS}/{name}", {"metadata": {"annotations": {"argocd.argoproj.io/refresh": how}}})


def push_webhook(kube: Kube) -> None:
    """What GitHub's push webhook makes Argo CD do (server/webhook: every Application whose source is the pushed
    repository and branch is refreshed): here every Application, since each one's sources are the served copy."""
    for name in applications(kube):
        refresh(kube, name)


def wait_until(what: str, done: Callable[[], Any], timeout: float = 180, every: float = 2) -> Any:
    """tools.waiting.wait_until at the pace of the live tests' checks on Argo CD's state: every 2 s unless told."""
    return waiting.wait_until(what, done, timeout, every=every)


def tree_is_ready(apps: dict[str, Object]) -> bool:
    names = {"root", *expected_children(apps)}
    return all(name in apps and state_of(apps[name]) == ("Synced", "Healthy") for name in names) and len(names) > 1


def describe(name: str, app: Object | None) -> str:
    if app is None:
        return f"{name} (not created yet)"
    sync, health = state_of(app)
    operation = (app.get("status") or {}).get("operationState") or {}
    detail = f" {operation.get('phase')}: {operation.get('message', '')[:120]}" if operation.get("phase") not in (
        None, "Succeeded") else ""  # fmt: skip
    return f"{name} ({sync}/{health}{detail})"


def failed_attempts(apps: dict[str, Object]) -> dict[str, str]:
    """`{application: message}` of sync attempts that failed (Argo CD retries them; the message says what failed)."""
    found = {}
    for name, app in apps.items():
        operation = (app.get("status") or {}).get("operationState") or {}
        message = operation.get("message", "")
        if operation.get("phase") in ("Failed", "Error") or "failed" in message.lower():
            found[name] = message
    return found


def manifest_errors(apps: dict[str, Object]) -> dict[str, str]:
    """`{application: message}` of Applications whose manifests Argo CD cannot generate (a ComparisonError)."""
    found = {}
    for name, app in apps.items():
        for condition in (app.get("status") or {}).get("conditions") or []:
            if condition.get("type") == "ComparisonError" and MANIFEST_ERROR in condition.get("message", ""):
                found[name] = condition["message"]
    return found


def wait_until_synced(
    kube: Kube,
    timeout: float,
    say: Callable[[str], None] = print,
    failures: dict[str, set[str]] | None = None,
    stuck_after: float = STUCK_AFTER_SECONDS,
) -> float:
    """Wait until root and every Application it manages are Synced and Healthy; return the seconds it took.

    Every failed sync attempt seen on the way is added to `failures` (application -> messages). Raises StuckSync
    when an Application's manifests have failed to generate with the same error for `stuck_after` seconds."""
    started = time.monotonic()
    last = ""
    errors_since: dict[tuple[str, str], float] = {}
    while True:
        apps = applications(kube)
        if failures is not None:
            for name, message in failed_attempts(apps).items():
                failures.setdefault(name, set()).add(message)
        elapsed = time.monotonic() - started
        current = manifest_errors(apps)
        errors_since = {key: errors_since.get(key, elapsed) for key in current.items()}
        for (name, message), since in errors_since.items():
            if elapsed - since >= stuck_after:
                raise StuckSync(f"{name}: manifests fail to generate ({elapsed - since:.0f} s): {message[:800]}")
        if tree_is_ready(apps):
            say(f"[{elapsed:5.0f} s] all {len(apps)} Applications Synced and Healthy")
            return elapsed
        names = sorted({"root", *expected_children(apps)})
        waiting = [
            describe(n, apps.get(n)) for n in names if n not in apps or state_of(apps[n]) != ("Synced", "Healthy")
        ]
        line = f"{len(names) - len(waiting)}/{len(names)} Synced and Healthy; waiting for " + ", ".join(waiting)
        if line != last:
            say(f"[{elapsed:5.0f} s] {line}")
            last = line
        if elapsed > timeout:
            raise TimeoutError(f"not Synced and Healthy after {timeout:.0f} s: {line}")
        time.sleep(0.5)


def root_project(git_url: str) -> Object:
    """apps/projects/bootstrap.yaml, the root's project, with the local daemon as its repository."""
    project = yaml.safe_load((REPO_ROOT / "apps" / "projects" / "bootstrap.yaml").read_text())
    project["spec"]["sourceRepos"] = [git_url]
    return project


def apply_root(kube: Kube, environment: str, git_url: str) -> None:
    """What docs/bootstrap.md applies by hand: the root's project, then the root."""
    kube.apply([root_project(git_url), root_application(environment, git_url)])
