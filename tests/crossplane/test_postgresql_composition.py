"""What a PostgreSQLInstance claim composes: private, encrypted, backed up, protected where it matters."""

from __future__ import annotations

import pytest

from tests.crossplane.conftest import by_name, render_until_settled, resource_name
from tools.crossplane_composite import CompositionRenderError
from tools.render import render_claim

PASSWORD = {"rds-instance": {"attribute.password": "s3cret", "attribute.unrelated": "x"}}


def instance_of(claim):
    return by_name(render_claim(claim).resources)["rds-instance"]


def test_composes_key_subnet_group_security_group_rule_and_instance(examples):
    resources = by_name(render_claim(examples["PostgreSQLInstance"]).resources)
    assert {name: resource["kind"] for name, resource in resources.items()} == {
        "kms-key": "Key",
        "subnet-group": "SubnetGroup",
        "security-group": "SecurityGroup",
        "security-group-ingress-postgresql-10-10-0-0-16": "SecurityGroupIngressRule",
        "rds-instance": "Instance",
    }
    assert resources["rds-instance"]["apiVersion"] == "rds.aws.upbound.io/v1beta3"


def test_instance_is_encrypted_private_and_backed_up(examples):
    for_provider = instance_of(examples["PostgreSQLInstance"])["spec"]["forProvider"]
    assert for_provider["engine"] == "postgres"
    assert for_provider["storageEncrypted"] is True
    assert for_provider["kmsKeyIdSelector"] == {"matchControllerRef": True}
    assert for_provider["publiclyAccessible"] is False
    assert for_provider["copyTagsToSnapshot"] is True
    assert for_provider["backupRetentionPeriod"] == 7
    # The password is the claim's Secret, next to the claim (written by External Secrets), never one that upjet
    # generates: that one is owned by the managed resource and garbage-collected with it.
    assert "autoGeneratePassword" not in for_provider
    assert for_provider["passwordSecretRef"] == {
        "namespace": "notejam-dev",
        "key": "password",
        "name": "notejam-db-master-password",
    }


def test_identifier_is_claim_namespace_dash_claim_name(examples, claim_variant):
    assert instance_of(examples["PostgreSQLInstance"])["spec"]["forProvider"]["identifier"] == "notejam-dev-notejam-db"
    prod = claim_variant("PostgreSQLInstance", namespace="notejam-prod")
    assert instance_of(prod)["spec"]["forProvider"]["identifier"] == "notejam-prod-notejam-db"


@pytest.mark.parametrize(
    ("size", "instance_class"),
    [("small", "db.t4g.micro"), ("medium", "db.t4g.medium"), ("large", "db.m7g.large")],
)
def test_size_maps_to_instance_class(claim_variant, size, instance_class):
    assert instance_of(claim_variant("PostgreSQLInstance", size=size))["spec"]["forProvider"]["instanceClass"] == (
        instance_class
    )


def test_unknown_size_is_rejected_by_the_api(claim_variant):
    with pytest.raises(CompositionRenderError, match=r"spec\.parameters\.size: 'huge' is not one of"):
        render_claim(claim_variant("PostgreSQLInstance", size="huge"))


def test_patched_values_land_in_the_right_fields(claim_variant):
    claim = claim_variant(
        "PostgreSQLInstance",
        region="eu-central-1",
        storageGB=50,
        maxStorageGB=500,
        engineVersion="17",
        backupRetentionDays=14,
    )
    resources = by_name(render_claim(claim).resources)
    for_provider = resources["rds-instance"]["spec"]["forProvider"]
    assert (for_provider["allocatedStorage"], for_provider["maxAllocatedStorage"]) == (50, 500)
    assert for_provider["engineVersion"] == "17"
    assert for_provider["backupRetentionPeriod"] == 14
    assert for_provider["dbName"] == "notejam"
    assert {resource["spec"]["forProvider"]["region"] for resource in resources.values()} == {"eu-central-1"}
    assert resources["subnet-group"]["spec"]["forProvider"]["subnetIds"] == [
        "subnet-0dev000000000000a",
        "subnet-0dev000000000000b",
        "subnet-0dev000000000000c",
    ]
    assert resources["security-group"]["spec"]["forProvider"]["vpcId"] == "vpc-0dev0000000000000"


def test_dev_is_single_az_unprotected_without_final_snapshot(examples):
    for_provider = instance_of(examples["PostgreSQLInstance"])["spec"]["forProvider"]
    assert for_provider["multiAz"] is False
    assert for_provider["deletionProtection"] is False
    assert for_provider["skipFinalSnapshot"] is True


def test_protected_highly_available_instance_keeps_a_final_snapshot(claim_variant):
    claim = claim_variant(
        "PostgreSQLInstance", namespace="notejam-prod", highAvailability=True, deletionProtection=True
    )
    for_provider = instance_of(claim)["spec"]["forProvider"]
    assert for_provider["multiAz"] is True
    assert for_provider["deletionProtection"] is True
    assert for_provider["skipFinalSnapshot"] is False
    assert for_provider["finalSnapshotIdentifier"] == "notejam-prod-notejam-db-final"


def test_postgresql_ingress_only_from_the_given_cidrs(claim_variant):
    claim = claim_variant(
        "PostgreSQLInstance",
        network={
            "vpcId": "vpc-0abc",
            "subnetIds": ["subnet-0a", "subnet-0b"],
            "clientCidrBlocks": ["10.1.0.0/16", "10.2.0.0/16"],
        },
    )
    rules = [resource for resource in render_claim(claim).resources if resource["kind"] == "SecurityGroupIngressRule"]
    assert sorted(resource_name(rule) for rule in rules) == [
        "security-group-ingress-postgresql-10-1-0-0-16",
        "security-group-ingress-postgresql-10-2-0-0-16",
    ]
    for rule in rules:
        for_provider = rule["spec"]["forProvider"]
        assert (for_provider["ipProtocol"], for_provider["fromPort"], for_provider["toPort"]) == ("tcp", 5432, 5432)
        assert for_provider["securityGroupIdSelector"] == {"matchControllerRef": True}
    assert sorted(rule["spec"]["forProvider"]["cidrIpv4"] for rule in rules) == ["10.1.0.0/16", "10.2.0.0/16"]


ORPHANED = {  # what a deleted prod claim left in AWS (docs/runbook.md, "Adopting an orphaned database")
    "instanceResourceId": "db-ABCDEFGHIJKLMNOPQRSTUVWXY0",
    "kmsKeyId": "1234abcd-12ab-34cd-56ef-1234567890ab",
    "subnetGroupName": "notejam-db-x7k2p-9qv4c",
    "securityGroupId": "sg-0123456789abcdef0",
    "securityGroupRuleIds": {"10.30.0.0/16": "sgr-0fedcba9876543210"},
}


def test_a_new_claim_adopts_what_a_deleted_one_orphaned_by_external_name(claim_variant):
    prod = claim_variant(
        "PostgreSQLInstance",
        namespace="notejam-prod",
        deletionProtection=True,
        adopt=ORPHANED,
        network={"vpcId": "vpc-0abc", "subnetIds": ["subnet-0a", "subnet-0b"], "clientCidrBlocks": ["10.30.0.0/16"]},
    )
    external_names = {
        resource_name(resource): resource["metadata"]["annotations"].get("crossplane.io/external-name")
        for resource in render_until_settled(prod, PASSWORD).resources
    }
    assert external_names == {
        "rds-instance": ORPHANED["instanceResourceId"],
        "kms-key": ORPHANED["kmsKeyId"],
        "subnet-group": ORPHANED["subnetGroupName"],
        "security-group": ORPHANED["securityGroupId"],
        "security-group-ingress-postgresql-10-30-0-0-16": "sgr-0fedcba9876543210",
    }
    # The same identifier, and the same password Secret the orphaned instance was created with.
    for_provider = instance_of(prod)["spec"]["forProvider"]
    assert for_provider["identifier"] == "notejam-prod-notejam-db"
    assert for_provider["passwordSecretRef"]["name"] == "notejam-db-master-password"


def test_without_adopt_nothing_carries_an_external_name(examples):
    for resource in render_claim(examples["PostgreSQLInstance"]).resources:
        assert "crossplane.io/external-name" not in resource["metadata"].get("annotations", {}), resource["kind"]


def test_the_api_refuses_an_adoption_with_a_malformed_id(claim_variant):
    claim = claim_variant("PostgreSQLInstance", adopt={"instanceResourceId": "notejam-prod-notejam-db"})
    with pytest.raises(CompositionRenderError, match=r"spec\.parameters\.adopt\.instanceResourceId"):
        render_claim(claim)


def test_connection_secret_has_exactly_the_keys_the_app_reads(examples):
    rendering = render_until_settled(examples["PostgreSQLInstance"], PASSWORD)
    assert rendering.connection_details == {
        "host": "notejam.abc123.eu-west-1.rds.amazonaws.com",
        "port": "5432",
        "username": "notejam_admin",
        "password": "s3cret",
        "database": "notejam",
    }


def test_observed_instance_reports_address_and_arn_on_the_composite(examples):
    rendering = render_until_settled(examples["PostgreSQLInstance"], PASSWORD)
    assert rendering.composite["status"]["address"] == "notejam.abc123.eu-west-1.rds.amazonaws.com"
    assert rendering.composite["status"]["arn"].endswith(":instance/rds-instance")
