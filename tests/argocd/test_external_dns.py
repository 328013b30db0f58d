"""The Ingress host gets its DNS record from external-dns, which may change nothing else in Route 53."""

from __future__ import annotations

import pytest

from tests.argocd.argo_objects import applications, eksctl_config, helm_sources, helm_values, overlay_objects, wave
from tests.argocd.test_cluster_wiring import irsa_role
from tests.argocd.test_eksctl_configs import service_accounts
from tools.repository import ENVIRONMENTS


@pytest.fixture(params=ENVIRONMENTS)
def environment(request: pytest.FixtureRequest) -> str:
    return request.param


def ingress_hosts(environment: str) -> set[str]:
    ingresses = [doc for doc in overlay_objects(environment) if doc["kind"] == "Ingress"]
    assert ingresses
    return {rule["host"] for ingress in ingresses for rule in ingress["spec"]["rules"]}


def test_external_dns_runs_before_the_app_and_watches_ingresses(environment: str) -> None:
    apps = applications(environment)
    application = apps["external-dns"]
    (chart,) = helm_sources(application)
    assert chart["chart"] == "external-dns" and chart["targetRevision"][0].isdigit(), "a pinned chart version"
    assert wave(application) < wave(apps["notejam"])
    values = helm_values(application)
    assert values["provider"]["name"] == "aws"
    assert "ingress" in values["sources"]
    assert values["registry"] == "txt" and values["txtOwnerId"] == f"notejam-{environment}"


def test_its_domain_covers_the_ingress_host(environment: str) -> None:
    domains = helm_values(applications(environment)["external-dns"])["domainFilters"]
    for host in ingress_hosts(environment):
        assert any(host.endswith(f".{domain}") for domain in domains), host


def test_its_role_may_change_only_the_ingress_host_records(environment: str) -> None:
    values = helm_values(applications(environment)["external-dns"])
    account = values["serviceAccount"]
    assert account["annotations"]["eks.amazonaws.com/role-arn"] == irsa_role(
        environment, "kube-system", account["name"]
    )
    policy = service_accounts(eksctl_config(environment))[f"kube-system/{account['name']}"]["attachPolicy"]
    for statement in policy["Statement"]:
        assert all(not action.endswith("*") for action in statement["Action"])
        if "route53:ChangeResourceRecordSets" in statement["Action"]:
            names = statement["Condition"]["ForAllValues:StringLike"][
                "route53:ChangeResourceRecordSetsNormalizedRecordNames"
            ]
            hosts = ingress_hosts(environment)
            assert set(names) == hosts | {f"*-{host}" for host in hosts}
        else:
            assert all(action.split(":")[1].startswith(("List", "Get")) for action in statement["Action"])
