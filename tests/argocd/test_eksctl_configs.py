"""clusters/<env>/eksctl.yaml: valid for the eksctl release the Makefile pins, by that release's own ClusterConfig
JSON schema, and the invariants a schema cannot state."""

from __future__ import annotations

import copy
import ipaddress
import json
from collections.abc import Callable
from typing import Any

import jsonschema
import pytest
import yaml

from tests.argocd.argo_objects import ACCOUNTS, REGION, applications, eksctl_config, overlay_objects
from tools.k8s_schemas import kubernetes_version
from tools.repository import ENVIRONMENTS, REPO_ROOT, makefile_pin

# Node group bounds of the first three environments (issue 6): prod starts with a node per zone and grows for a 4x
# traffic jump. Totals over the node groups; prod has one group per zone (see the zone-spread test below). Another
# environment is held to the invariants only.
NODE_GROUP_SIZES = {"dev": (1, 3), "staging": (2, 5), "prod": (3, 12)}
CONTROL_PLANE_LOGS = {"api", "audit", "authenticator", "controllerManager", "scheduler"}
# What eksctl would install by default, less metrics-server, which Argo CD installs (apps/addons/metrics-server.yaml).
NETWORKING_ADDONS = {"vpc-cni", "kube-proxy", "coredns"}


EKSCTL_VERSION = makefile_pin("EKSCTL_VERSION")
# `make tools` copies it from the module's source, pkg/apis/eksctl.io/v1alpha5/assets/ (Makefile: EKSCTL_SCHEMA).
EKSCTL_SCHEMA = REPO_ROOT / ".tools" / f"eksctl-{EKSCTL_VERSION}" / "schema.json"


def service_accounts(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """IAM service accounts by `namespace/name`."""
    return {f"{sa['metadata']['namespace']}/{sa['metadata']['name']}": sa for sa in config["iam"]["serviceAccounts"]}


def required_service_accounts(environment: str) -> dict[str, str]:
    """`namespace/name` of every IRSA identity a cluster needs, with the role name docs/interfaces.md fixes (or '')."""
    return {
        "kube-system/cluster-autoscaler": "",
        "kube-system/aws-load-balancer-controller": "",
        "crossplane-system/provider-aws": f"notejam-{environment}-crossplane-provider-aws",
        f"notejam-{environment}/notejam": "",  # the app's, which External Secrets borrows (base/secretstore.yaml)
    }


def addons(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """EKS add-ons by name."""
    return {addon["name"]: addon for addon in config.get("addons") or []}


@pytest.fixture(params=ENVIRONMENTS)
def environment(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(scope="module")
def eksctl_schema() -> jsonschema.protocols.Validator:
    assert EKSCTL_SCHEMA.is_file(), f"no {EKSCTL_SCHEMA}: `make tools` fetches eksctl {EKSCTL_VERSION}'s schema"
    schema = json.loads(EKSCTL_SCHEMA.read_text())
    validator = jsonschema.validators.validator_for(schema)
    validator.check_schema(schema)
    return validator(schema)


def schema_errors(validator: jsonschema.protocols.Validator, config: dict[str, Any]) -> list[str]:
    """Each error as `<JSON path>: <message>`."""
    return [f"{error.json_path}: {error.message}" for error in validator.iter_errors(config)]


def test_the_config_is_valid_for_the_pinned_eksctl(
    environment: str, eksctl_schema: jsonschema.protocols.Validator
) -> None:
    assert schema_errors(eksctl_schema, eksctl_config(environment)) == []


# What the schema must reject, in a copy of dev's config. Nearly every object of the schema forbids unknown fields
# (additionalProperties: false), wellKnownPolicies too, so a misspelled policy fails here instead of granting
# nothing; it leaves free-form maps and documents open (tags, attachPolicy, configurationValues), which the tests
# below hold instead.
def wrong_type(config: dict[str, Any]) -> None:
    config["managedNodeGroups"][0]["minSize"] = "1"


def misspelled_field(config: dict[str, Any]) -> None:
    group = config["managedNodeGroups"][0]
    group["desiredCapasity"] = group.pop("desiredCapacity")


def misspelled_well_known_policy(config: dict[str, Any]) -> None:
    service_accounts(config)["kube-system/cluster-autoscaler"]["wellKnownPolicies"] = {"autoscaler": True}


def unknown_top_level_field(config: dict[str, Any]) -> None:
    config["managedNodegroups"] = config.pop("managedNodeGroups")


@pytest.mark.parametrize(
    ("breakage", "error"),
    [
        (wrong_type, "$.managedNodeGroups[0].minSize: '1' is not of type 'integer'"),
        (
            misspelled_field,
            "$.managedNodeGroups[0]: Additional properties are not allowed ('desiredCapasity' was unexpected)",
        ),
        (
            misspelled_well_known_policy,
            ".wellKnownPolicies: Additional properties are not allowed ('autoscaler' was unexpected)",
        ),
        (unknown_top_level_field, "$: Additional properties are not allowed ('managedNodegroups' was unexpected)"),
    ],
    ids=["wrong type", "misspelled field", "misspelled well-known policy", "unknown top-level field"],
)
def test_the_schema_rejects_a_broken_config(
    breakage: Callable[[dict[str, Any]], None], error: str, eksctl_schema: jsonschema.protocols.Validator
) -> None:
    config = copy.deepcopy(eksctl_config("dev"))
    breakage(config)
    errors = schema_errors(eksctl_schema, config)
    assert any(message.endswith(error) for message in errors), errors


def test_the_environments_are_the_cluster_folders() -> None:
    assert sorted(ENVIRONMENTS) == sorted(path.parent.name for path in REPO_ROOT.glob("clusters/*/eksctl.yaml"))


def test_cluster_is_named_for_its_environment_in_the_region(environment: str) -> None:
    config = eksctl_config(environment)
    assert config["apiVersion"] == "eksctl.io/v1alpha5" and config["kind"] == "ClusterConfig"
    assert config["metadata"]["name"] == f"notejam-{environment}"
    assert config["metadata"]["region"] == REGION


def test_kubernetes_version_is_the_one_validation_uses(environment: str) -> None:
    major, minor, *_ = kubernetes_version().split(".")
    assert eksctl_config(environment)["metadata"]["version"] == f"{major}.{minor}"


def test_three_availability_zones_in_the_region(environment: str) -> None:
    zones = eksctl_config(environment)["availabilityZones"]
    assert len(set(zones)) == 3 and all(zone.startswith(REGION) for zone in zones)


def test_oidc_is_on_for_irsa(environment: str) -> None:
    assert eksctl_config(environment)["iam"]["withOIDC"] is True


def test_the_public_api_endpoint_admits_only_the_listed_ranges(environment: str) -> None:
    """eksctl leaves the public endpoint open to 0.0.0.0/0 unless publicAccessCIDRs lists the ranges that may use it;
    nodes and pods use the private endpoint."""
    vpc = eksctl_config(environment)["vpc"]
    assert vpc["clusterEndpoints"] == {"privateAccess": True, "publicAccess": True}
    ranges = [ipaddress.ip_network(cidr) for cidr in vpc.get("publicAccessCIDRs") or []]
    assert ranges, "no publicAccessCIDRs: the API server would answer the whole internet"
    assert all(network.prefixlen >= 16 for network in ranges), f"too wide for an API endpoint: {ranges}"


def test_managed_node_groups_have_the_environments_bounds(environment: str) -> None:
    groups = eksctl_config(environment)["managedNodeGroups"]
    assert groups and "nodeGroups" not in eksctl_config(environment), "managed node groups only"
    if environment in NODE_GROUP_SIZES:
        low, high = NODE_GROUP_SIZES[environment]
        assert sum(g["minSize"] for g in groups) == low
        assert sum(g["maxSize"] for g in groups) == high
    for group in groups:
        assert group["minSize"] <= group["desiredCapacity"] <= group["maxSize"], group["name"]
        assert group["privateNetworking"] is True and group["volumeEncrypted"] is True, group["name"]


def test_a_hard_zone_spread_gets_one_node_group_per_zone(environment: str) -> None:
    """With DoNotSchedule over zones, a pod may need a node in one particular zone: the autoscaler can only add one
    there when each node group lives in a single zone."""
    (deployment,) = [o for o in overlay_objects(environment) if o["kind"] == "Deployment"]
    spread = deployment["spec"]["template"]["spec"]["topologySpreadConstraints"]
    hard = any(
        c["topologyKey"] == "topology.kubernetes.io/zone" and c["whenUnsatisfiable"] == "DoNotSchedule" for c in spread
    )
    config = eksctl_config(environment)
    if hard:
        zones = [group["availabilityZones"] for group in config["managedNodeGroups"]]
        assert all(len(z) == 1 for z in zones), zones
        assert sorted(z[0] for z in zones) == sorted(config["availabilityZones"])
    assert environment != "prod" or hard, "prod must keep its hard zone spread"


def test_node_groups_carry_the_autoscaler_discovery_tags(environment: str) -> None:
    config = eksctl_config(environment)
    cluster = config["metadata"]["name"]
    for group in config["managedNodeGroups"]:
        tags = group["tags"]
        assert tags["k8s.io/cluster-autoscaler/enabled"] == "true", group["name"]
        assert f"k8s.io/cluster-autoscaler/{cluster}" in tags, group["name"]
        assert group["propagateASGTags"] is True, "the autoscaler reads the tags on the Auto Scaling group"


def test_irsa_roles_for_the_autoscaler_lb_controller_crossplane_and_secrets(environment: str) -> None:
    accounts = service_accounts(eksctl_config(environment))
    for identity, role_name in required_service_accounts(environment).items():
        assert identity in accounts, f"{environment}: no IAM role for {identity}"
        account = accounts[identity]
        assert account["roleName"].startswith(f"notejam-{environment}-"), identity
        if role_name:
            assert account["roleName"] == role_name
        # The charts, Crossplane and the app own their ServiceAccounts and annotate them with the role from git.
        assert account["roleOnly"] is True, identity
        assert account.get("wellKnownPolicies") or account.get("attachPolicyARNs") or account.get("attachPolicy")


def test_well_known_policies_match_their_controllers(environment: str) -> None:
    accounts = service_accounts(eksctl_config(environment))
    assert accounts["kube-system/cluster-autoscaler"]["wellKnownPolicies"] == {"autoScaler": True}
    assert accounts["kube-system/aws-load-balancer-controller"]["wellKnownPolicies"] == {
        "awsLoadBalancerController": True
    }


def test_app_secrets_role_reads_only_its_environments_secrets(environment: str) -> None:
    policy = service_accounts(eksctl_config(environment))[f"notejam-{environment}/notejam"]["attachPolicy"]
    resources = {statement["Resource"] for statement in policy["Statement"]}
    assert resources == {f"arn:aws:secretsmanager:{REGION}:{ACCOUNTS[environment]}:secret:notejam/{environment}/*"}
    actions = {action for statement in policy["Statement"] for action in statement["Action"]}
    assert actions <= {"secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"}


def test_control_plane_logging_is_on(environment: str) -> None:
    logging = eksctl_config(environment)["cloudWatch"]["clusterLogging"]
    assert set(logging["enableTypes"]) == CONTROL_PLANE_LOGS
    assert logging["logRetentionInDays"] > 0


def test_vpc_cni_runs_the_network_policy_agent(environment: str) -> None:
    assert any(doc["kind"] == "NetworkPolicy" for doc in overlay_objects(environment)), "nothing to enforce"
    vpc_cni = addons(eksctl_config(environment)).get("vpc-cni")
    assert vpc_cni, f"{environment}: no vpc-cni add-on, so no network policy agent"
    # eksctl hands configurationValues to EKS as JSON (YAML is converted); the add-on's schema wants a string.
    assert yaml.safe_load(vpc_cni["configurationValues"])["enableNetworkPolicy"] == "true"


def test_metrics_server_comes_only_from_git(environment: str) -> None:
    config = eksctl_config(environment)
    # Without this eksctl adds every default add-on it knows, metrics-server included (eksctl-io/eksctl#8652).
    assert config["addonsConfig"]["disableDefaultAddons"] is True
    assert set(addons(config)) >= NETWORKING_ADDONS, NETWORKING_ADDONS - set(addons(config))
    assert "metrics-server" not in addons(config)
    assert "metrics-server" in applications(environment)
