"""The Crossplane providers' IAM role grants what the composed kinds need and nothing broader.

The composed resources are read from the render CLI's output (`python -m tools.render --assume-created`), the needs
per kind from crossplane/iam/provider-actions.yaml; the granted policy from clusters/<env>/eksctl.yaml.
"""

from __future__ import annotations

import json
import re
from fnmatch import fnmatchcase
from typing import Any

import pytest

from function.backup import ROLE_PATH
from tests.argocd.argo_objects import ACCOUNTS, eksctl_config
from tools.provider_policy import (
    BOUNDARY_FILE,
    boundary_arn,
    check,
    kind_actions,
    provider_account,
    required_actions,
)
from tools.render_output import rendered
from tools.repository import ENVIRONMENTS

# Actions that would let the provider escape the boundary or widen its own rights.
NEVER_GRANTED = {
    "iam:PutRolePermissionsBoundary",
    "iam:DeleteRolePermissionsBoundary",
    "iam:CreatePolicy",
    "iam:CreatePolicyVersion",
    "iam:SetDefaultPolicyVersion",
    "iam:AttachUserPolicy",
    "iam:CreateUser",
    "iam:CreateAccessKey",
}
# The findings: what AWSKeyManagementServicePowerUser lacked and both compositions need (kms:PutKeyPolicy
# was one of them until we found that no composition sets a key policy: tests/argocd/test_provider_policy_audit.py).
KMS_NEEDS = {"kms:EnableKeyRotation", "kms:CreateGrant"}


def statements(policy: dict[str, Any]) -> list[dict[str, Any]]:
    found = policy["Statement"]
    return [found] if isinstance(found, dict) else found


def as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def granted(policy: dict[str, Any], action: str) -> list[dict[str, Any]]:
    """The Allow statements that grant `action` (IAM's case-insensitive action match with wildcards)."""
    return [
        s
        for s in statements(policy)
        if s["Effect"] == "Allow" and any(fnmatchcase(action.lower(), a.lower()) for a in as_list(s["Action"]))
    ]


def provider_policy(environment: str) -> dict[str, Any]:
    account = provider_account(eksctl_config(environment), environment)
    assert "attachPolicyARNs" not in account, "no AWS managed policies: they grant too much and too little"
    assert "attachPolicy" in account, f"{environment}: the provider role has no policy"
    return account["attachPolicy"]


def composed(environment: str):
    _, resources = rendered()
    return [r for r in resources if r.environment == environment]


@pytest.fixture(params=ENVIRONMENTS)
def environment(request: pytest.FixtureRequest) -> str:
    return request.param


def test_every_composed_kind_has_its_actions_written_down() -> None:
    _, resources = rendered()
    kinds = {r.kind for r in resources}
    assert kinds, "the render CLI printed no composed resources"
    assert kinds <= set(kind_actions()), sorted(kinds - set(kind_actions()))


def test_every_action_a_composed_kind_needs_is_granted(environment: str) -> None:
    policy = provider_policy(environment)
    for kind, actions in required_actions(composed(environment)).items():
        missing = sorted(action for action in actions if not granted(policy, action))
        assert not missing, f"{environment}: {kind} needs {missing}"


def test_the_kms_actions_the_compositions_use_are_granted(environment: str) -> None:
    policy = provider_policy(environment)
    assert all(granted(policy, action) for action in KMS_NEEDS)


def test_nothing_broader_is_granted(environment: str) -> None:
    policy = provider_policy(environment)
    needed = set().union(*required_actions(composed(environment)).values())
    for statement in statements(policy):
        assert statement["Effect"] == "Allow", "the policy is an allow-list"
        for action in as_list(statement["Action"]):
            assert "*" not in action and "?" not in action, f"{environment}: wildcard action {action}"
            assert action in needed, f"{environment}: {action} is granted but no composed kind needs it"
    assert not any(granted(policy, action) for action in NEVER_GRANTED)


def test_orphaned_kinds_get_no_delete_action(environment: str) -> None:
    """Keys are never deleted by the provider (deletionPolicy Orphan): it may not schedule their deletion."""
    policy = provider_policy(environment)
    assert not granted(policy, "kms:ScheduleKeyDeletion")
    assert not granted(policy, "s3:DeleteBucket")


def test_roles_are_created_only_under_our_names_with_the_boundary(environment: str) -> None:
    policy = provider_policy(environment)
    account = ACCOUNTS[environment]
    for statement in statements(policy):
        iam_actions = [a for a in as_list(statement["Action"]) if a.startswith("iam:")]
        if not iam_actions:
            continue
        assert statement["Resource"] != "*", f"{environment}: {iam_actions} on every resource"
        if iam_actions == ["iam:CreateServiceLinkedRole"]:
            assert statement["Condition"] == {"StringEquals": {"iam:AWSServiceName": "rds.amazonaws.com"}}
            continue
        assert statement["Resource"] == f"arn:aws:iam::{account}:role{ROLE_PATH}notejam-{environment}-*"
    (create,) = granted(policy, "iam:CreateRole")
    boundary = create["Condition"]["StringEquals"]["iam:PermissionsBoundary"]
    assert boundary == boundary_arn(environment, account)
    for action in ("iam:PutRolePolicy", "iam:DeleteRolePolicy"):
        assert all(s.get("Condition") == create["Condition"] for s in granted(policy, action)), action


def test_composed_roles_live_under_the_path_the_policy_grants(environment: str) -> None:
    """The provider may change and pass roles only under ROLE_PATH: every role it composes must be created there."""
    policy = provider_policy(environment)
    account = ACCOUNTS[environment]
    roles = [r.resource for r in composed(environment) if r.kind == "iam.aws.upbound.io/Role"]
    assert roles
    for role in roles:
        assert role["spec"]["forProvider"]["path"] == ROLE_PATH, role["metadata"]
        name = role["metadata"]["annotations"]["crossplane.io/external-name"]
        arn = f"arn:aws:iam::{account}:role{ROLE_PATH}{name}"
        for action in ("iam:CreateRole", "iam:GetRole", "iam:PassRole", "iam:DeleteRole"):
            assert any(fnmatchcase(arn, r) for s in granted(policy, action) for r in as_list(s["Resource"])), (
                f"{environment}: {action} not granted on {arn}"
            )


def test_composed_roles_carry_the_boundary_and_stay_inside_it(environment: str) -> None:
    boundary = json.loads(BOUNDARY_FILE.read_text())
    roles = [r.resource for r in composed(environment) if r.kind == "iam.aws.upbound.io/Role"]
    assert roles
    for role in roles:
        assert role["spec"]["forProvider"]["permissionsBoundary"] == boundary_arn(environment, ACCOUNTS[environment])
        for inline in role["spec"]["forProvider"].get("inlinePolicy") or []:
            for statement in statements(json.loads(inline["policy"])):
                for action in as_list(statement["Action"]):
                    for resource in as_list(statement["Resource"]):
                        assert allows(boundary, action, resource), f"{role['metadata']}: {action} on {resource}"


def allows(policy: dict[str, Any], action: str, resource: str) -> bool:
    """Whether an Allow statement covers the action on the resource. An ARN that AWS assigns (the render's placeholder
    account 000000000000) is unknown here: it stands for any resource of its service and type."""
    placeholder = re.match(r"^arn:aws:([a-z0-9-]+):[^:]*:000000000000:([a-z-]+)[/:]", resource)
    if placeholder:
        resource = f"arn:aws:{placeholder.group(1)}:*:*:{placeholder.group(2)}/*"
    return any(
        fnmatchcase(resource, pattern) or (placeholder is not None and fnmatchcase(pattern, resource))
        for s in granted(policy, action)
        for pattern in as_list(s["Resource"])
    )


def test_eksctl_policies_are_the_generated_ones() -> None:
    assert check() == [], "run: python -m tools.provider_policy write"
