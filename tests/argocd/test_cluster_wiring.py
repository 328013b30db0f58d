"""What each cluster's git says about AWS matches what its eksctl.yaml creates: names, roles, accounts."""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path

import pytest
import yaml

from tests.argocd.argo_objects import (
    ACCOUNTS,
    applications,
    cluster_objects,
    eksctl_config,
    git_paths,
    helm_values,
    overlay_objects,
    role_arn,
    source_objects,
)
from tests.crossplane.package_manager import runtime_service_account
from tools.repository import ENVIRONMENTS, REPO_ROOT

ROLE_ANNOTATION = "eks.amazonaws.com/role-arn"
ACCOUNT_IN_ARN = re.compile(r"arn:aws:[a-z0-9-]*:[a-z0-9-]*:(\d{12}):")


def irsa_role(environment: str, namespace: str, name: str) -> str:
    """The role ARN eksctl creates for ServiceAccount `namespace/name`."""
    for account in eksctl_config(environment)["iam"]["serviceAccounts"]:
        if account["metadata"] == {"name": name, "namespace": namespace}:
            return role_arn(environment, account["roleName"])
    raise AssertionError(f"{environment}: eksctl.yaml creates no role for {namespace}/{name}")


@pytest.fixture(params=ENVIRONMENTS)
def environment(request: pytest.FixtureRequest) -> str:
    return request.param


def test_cluster_autoscaler_discovers_this_clusters_node_groups_with_its_role(environment: str) -> None:
    application = applications(environment)["cluster-autoscaler"]
    values = helm_values(application)
    assert values["autoDiscovery"]["clusterName"] == eksctl_config(environment)["metadata"]["name"]
    account = values["rbac"]["serviceAccount"]
    namespace = application["spec"]["destination"]["namespace"]
    assert account["annotations"][ROLE_ANNOTATION] == irsa_role(environment, namespace, account["name"])
    assert values["awsRegion"] == eksctl_config(environment)["metadata"]["region"]


def test_autoscaler_minor_version_matches_the_control_plane(environment: str) -> None:
    tag = helm_values(applications(environment)["cluster-autoscaler"])["image"]["tag"]
    assert tag.removeprefix("v").startswith(eksctl_config(environment)["metadata"]["version"] + ".")


def test_load_balancer_controller_runs_for_this_cluster_with_its_role(environment: str) -> None:
    application = applications(environment)["aws-load-balancer-controller"]
    values = helm_values(application)
    assert values["clusterName"] == eksctl_config(environment)["metadata"]["name"]
    account = values["serviceAccount"]
    namespace = application["spec"]["destination"]["namespace"]
    assert account["annotations"][ROLE_ANNOTATION] == irsa_role(environment, namespace, account["name"])


def test_crossplane_providers_run_with_this_clusters_role(environment: str) -> None:
    (path,) = git_paths(applications(environment)["crossplane-packages"])
    assert path == "crossplane/packages"
    documents = source_objects(environment, "crossplane-packages", path)
    runtime_configs = [d for d in documents if d["kind"] == "DeploymentRuntimeConfig"]
    assert runtime_configs, f"{path} renders no DeploymentRuntimeConfig"
    accounts = {d["metadata"]["name"]: d["metadata"] for d in documents if d["kind"] == "ServiceAccount"}
    for runtime_config in runtime_configs:
        account = accounts[runtime_service_account(runtime_config)]
        expected = irsa_role(environment, "crossplane-system", account["name"])
        assert account["annotations"][ROLE_ANNOTATION] == expected


def test_app_service_account_uses_the_secrets_role_eksctl_creates(environment: str) -> None:
    accounts = [d for d in overlay_objects(environment) if d["kind"] == "ServiceAccount"]
    assert accounts
    for account in accounts:
        metadata = account["metadata"]
        expected = irsa_role(environment, metadata["namespace"], metadata["name"])
        assert metadata["annotations"][ROLE_ANNOTATION] == expected


def test_app_secrets_are_within_what_the_secrets_role_may_read(environment: str) -> None:
    policy = next(
        account["attachPolicy"]
        for account in eksctl_config(environment)["iam"]["serviceAccounts"]
        if account["metadata"]["name"] == "notejam"
    )
    (allowed,) = {statement["Resource"] for statement in policy["Statement"]}
    prefix = allowed.split(":secret:", 1)[1].removesuffix("*")
    secrets = [d for d in overlay_objects(environment) if d["kind"] == "ExternalSecret"]
    assert secrets
    for secret in secrets:
        for item in secret["spec"].get("data") or []:
            assert item["remoteRef"]["key"].startswith(prefix), item["remoteRef"]["key"]


def account_ids(text: str) -> set[str]:
    return set(ACCOUNT_IN_ARN.findall(text))


def test_each_cluster_names_only_its_own_account(environment: str) -> None:
    cluster_dir = REPO_ROOT / "clusters" / environment
    texts = [yaml.safe_dump(list(cluster_objects(environment)))]
    texts += [path.read_text() for path in sorted(Path(cluster_dir).rglob("*.yaml"))]
    found = set().union(*(account_ids(text) for text in texts))
    assert found == {ACCOUNTS[environment]}


def test_each_overlay_names_only_its_clusters_account(environment: str) -> None:
    objects = list(overlay_objects(environment))
    (backup,) = [o for o in objects if o["kind"] == "DatabaseBackup"]
    parameters = backup["spec"]["parameters"]
    found = account_ids(yaml.safe_dump(objects)) | {parameters["accountId"]}
    found.add(parameters["lambdaCode"]["bucket"].rsplit("-", 1)[-1])  # notejam-artifacts-<account>
    assert found == {ACCOUNTS[environment]}


def test_account_reader_finds_a_foreign_account() -> None:
    assert account_ids("arn:aws:iam::999999999999:role/x arn:aws:iam::aws:policy/IAMFullAccess") == {"999999999999"}


def vpc_cidr(environment: str) -> ipaddress.IPv4Network:
    return ipaddress.ip_network(eksctl_config(environment)["vpc"]["cidr"])


def test_database_admits_exactly_this_clusters_vpc(environment: str) -> None:
    claims = [d for d in overlay_objects(environment) if d["kind"] == "PostgreSQLInstance"]
    assert claims
    for claim in claims:
        blocks = [ipaddress.ip_network(c) for c in claim["spec"]["parameters"]["network"]["clientCidrBlocks"]]
        assert blocks == [vpc_cidr(environment)]


def ip_blocks(environment: str, direction: str) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """The ipBlocks of the app's NetworkPolicies, in `direction` ("ingress": from, "egress": to)."""
    peers = "from" if direction == "ingress" else "to"
    return [
        ipaddress.ip_network(peer["ipBlock"]["cidr"])
        for doc in overlay_objects(environment)
        if doc["kind"] == "NetworkPolicy"
        for rule in doc["spec"].get(direction) or []
        for peer in rule.get(peers) or []
        if "ipBlock" in peer
    ]


def test_network_policies_reach_rds_in_the_vpc_and_admit_only_part_of_it(environment: str) -> None:
    """RDS lives in the VPC: the egress ranges contain it. The ALB lives in its public subnets: the ingress ranges
    are inside the VPC and smaller than it (the VPC, with the VPC CNI, is every pod of the cluster)."""
    vpc = vpc_cidr(environment)
    assert ip_blocks(environment, "egress") and ip_blocks(environment, "ingress")
    for block in ip_blocks(environment, "egress"):
        assert vpc.subnet_of(block), f"egress {block} does not contain the VPC {vpc}"
    for block in ip_blocks(environment, "ingress"):
        assert block.subnet_of(vpc) and block != vpc, f"ingress {block} is not a part of the VPC {vpc}"


def test_prometheus_may_scrape_the_app_from_where_kube_prometheus_stack_runs(environment: str) -> None:
    namespace = applications(environment)["kube-prometheus-stack"]["spec"]["destination"]["namespace"]
    selectors = [
        peer["namespaceSelector"]["matchLabels"]
        for doc in overlay_objects(environment)
        if doc["kind"] == "NetworkPolicy"
        for rule in doc["spec"].get("ingress") or []
        for peer in rule.get("from") or []
        if "namespaceSelector" in peer
    ]
    assert {"kubernetes.io/metadata.name": namespace} in selectors
