"""Argo CD's settings for the local control plane, from `apps/argocd/values.yaml` as the chart would write them.

The chart renders `configs.cm` into ConfigMap `argocd-cm` key for key over its own defaults (CHART_CM_DEFAULTS; a key of
ours replaces the chart's value whole, as `resource.exclusions` does), `configs.params` into `argocd-cmd-params-cm`
(CHART_PARAMS_DEFAULTS), labelled `app.kubernetes.io/part-of: argocd` (Argo CD's settings informer selects on that
label), `configs.rbac` into `argocd-rbac-cm`, `notifications` into `argocd-notifications-cm`. The `default`
AppProject is normally created by argocd-server; it is created here, as the server would (then the root restricts it:
apps/projects/default.yaml).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from tools.repository import REPO_ROOT

VALUES_FILE = REPO_ROOT / "apps" / "argocd" / "values.yaml"
NAMESPACE = "argocd"
# The argo-cd chart's defaults for `configs.cm` and `configs.params` (argoproj/argo-helm charts/argo-cd/values.yaml,
# the chart version of apps/argocd/application.yaml). The chart's `resource.exclusions` default is the list of Argo
# CD's install manifests; ours replaces it (and repeats it: tests/argocd/test_resource_exclusions.py).
CHART_CM_DEFAULTS = {
    "admin.enabled": "true",
    "application.sync.impersonation.enabled": "false",
    "exec.enabled": "false",
    "server.rbac.log.enforce.enable": "false",
    "statusbadge.enabled": "false",
    "timeout.hard.reconciliation": "0s",
    "timeout.reconciliation": "180s",
}
# The local processes take the settings that concern them as flags (tools/cluster/controlplane.py), as the chart's
# Deployments take these keys as environment variables; only the processor counts differ (sized for 2 cores).
CHART_PARAMS_DEFAULTS = {
    "application.namespaces": "",
    "controller.operation.processors": "10",
    "controller.repo.server.timeout.seconds": "60",
    "controller.self.heal.timeout.seconds": "5",
    "controller.status.processors": "20",
    "otlp.address": "",
    "reposerver.parallelism.limit": "0",
    "server.basehref": "/",
    "server.disable.auth": "false",
    "server.enable.gzip": "true",
    "server.insecure": "false",
    "server.rootpath": "",
    "server.staticassets": "/shared/app",
    "server.x.frame.options": "sameorigin",
}
PART_OF = {"app.kubernetes.io/part-of": "argocd"}


def cm_data(values_file: Path = VALUES_FILE) -> dict[str, str]:
    """`argocd-cm`'s data: the chart's defaults, then every `configs.cm` key of our values, as strings (how the chart
    writes them)."""
    values = yaml.safe_load(values_file.read_text()) or {}
    cm = (values.get("configs") or {}).get("cm") or {}
    ours = {key: value if isinstance(value, str) else yaml.safe_dump(value).strip() for key, value in cm.items()}
    return {**CHART_CM_DEFAULTS, **ours}


def rbac_data(values_file: Path = VALUES_FILE) -> dict[str, str]:
    """`argocd-rbac-cm`'s data: every `configs.rbac` key of our values, as the chart writes them (its defaults are
    empty strings, except `scopes`, which ours sets too)."""
    values = yaml.safe_load(values_file.read_text()) or {}
    return {key: str(value) for key, value in ((values.get("configs") or {}).get("rbac") or {}).items()}


def params_data(values_file: Path = VALUES_FILE) -> dict[str, str]:
    """`argocd-cmd-params-cm`'s data: the chart's defaults, then every `configs.params` key of our values."""
    values = yaml.safe_load(values_file.read_text()) or {}
    params = (values.get("configs") or {}).get("params") or {}
    return {**CHART_PARAMS_DEFAULTS, **{key: str(value) for key, value in params.items()}}


# The environment variables the upstream Deployments and StatefulSet set from argocd-cmd-params-cm (Argo CD's
# manifests/base/*/argocd-*-{deployment,statefulset}.yaml), for the keys our values set.
CONTROLLER_PARAM_ENV = {"controller.repo.error.grace.period.seconds": "ARGOCD_REPO_ERROR_GRACE_PERIOD_SECONDS"}


def controller_env(values_file: Path = VALUES_FILE) -> dict[str, str]:
    """What the application controller's StatefulSet would read from argocd-cmd-params-cm, as its environment."""
    params = params_data(values_file)
    return {env: params[key] for key, env in CONTROLLER_PARAM_ENV.items() if key in params}


def notifications_cm_data(values_file: Path = VALUES_FILE) -> dict[str, str]:
    """`argocd-notifications-cm`'s data as the chart writes it (templates/argocd-notifications/configmap.yaml):
    `context` (argocdUrl and `notifications.context`), then the keys of `notifications.notifiers`, `templates` and
    `triggers` as they are, and `notifications.subscriptions` as the YAML of key `subscriptions`."""
    notifications = (yaml.safe_load(values_file.read_text()) or {}).get("notifications") or {}
    context = {"argocdUrl": notifications.get("argocdUrl", ""), **(notifications.get("context") or {})}
    data = {"context": yaml.safe_dump(context, sort_keys=False)}
    for group in ("notifiers", "templates", "triggers"):
        data.update(notifications.get(group) or {})
    if notifications.get("subscriptions"):
        data["subscriptions"] = yaml.safe_dump(notifications["subscriptions"], sort_keys=False)
    return data


def settings_objects(values_file: Path = VALUES_FILE) -> list[dict[str, Any]]:
    def config_map(name: str, data: dict[str, str]) -> dict[str, Any]:
        labels = {**PART_OF, "app.kubernetes.io/name": name}
        return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": NAMESPACE,
                                                                      "labels": labels}, "data": data}  # fmt: skip

    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}},
        config_map("argocd-cm", cm_data(values_file)),
        config_map("argocd-cmd-params-cm", params_data(values_file)),
        config_map("argocd-rbac-cm", rbac_data(values_file)),
        config_map("argocd-ssh-known-hosts-cm", {}),
        config_map("argocd-tls-certs-cm", {}),
        config_map("argocd-gpg-keys-cm", {}),
        config_map("argocd-notifications-cm", notifications_cm_data(values_file)),
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {
                "name": "argocd-secret",
                "namespace": NAMESPACE,
                "labels": {**PART_OF, "app.kubernetes.io/name": "argocd-secret"},
            },
            "type": "Opaque",
        },
        {
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "AppProject",
            "metadata": {"name": "default", "namespace": NAMESPACE},
            "spec": {
                "sourceRepos": ["*"],
                "destinations": [{"server": "*", "namespace": "*"}],
                "clusterResourceWhitelist": [{"group": "*", "kind": "*"}],
            },
        },
    ]
