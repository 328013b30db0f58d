"""Argo CD Notifications reach on-call: every Application is subscribed to a failed sync, a degraded health and each
deployment, sent to a webhook whose URL comes from AWS Secrets Manager through External Secrets, with the IRSA role
the cluster creates and the secret the bootstrap creates. (That the controller sends them: tests/live.)"""

from __future__ import annotations

import re

import pytest
import yaml

from tests.argocd.argo_objects import applications, eksctl_config, git_paths, of_kind, source_objects
from tests.argocd.test_alerting import RUNBOOK_URL, runbook_anchors
from tests.argocd.test_cluster_wiring import ROLE_ANNOTATION, irsa_role
from tools.cluster import argocd_settings
from tools.cluster.fake_controllers.external_secrets import documented_secrets
from tools.repository import ENVIRONMENTS

TRIGGERS = {"on-sync-failed", "on-health-degraded", "on-deployed"}
SECRET_NAME = "argocd-notifications-secret"  # the controller's --secret-name default


@pytest.fixture(scope="module")
def notifications() -> dict:
    return yaml.safe_load(argocd_settings.VALUES_FILE.read_text())["notifications"]


def test_every_application_is_subscribed_to_the_three_events(notifications: dict) -> None:
    assert notifications["enabled"] is True
    [subscription] = notifications["subscriptions"]
    assert "selector" not in subscription, "the default subscription covers every Application"
    assert set(subscription["triggers"]) == TRIGGERS
    assert subscription["recipients"] == ["on-call"]


def test_each_trigger_sends_a_template_that_posts_to_the_on_call_webhook(notifications: dict) -> None:
    data = argocd_settings.notifications_cm_data()
    for trigger in TRIGGERS:
        [condition] = yaml.safe_load(data[f"trigger.{trigger}"])
        assert condition["oncePer"] == "app.status.operationState?.syncResult?.revision", trigger
        for template in condition["send"]:
            webhook = yaml.safe_load(data[f"template.{template}"])["webhook"]
            assert list(webhook) == ["on-call"] and webhook["on-call"]["method"] == "POST", template
    failed = yaml.safe_load(data["trigger.on-sync-failed"])[0]["when"]
    assert "'Error', 'Failed'" in failed
    assert yaml.safe_load(data["trigger.on-health-degraded"])[0]["when"] == "app.status.health.status == 'Degraded'"


def test_the_webhook_url_is_a_secret_that_external_secrets_writes(notifications: dict) -> None:
    service = yaml.safe_load(notifications["notifiers"]["service.webhook.on-call"])
    assert service["url"].startswith("$"), "the URL carries the on-call tool's key: a reference into the Secret"
    assert notifications["secret"]["create"] is False, "the chart's empty Secret would fight External Secrets"
    key = service["url"][1:]
    for environment in ENVIRONMENTS:
        assert "apps/argocd/secrets" in git_paths(applications(environment)["argocd"])
        objects = source_objects(environment, "argocd", "apps/argocd/secrets")
        external = of_kind(objects, "ExternalSecret")[SECRET_NAME]
        assert external["spec"]["target"]["name"] == SECRET_NAME
        [item] = external["spec"]["data"]
        assert item["secretKey"] == key
        remote = item["remoteRef"]
        assert remote["key"] == f"notejam/{environment}/argocd-notifications"
        assert remote["property"] in documented_secrets()[remote["key"]], "make bootstrap-account creates it"
        store = of_kind(objects, "SecretStore")[external["spec"]["secretStoreRef"]["name"]]
        account_name = store["spec"]["provider"]["aws"]["auth"]["jwt"]["serviceAccountRef"]["name"]
        account = of_kind(objects, "ServiceAccount")[account_name]
        assert account["metadata"]["annotations"][ROLE_ANNOTATION] == irsa_role(environment, "argocd", account_name)
        [policy] = [
            a["attachPolicy"] for a in eksctl_config(environment)["iam"]["serviceAccounts"]
            if a["metadata"] == {"name": account_name, "namespace": "argocd"}
        ]  # fmt: skip
        [statement] = policy["Statement"]
        assert any(
            arn.endswith(f":secret:notejam/{environment}/argocd-notifications-*") for arn in statement["Resource"]
        )


def test_a_failed_sync_links_its_runbook_section() -> None:
    template = argocd_settings.notifications_cm_data()["template.app-sync-failed"]
    [url] = re.findall(rf"{re.escape(RUNBOOK_URL)}[\w-]+", template)
    assert url.removeprefix(RUNBOOK_URL) in runbook_anchors()
