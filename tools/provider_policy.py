"""The least-privilege IAM policy of the Crossplane providers' role, made from what our compositions compose.

The kinds come from the rendered claims of each environment (`python -m tools.render --assume-created`, parsed
from its output, so this does not depend on how rendering works); the actions per kind from
crossplane/iam/provider-actions.yaml. Delete actions are granted only for kinds that have a resource which is not
orphaned. Resources are narrowed per statement (`_statements`): roles only under the IAM path `/notejam-crossplane/`
and `notejam-<env>-`, created and changed only with the account's permissions boundary
(crossplane/iam/role-boundary.json, installed by docs/bootstrap.md), passed only to Lambda; KMS grants only to RDS;
security groups and RDS resources changed only while they carry the provider's `crossplane-kind` tag.

    python -m tools.provider_policy check          # each clusters/<env>/eksctl.yaml has the policy it should
    python -m tools.provider_policy write          # rewrite those policies in place
    python -m tools.provider_policy print dev      # the policy document of one environment
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from function.backup import ROLE_PATH
from tools.render_output import Composed, rendered
from tools.repository import ENVIRONMENTS, REPO_ROOT

ACTIONS_FILE = REPO_ROOT / "crossplane" / "iam" / "provider-actions.yaml"
BOUNDARY_FILE = REPO_ROOT / "crossplane" / "iam" / "role-boundary.json"
PROVIDER_ROLE = "notejam-{environment}-crossplane-provider-aws"

# IAM actions that accept the iam:PermissionsBoundary condition key: granted only with our boundary.
BOUNDARY_CONDITIONED = {
    "iam:CreateRole",
    "iam:PutRolePolicy",
    "iam:DeleteRolePolicy",
    "iam:AttachRolePolicy",
    "iam:DetachRolePolicy",
}


def kind_actions() -> dict[str, dict[str, list[str]]]:
    return yaml.safe_load(ACTIONS_FILE.read_text())["kinds"]


def required_actions(resources: Iterable[Composed]) -> dict[str, set[str]]:
    """Kind -> the actions its resources need: always `actions`, `delete` too if any of them is not orphaned."""
    table = kind_actions()
    needed: dict[str, set[str]] = {}
    for item in resources:
        if item.kind not in table:
            raise KeyError(f"{item.kind} is composed but has no entry in {ACTIONS_FILE.relative_to(REPO_ROOT)}")
        entry = table[item.kind]
        actions = needed.setdefault(item.kind, set(entry["actions"]))
        if not item.orphaned:
            actions.update(entry.get("delete") or [])
    return needed


def environment_facts(environment: str) -> dict[str, Any]:
    """Account and region of an environment, from its rendered claims, and the other regions its resources are in
    (the backup's second region: a KMS key for the snapshot copies)."""
    composites, resources = rendered()
    parameters = [c.resource["spec"].get("parameters", {}) for c in composites if c.environment == environment]
    accounts = {str(p["accountId"]) for p in parameters if "accountId" in p}
    regions = {p["region"] for p in parameters if "region" in p}
    if len(accounts) != 1 or len(regions) != 1:
        raise ValueError(f"{environment}: expected one account and one region, got {accounts} and {regions}")
    region = regions.pop()
    used = {r.resource["spec"]["forProvider"].get("region") for r in resources if r.environment == environment}
    others = sorted(used - {None, region})
    return {"environment": environment, "account": accounts.pop(), "region": region, "other_regions": others}


def boundary_arn(environment: str, account: str) -> str:
    return f"arn:aws:iam::{account}:policy/notejam-{environment}-role-boundary"


# The tag Crossplane's AWS providers put on every resource they create, in the create request itself: upjet's
# Tagger initializer (crossplane/upjet pkg/config/resource.go, `TagInitializer`; enabled for every kind with a
# `tags` map by crossplane-contrib/provider-upjet-aws config/overrides.go, `AddExternalTagsField`) writes
# crossplane-runtime's `GetExternalTags` (pkg/resource/resource.go) into spec.forProvider.tags: `crossplane-kind` is
# `strings.ToLower(GroupKind().String())`, e.g. `securitygroup.ec2.aws.upbound.io`, next to `crossplane-name` and
# `crossplane-providerconfig`. Mutations of existing EC2 and RDS resources are granted only on resources carrying it.
KIND_TAG = "crossplane-kind"


def crossplane_kind(kind: str) -> str:
    """The `crossplane-kind` tag value of a managed-resource kind: `rds.aws.upbound.io/Instance` ->
    `instance.rds.aws.upbound.io`."""
    group, name = kind.split("/")
    return f"{name}.{group}".lower()


SECURITY_GROUP = crossplane_kind("ec2.aws.upbound.io/SecurityGroup")
SECURITY_GROUP_RULE = crossplane_kind("ec2.aws.upbound.io/SecurityGroupIngressRule")
DB_INSTANCE = crossplane_kind("rds.aws.upbound.io/Instance")
DB_SUBNET_GROUP = crossplane_kind("rds.aws.upbound.io/SubnetGroup")

# EC2: the security-group actions the compositions call on an existing group (Service Authorization Reference: each
# authorizes security-group/*, with aws:ResourceTag). Describe* have no resource-level permission.
SECURITY_GROUP_CHANGES = {
    "ec2:AuthorizeSecurityGroupIngress",
    "ec2:RevokeSecurityGroupIngress",
    "ec2:RevokeSecurityGroupEgress",
    "ec2:ModifySecurityGroupRules",
    "ec2:DeleteSecurityGroup",
    "ec2:CreateTags",
    "ec2:DeleteTags",
}
EC2_READS = {"ec2:DescribeSecurityGroups", "ec2:DescribeSecurityGroupRules", "ec2:DescribeNetworkInterfaces"}
RDS_READS = {"rds:DescribeDBInstances", "rds:DescribeDBSubnetGroups", "rds:ListTagsForResource"}


def _statements(facts: dict[str, Any]) -> dict[str, tuple[list[str] | str, dict[str, Any] | None]]:
    """Statement id -> (resources, condition) of every statement the policy may have."""
    env, account, region = facts["environment"], facts["account"], facts["region"]
    roles = f"arn:aws:iam::{account}:role{ROLE_PATH}notejam-{env}-*"
    ec2 = f"arn:aws:ec2:{region}:{account}"
    rds = f"arn:aws:rds:{region}:{account}"
    # The composition names the instance <claim namespace>-<claim name>, its final snapshot <that>-final.
    databases = f"{rds}:db:notejam-{env}-*"
    final_snapshots = f"{rds}:snapshot:notejam-{env}-*-final"

    def tagged(kind: str) -> dict[str, Any]:
        return {"StringEquals": {f"aws:ResourceTag/{KIND_TAG}": kind}}

    def tagging(kind: str) -> dict[str, Any]:
        return {"StringEquals": {f"aws:RequestTag/{KIND_TAG}": kind}}

    return {
        # IAM: roles only under the Crossplane path, created and changed only with the account's boundary.
        "ChangeOurRolesOnlyWithTheBoundary": (
            roles,
            {"StringEquals": {"iam:PermissionsBoundary": boundary_arn(env, account)}},
        ),
        "PassOurRolesToLambda": (roles, {"StringEquals": {"iam:PassedToService": "lambda.amazonaws.com"}}),
        "CreateTheRdsServiceLinkedRole": (
            f"arn:aws:iam::{account}:role/aws-service-role/rds.amazonaws.com/AWSServiceRoleForRDS",
            {"StringEquals": {"iam:AWSServiceName": "rds.amazonaws.com"}},
        ),
        "ReadAndTagOurRoles": (roles, None),
        # KMS: CreateKey has no resource-level permission; grants only to RDS, for the instance it encrypts.
        "CreateKeys": ("*", None),
        # The database's keys, and the key of the snapshot copies in the backup's second region.
        "ManageKeys": ([f"arn:aws:kms:{r}:{account}:key/*" for r in [region, *facts["other_regions"]]], None),
        "LetRdsUseOurKeys": (
            f"arn:aws:kms:{region}:{account}:key/*",
            {
                "Bool": {"kms:GrantIsForAWSResource": "true"},
                "StringEquals": {"kms:ViaService": f"rds.{region}.amazonaws.com"},
            },
        ),
        # EC2: groups are created with the provider's tag (TagSpecifications) and changed only while they carry it.
        "ReadEC2": ("*", None),
        "CreateTaggedSecurityGroups": (f"{ec2}:security-group/*", tagging(SECURITY_GROUP)),
        "CreateSecurityGroupsInVpcs": (f"{ec2}:vpc/*", None),
        "TagSecurityGroupsOnCreate": (
            f"{ec2}:security-group/*",
            {"StringEquals": {"ec2:CreateAction": "CreateSecurityGroup"}},
        ),
        "ChangeOurSecurityGroups": (f"{ec2}:security-group/*", tagged(SECURITY_GROUP)),
        # Ingress rules are resources of their own (security-group-rule), tagged in the authorize request.
        "CreateTaggedSecurityGroupRules": (f"{ec2}:security-group-rule/*", tagging(SECURITY_GROUP_RULE)),
        "TagSecurityGroupRulesOnCreate": (
            f"{ec2}:security-group-rule/*",
            {"StringEquals": {"ec2:CreateAction": "AuthorizeSecurityGroupIngress"}},
        ),
        "ChangeOurSecurityGroupRules": (f"{ec2}:security-group-rule/*", tagged(SECURITY_GROUP_RULE)),
        # RDS: the instance under our names, created with the provider's tag and changed only while it carries it;
        # the groups a create or modify names (its subnet group, the default parameter and option groups) without.
        "ReadRDS": ("*", None),
        "CreateTaggedDatabases": (databases, tagging(DB_INSTANCE)),
        "ChangeOurDatabases": (databases, tagged(DB_INSTANCE)),
        "UseGroupsForOurDatabases": (
            [f"{rds}:og:*", f"{rds}:pg:*", f"{rds}:secgrp:*", f"{rds}:subgrp:*"],
            None,
        ),
        "CreateTaggedSubnetGroups": (f"{rds}:subgrp:*", tagging(DB_SUBNET_GROUP)),
        "ChangeOurSubnetGroups": (f"{rds}:subgrp:*", tagged(DB_SUBNET_GROUP)),
        # Deleting an instance that keeps a final snapshot creates it, tagged with the instance's tags.
        "TakeTheFinalSnapshot": ([databases, final_snapshots], None),
        "TagTheFinalSnapshot": (final_snapshots, None),
        "ReadTheLambdaCode": (f"arn:aws:s3:::notejam-artifacts-{account}/backup-lambda/*", None),
        "ManageTheSnapshotBucket": (f"arn:aws:s3:::notejamsnapshot-{env}-{account}", None),
        "ManageOurFunctions": (f"arn:aws:lambda:{region}:{account}:function:notejam-{env}-*", None),
        "ManageOurRules": (f"arn:aws:events:{region}:{account}:rule/notejam-{env}-*", None),
    }


# Action -> the statements that grant it; then by service for the rest. Tagging is the exception: see _sids.
STATEMENTS_OF_ACTION: dict[str, list[str]] = {
    **{key: ["ChangeOurRolesOnlyWithTheBoundary"] for key in BOUNDARY_CONDITIONED},
    "iam:PassRole": ["PassOurRolesToLambda"],
    "iam:CreateServiceLinkedRole": ["CreateTheRdsServiceLinkedRole"],
    "kms:CreateKey": ["CreateKeys"],
    "kms:CreateGrant": ["LetRdsUseOurKeys"],
    **{key: ["ReadEC2"] for key in EC2_READS},
    "ec2:CreateSecurityGroup": ["CreateTaggedSecurityGroups", "CreateSecurityGroupsInVpcs"],
    **{key: ["ChangeOurSecurityGroups"] for key in SECURITY_GROUP_CHANGES},
    # Rule-level actions also authorize the security-group-rule resource (Service Authorization Reference:
    # ModifySecurityGroupRules requires both, AuthorizeSecurityGroupIngress names the rule when it is tagged).
    "ec2:AuthorizeSecurityGroupIngress": ["ChangeOurSecurityGroups", "CreateTaggedSecurityGroupRules"],
    "ec2:ModifySecurityGroupRules": ["ChangeOurSecurityGroups", "ChangeOurSecurityGroupRules"],
    **{key: ["ReadRDS"] for key in RDS_READS},
    "rds:CreateDBInstance": ["CreateTaggedDatabases", "UseGroupsForOurDatabases"],
    "rds:ModifyDBInstance": ["ChangeOurDatabases", "UseGroupsForOurDatabases"],
    "rds:DeleteDBInstance": ["ChangeOurDatabases"],
    "rds:CreateDBSubnetGroup": ["CreateTaggedSubnetGroups"],
    "rds:ModifyDBSubnetGroup": ["ChangeOurSubnetGroups"],
    "rds:DeleteDBSubnetGroup": ["ChangeOurSubnetGroups"],
    "rds:CreateDBSnapshot": ["TakeTheFinalSnapshot"],
    "s3:GetObject": ["ReadTheLambdaCode"],
}
STATEMENTS_OF_SERVICE = {
    "iam": ["ReadAndTagOurRoles"],
    "kms": ["ManageKeys"],
    "s3": ["ManageTheSnapshotBucket"],
    "lambda": ["ManageOurFunctions"],
    "events": ["ManageOurRules"],
}


# Tags are set in the create request (authorized as a tagging action on the new resource, with a statement of its
# own) and changed later. Per service: (tag, untag) and, per create action, (statement for tagging in the create,
# statement for changing tags later).
TAGGING: dict[tuple[str, str], list[tuple[str, str, str | None]]] = {
    ("ec2:CreateTags", "ec2:DeleteTags"): [
        ("ec2:CreateSecurityGroup", "TagSecurityGroupsOnCreate", "ChangeOurSecurityGroups"),
        ("ec2:AuthorizeSecurityGroupIngress", "TagSecurityGroupRulesOnCreate", "ChangeOurSecurityGroupRules"),
    ],
    ("rds:AddTagsToResource", "rds:RemoveTagsFromResource"): [
        ("rds:CreateDBInstance", "CreateTaggedDatabases", "ChangeOurDatabases"),
        ("rds:CreateDBSubnetGroup", "CreateTaggedSubnetGroups", "ChangeOurSubnetGroups"),
        # Deleting an instance that keeps a final snapshot creates it, tagged with the instance's tags.
        ("rds:CreateDBSnapshot", "TagTheFinalSnapshot", None),
    ],
}


def _sids(action: str, actions: set[str]) -> list[str]:
    """The statements that grant `action`, given every action the environment needs."""
    for (tag, untag), creates in TAGGING.items():
        if action in (tag, untag):
            sids: list[str] = []
            for create, on_create, change in creates:
                if create in actions:
                    sids += [on_create] * (action == tag) + ([change] if change else [])
            return sids
    return STATEMENTS_OF_ACTION.get(action) or STATEMENTS_OF_SERVICE.get(action.split(":")[0], [])


def policy_document(environment: str) -> dict[str, Any]:
    """The provider role's policy for `environment`: every action its composed kinds need, nothing else."""
    facts = environment_facts(environment)
    _, resources = rendered()
    actions = set().union(*required_actions(r for r in resources if r.environment == environment).values())
    scopes = _statements(facts)
    statements: dict[str, dict[str, Any]] = {}
    for action in sorted(actions):
        sids = _sids(action, actions)
        if not sids:
            raise KeyError(f"{action}: no statement scopes it; add one to tools/provider_policy.py")
        for sid in sids:
            resource, condition = scopes[sid]
            statement = statements.setdefault(sid, {"Sid": sid, "Effect": "Allow", "Action": [], "Resource": resource})
            if condition:
                statement["Condition"] = condition
            statement["Action"].append(action)
    return {"Version": "2012-10-17", "Statement": sorted(statements.values(), key=lambda s: s["Sid"])}


def eksctl_file(environment: str) -> Path:
    return REPO_ROOT / "clusters" / environment / "eksctl.yaml"


def provider_account(config: dict[str, Any], environment: str) -> dict[str, Any]:
    role = PROVIDER_ROLE.format(environment=environment)
    (account,) = [sa for sa in config["iam"]["serviceAccounts"] if sa.get("roleName") == role]
    return account


def check() -> list[str]:
    """Environments whose eksctl.yaml does not attach exactly the generated policy."""
    stale = []
    for environment in ENVIRONMENTS:
        config = yaml.safe_load(eksctl_file(environment).read_text())
        if provider_account(config, environment).get("attachPolicy") != policy_document(environment):
            stale.append(environment)
    return stale


def _policy_block(document: dict[str, Any], indent: int) -> str:
    dumped = yaml.safe_dump(document, sort_keys=False, default_flow_style=False, width=120)
    return "".join(" " * indent + line + "\n" for line in dumped.splitlines())


def write(environment: str) -> None:
    """Replace the `attachPolicy:` block of the provider account in clusters/<environment>/eksctl.yaml."""
    path = eksctl_file(environment)
    lines = path.read_text().splitlines(keepends=True)
    role_line = next(i for i, line in enumerate(lines) if PROVIDER_ROLE.format(environment=environment) in line)
    start = next(i for i in range(role_line, len(lines)) if lines[i].strip() == "attachPolicy:")
    indent = len(lines[start]) - len(lines[start].lstrip())
    end = start + 1
    while end < len(lines) and (not lines[end].strip() or len(lines[end]) - len(lines[end].lstrip()) > indent):
        end += 1
    block = _policy_block(policy_document(environment), indent + 2)
    path.write_text("".join(lines[: start + 1]) + block + "".join(lines[end:]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.provider_policy", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("check", help="exit 1 if an eksctl.yaml's provider policy differs from the generated one")
    commands.add_parser("write", help="write the generated policy into every clusters/<env>/eksctl.yaml")
    show = commands.add_parser("print", help="print one environment's policy document as JSON")
    show.add_argument("environment", choices=ENVIRONMENTS)
    args = parser.parse_args(argv)
    if args.command == "print":
        print(json.dumps(policy_document(args.environment), indent=2))
    elif args.command == "write":
        for environment in ENVIRONMENTS:
            write(environment)
    else:
        stale = check()
        if stale:
            print(f"provider policy out of date in: {', '.join(stale)} (python -m tools.provider_policy write)")
            return 1
        print("provider policies match crossplane/iam/provider-actions.yaml")
    return 0


if __name__ == "__main__":
    sys.exit(main())
