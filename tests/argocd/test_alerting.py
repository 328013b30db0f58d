"""Alerts reach a person: Alertmanager routes to a receiver whose URL comes from a synced Secret, Prometheus keeps
its data on a volume, no monitor waits for a control-plane component EKS does not expose, and every alert links a
runbook section that exists."""

from __future__ import annotations

import re
from pathlib import PurePosixPath

import pytest
import yaml

from tests.argocd.argo_objects import applications, eksctl_config, git_paths, helm_values, source_objects
from tests.argocd.test_argocd_alerts import argocd_rules
from tests.argocd.test_cluster_wiring import irsa_role
from tools.bootstrap_account import secret_names
from tools.repository import ENVIRONMENTS, REPO_ROOT

RUNBOOK = REPO_ROOT / "docs" / "runbook.md"
RUNBOOK_URL = "https://github.com/notejam/notejam-gitops/blob/main/docs/runbook.md#"
SECRETS_MOUNT = PurePosixPath("/etc/alertmanager/secrets")  # prometheus-operator mounts alertmanagerSpec.secrets here
NOT_ON_EKS = ("kubeControllerManager", "kubeScheduler", "kubeEtcd", "kubeProxy")


@pytest.fixture(params=ENVIRONMENTS)
def environment(request: pytest.FixtureRequest) -> str:
    return request.param


def stack(environment: str):
    application = applications(environment)["kube-prometheus-stack"]
    extras = [
        doc for path in git_paths(application) for doc in source_objects(environment, "kube-prometheus-stack", path)
    ]
    return helm_values(application), extras


def of_kind(documents, kind: str) -> dict[str, dict]:
    return {doc["metadata"]["name"]: doc for doc in documents if doc["kind"] == kind}


def synced_secret_key(environment: str, url_file: str) -> None:
    """`url_file` is a key of a Secret Alertmanager mounts, which External Secrets copies from
    notejam/<env>/alertmanager with the IRSA role the cluster gives it."""
    values, extras = stack(environment)
    secret_name, key = PurePosixPath(url_file).relative_to(SECRETS_MOUNT).parts
    assert secret_name in values["alertmanager"]["alertmanagerSpec"]["secrets"]
    (external,) = [e for e in of_kind(extras, "ExternalSecret").values() if e["spec"]["target"]["name"] == secret_name]
    # dataFrom extract: every key of the JSON secret, which the account bootstrap creates with `key` among them.
    assert [item["extract"]["key"] for item in external["spec"]["dataFrom"]] == [f"notejam/{environment}/alertmanager"]
    assert key in secret_names(environment)[f"notejam/{environment}/alertmanager"], f"the bootstrap creates no {key}"
    store = of_kind(extras, "SecretStore")[external["spec"]["secretStoreRef"]["name"]]
    account_name = store["spec"]["provider"]["aws"]["auth"]["jwt"]["serviceAccountRef"]["name"]
    account = of_kind(extras, "ServiceAccount")[account_name]
    expected = irsa_role(environment, "monitoring", account_name)
    assert account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"] == expected


def test_alerts_route_to_a_receiver_whose_url_is_a_synced_secret(environment: str) -> None:
    values, _ = stack(environment)
    config = values["alertmanager"]["config"]
    default = config["route"]["receiver"]
    assert default != "null", "the default route must reach somebody"
    (receiver,) = [r for r in config["receivers"] if r["name"] == default]
    (webhook,) = receiver["webhook_configs"]
    assert "url" not in webhook, "the URL is a secret: url_file only"
    synced_secret_key(environment, webhook["url_file"])


def test_watchdog_checks_in_with_a_dead_mans_switch_every_minute(environment: str) -> None:
    """The always-firing Watchdog proves the pipeline works only if something notices when it stops."""
    values, _ = stack(environment)
    config = values["alertmanager"]["config"]
    (route,) = [r for r in config["route"]["routes"] if r["matchers"] == ['alertname = "Watchdog"']]
    assert route["receiver"] != "null" and route["repeat_interval"] == "1m" and route.get("continue") is not True
    (receiver,) = [r for r in config["receivers"] if r["name"] == route["receiver"]]
    (webhook,) = receiver["webhook_configs"]
    assert "url" not in webhook and webhook["send_resolved"] is False
    synced_secret_key(environment, webhook["url_file"])


def test_only_the_inhibition_helper_goes_to_null(environment: str) -> None:
    values, _ = stack(environment)
    null_routes = [r for r in values["alertmanager"]["config"]["route"]["routes"] if r["receiver"] == "null"]
    assert [r["matchers"] for r in null_routes] == [['alertname = "InfoInhibitor"']]


def test_no_monitor_for_what_eks_does_not_expose(environment: str) -> None:
    values, _ = stack(environment)
    for component in NOT_ON_EKS:
        assert values.get(component, {}).get("enabled") is False, component


def test_prometheus_keeps_its_data_on_an_ebs_volume(environment: str) -> None:
    values, extras = stack(environment)
    claim = values["prometheus"]["prometheusSpec"]["storageSpec"]["volumeClaimTemplate"]["spec"]
    assert re.fullmatch(r"\d+Gi", claim["resources"]["requests"]["storage"])
    storage_class = of_kind(extras, "StorageClass")[claim["storageClassName"]]
    assert storage_class["provisioner"] == "ebs.csi.aws.com"
    assert storage_class["volumeBindingMode"] == "WaitForFirstConsumer"
    addons = {addon["name"]: addon for addon in eksctl_config(environment)["addons"]}
    assert addons["aws-ebs-csi-driver"]["wellKnownPolicies"] == {"ebsCSIController": True}


def runbook_anchors() -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces as hyphens."""
    headings = re.findall(r"^#{1,6} (.+)$", RUNBOOK.read_text(), flags=re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-") for heading in headings}


def alerting_rules() -> list[dict]:
    """Every alert of the repository: the app's PrometheusRule, and the rules the argo-cd chart writes from
    `controller.metrics.rules` of apps/argocd/values.yaml."""
    rules = argocd_rules()
    for path in ("base/prometheusrule.yaml", "apps/addons/monitoring/prometheusrule-aws.yaml"):
        rule = yaml.safe_load((REPO_ROOT / path).read_text())
        rules += [r for group in rule["spec"]["groups"] for r in group["rules"]]
    return [r for r in rules if "alert" in r]


def test_every_alert_links_a_runbook_section_that_exists() -> None:
    alerts = alerting_rules()
    assert {"NotejamHighErrorRate", "ArgoCDApplicationOutOfSync", "NotejamBackupFunctionFailed"} <= {
        alert["alert"] for alert in alerts
    }
    anchors = runbook_anchors()
    for alert in alerts:
        url = alert["annotations"].get("runbook_url", "")
        assert url.startswith(RUNBOOK_URL), f"{alert['alert']}: runbook_url {url!r}"
        assert url.removeprefix(RUNBOOK_URL) in anchors, f"{alert['alert']}: no section {url}"
