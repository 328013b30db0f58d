"""PostgreSQLInstance: a KMS key, a subnet group, a security group with a 5432 ingress rule per client CIDR block,
and the RDS instance.

The instance identifier is <claim namespace>-<claim name> (docs/interfaces.md); the connection secret carries
exactly the keys the app reads. The master password is read from a Secret in the claim's namespace that External
Secrets writes from AWS Secrets Manager, so no deletion can take its only copy. `adopt` re-attaches what a deleted
claim orphaned, by external name. Everything else follows the claim's parameters (crossplane/apis/postgresql).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping

from function.state import Object, Observed, without_none

# Where the composed instance writes its connection secret (Crossplane's own namespace).
SECRETS_NAMESPACE = "crossplane-system"
# Name of the instance's resource; the composite's address, ARN and connection details come from it.
INSTANCE = "rds-instance"
# The external resource a managed resource is (crossplane-runtime meta.AnnotationKeyExternalName).
EXTERNAL_NAME = "crossplane.io/external-name"
# The composed resources `adopt` can name, by the adopt parameter that holds their external name. Upjet's external
# names for these kinds (provider-upjet-aws config/externalname.go): aws_db_instance and aws_security_group are
# IdentifierFromProvider (the DbiResourceId, the sg- id), aws_kms_key too (the key id), aws_db_subnet_group is
# NameAsIdentifier (its name), aws_vpc_security_group_ingress_rule its sgr- id.
ADOPTABLE = {
    "kms-key": "kmsKeyId",
    "subnet-group": "subnetGroupName",
    "security-group": "securityGroupId",
    INSTANCE: "instanceResourceId",
}
INGRESS_RULE_PREFIX = "security-group-ingress-postgresql-"


def _region(observed: Observed) -> str:
    return observed.parameters["region"]


def _adopted(build: Callable[[Observed], Object], external_name: str | None) -> Callable[[Observed], Object]:
    """A resource `adopt` names is observed and taken over under that external name instead of being created."""
    if not external_name:
        return build

    def with_external_name(observed: Observed) -> Object:
        resource = build(observed)
        metadata = resource.setdefault("metadata", {})
        metadata["annotations"] = {**metadata.get("annotations", {}), EXTERNAL_NAME: external_name}
        return resource

    return with_external_name


def _kept_if_protected(build: Callable[[Observed], Object]) -> Callable[[Observed], Object]:
    """A protected database (prod) survives the deletion of its claim: the instance and what it needs to be reached
    (subnet group, security group, rule) are orphaned, not deleted. Unprotected ones are cleaned up."""

    def with_deletion_policy(observed: Observed) -> Object:
        resource = build(observed)
        protected = observed.parameters.get("deletionProtection")
        if protected is not None:
            resource["spec"] = {"deletionPolicy": "Orphan" if protected else "Delete", **resource["spec"]}
        return resource

    return with_deletion_policy


def kms_key(observed: Observed) -> Object:
    return {
        "apiVersion": "kms.aws.upbound.io/v1beta1",
        "kind": "Key",
        "spec": {
            # Never deleted with the claim, in any environment: the final snapshot and the retained backups are
            # encrypted with it, and a deleted key makes them unreadable. Removing a key is a person's decision.
            "deletionPolicy": "Orphan",
            "forProvider": {
                "description": "Encrypts a Notejam PostgreSQL instance, its snapshots and its master password.",
                "enableKeyRotation": True,
                # 30 days (the maximum) to notice and cancel an accidental key deletion.
                "deletionWindowInDays": 30,
                "region": _region(observed),
            },
        },
    }


def subnet_group(observed: Observed) -> Object:
    return {
        "apiVersion": "rds.aws.upbound.io/v1beta1",
        "kind": "SubnetGroup",
        "spec": {
            "forProvider": without_none(
                {
                    "description": "Private subnets of the Notejam database.",
                    "region": _region(observed),
                    "subnetIds": observed.parameters.get("network", {}).get("subnetIds"),
                }
            )
        },
    }


def security_group(observed: Observed) -> Object:
    namespace, name = observed.claim()
    return {
        "apiVersion": "ec2.aws.upbound.io/v1beta1",
        "kind": "SecurityGroup",
        "spec": {
            "forProvider": without_none(
                {
                    "description": "PostgreSQL 5432 from the cluster's nodes only.",
                    "region": _region(observed),
                    "vpcId": observed.parameters.get("network", {}).get("vpcId"),
                    "name": f"{namespace}-{name}-postgresql",
                }
            )
        },
    }


def ingress_rule_name(cidr: str) -> str:
    """The composition resource name of the rule for one client block, e.g. ...-10-10-0-0-16."""
    return INGRESS_RULE_PREFIX + cidr.replace(".", "-").replace("/", "-")


def ingress_rule(cidr: str) -> Callable[[Observed], Object]:
    """A 5432 ingress rule for one client block. SecurityGroupIngressRule (aws_vpc_security_group_ingress_rule) is
    one AWS rule with its own id (sgr-...), so an orphaned rule can be adopted by that id; the older
    SecurityGroupRule has only a Terraform-made id that AWS cannot be asked for."""

    def build(observed: Observed) -> Object:
        return {
            "apiVersion": "ec2.aws.upbound.io/v1beta1",
            "kind": "SecurityGroupIngressRule",
            "spec": {
                "forProvider": {
                    "description": "PostgreSQL from the cluster",
                    "ipProtocol": "tcp",
                    "fromPort": 5432,
                    "toPort": 5432,
                    "cidrIpv4": cidr,
                    "securityGroupIdSelector": {"matchControllerRef": True},
                    "region": _region(observed),
                }
            },
        }

    return build


def instance(observed: Observed, instance_classes: Mapping[str, str]) -> Object:
    parameters = observed.parameters
    namespace, name = observed.claim()
    protected = parameters.get("deletionProtection")
    return {
        "apiVersion": "rds.aws.upbound.io/v1beta3",
        "kind": "Instance",
        "spec": {
            "forProvider": without_none(
                {
                    "region": _region(observed),
                    # In this provider the RDS identifier is the `identifier` parameter, not the external name.
                    "identifier": f"{namespace}-{name}",
                    "instanceClass": instance_classes[parameters["size"]],
                    "engine": "postgres",
                    "engineVersion": parameters.get("engineVersion"),
                    "username": "notejam_admin",
                    # Not autoGeneratePassword: upjet's generated Secret is owned by this managed resource and is
                    # garbage-collected with it, taking the only copy of the password.
                    "passwordSecretRef": {
                        "namespace": namespace,
                        "name": parameters["masterPasswordSecretRef"]["name"],
                        "key": parameters["masterPasswordSecretRef"].get("key", "password"),
                    },
                    "dbName": parameters.get("databaseName"),
                    "allocatedStorage": parameters.get("storageGB"),
                    "maxAllocatedStorage": parameters.get("maxStorageGB"),
                    "storageType": "gp3",
                    "storageEncrypted": True,
                    "kmsKeyIdSelector": {"matchControllerRef": True},
                    "publiclyAccessible": False,
                    "dbSubnetGroupNameSelector": {"matchControllerRef": True},
                    "vpcSecurityGroupIdSelector": {"matchControllerRef": True},
                    "multiAz": parameters.get("highAvailability"),
                    "backupRetentionPeriod": parameters.get("backupRetentionDays"),
                    "copyTagsToSnapshot": True,
                    "autoMinorVersionUpgrade": True,
                    # Automated backups after the 00:00 UTC manual snapshot; maintenance after both.
                    "backupWindow": "01:00-02:00",
                    "maintenanceWindow": "sun:03:00-sun:04:00",
                    "deletionProtection": protected,
                    # A protected database also keeps a final snapshot when it is deleted; a dev one does not.
                    "skipFinalSnapshot": None if protected is None else not protected,
                    "finalSnapshotIdentifier": f"{namespace}-{name}-final",
                    # Keep automated backups when the instance is deleted: the last safety net.
                    "deleteAutomatedBackups": False,
                    "enabledCloudwatchLogsExports": ["postgresql", "upgrade"],
                    "applyImmediately": False,
                }
            ),
            "writeConnectionSecretToRef": {"namespace": SECRETS_NAMESPACE, "name": f"{observed.uid}-postgresql"},
        },
    }


def resources(settings: Object, parameters: Object) -> dict[str, Callable[[Observed], Object]]:
    """The composed resources by composition resource name, in the order they are listed. `settings` is the
    Composition's input, which `fn.read_input` checked; `parameters` the composite's (one rule per client block)."""
    instance_classes: Mapping[str, str] = settings["instanceClasses"]
    adopt: Object = parameters.get("adopt") or {}
    rule_ids: Mapping[str, str] = adopt.get("securityGroupRuleIds") or {}
    builders: dict[str, Callable[[Observed], Object]] = {
        "kms-key": kms_key,
        "subnet-group": _kept_if_protected(subnet_group),
        "security-group": _kept_if_protected(security_group),
        **{
            ingress_rule_name(cidr): _adopted(_kept_if_protected(ingress_rule(cidr)), rule_ids.get(cidr))
            for cidr in parameters["network"]["clientCidrBlocks"]
        },
        INSTANCE: _kept_if_protected(lambda observed: instance(observed, instance_classes)),
    }
    return {
        name: _adopted(build, adopt.get(ADOPTABLE[name])) if name in ADOPTABLE else build
        for name, build in builders.items()
    }


def status(observed: Observed) -> Object:
    """What the composite reports: the instance's address and ARN once RDS assigned them."""
    return without_none(
        {"address": observed.at_provider(INSTANCE, "address"), "arn": observed.at_provider(INSTANCE, "arn")}
    )


def connection_details(observed: Observed) -> dict[str, str]:
    """Exactly the keys the app reads from its Secret (host, port, username, password, database), once known."""
    created = observed.resources.get(INSTANCE)
    if created is None:
        return {}
    spec = created.get("spec", {}).get("forProvider", {})
    values = {
        "host": observed.at_provider(INSTANCE, "address"),
        "port": observed.at_provider(INSTANCE, "port"),
        "username": spec.get("username"),
        "password": observed.connection_details.get(INSTANCE, {}).get("attribute.password"),
        "database": spec.get("dbName"),
    }
    return {key: _as_text(value) for key, value in values.items() if value is not None}


def _as_text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode()
    return value if isinstance(value, str) else json.dumps(value)
