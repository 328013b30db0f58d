"""The least-privilege IAM policy of the Crossplane providers' role, made from what our compositions compose.

The kinds come from the rendered claims of each environment (`python -m tools.render --assume-created`, parsed
from its output, so this does not depend on how rendering works); the actions per kind from
crossplane/iam/provider-actions.yaml. Delete actions are granted only for kinds that have a resource which is not
orphaned. IAM is narrowed further: roles only under `notejam-<env>-`, created and changed only with the account's
permissions boundary (crossplane/iam/role-boundary.json, installed by docs/bootstrap.md), passed only to Lambda.

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

from tools.render_output import Composed, rendered

REPO_ROOT = Path(__file__).resolve().parents[1]
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


def environment_facts(environment: str) -> dict[str, str]:
    """Account and region of an environment, from its rendered claims."""
    composites, resources = rendered()
    accounts = {
        str(c.resource["spec"]["parameters"]["accountId"])
        for c in composites
        if c.environment == environment and "accountId" in c.resource["spec"].get("parameters", {})
    }
    regions = {r.resource["spec"]["forProvider"].get("region") for r in resources if r.environment == environment}
    regions.discard(None)
    if len(accounts) != 1 or len(regions) != 1:
        raise ValueError(f"{environment}: expected one account and one region, got {accounts} and {regions}")
    return {"environment": environment, "account": accounts.pop(), "region": regions.pop()}


def boundary_arn(environment: str, account: str) -> str:
    return f"arn:aws:iam::{account}:policy/notejam-{environment}-role-boundary"


def _scope(action: str, facts: dict[str, str]) -> tuple[str, list[str] | str, dict[str, Any] | None]:
    """(statement id, resources, condition) of one action: IAM, S3, Lambda and EventBridge narrowed to our names."""
    env, account, region = facts["environment"], facts["account"], facts["region"]
    roles = f"arn:aws:iam::{account}:role/notejam-{env}-*"
    if action in BOUNDARY_CONDITIONED:
        condition = {"StringEquals": {"iam:PermissionsBoundary": boundary_arn(env, account)}}
        return "ChangeOurRolesOnlyWithTheBoundary", roles, condition
    if action == "iam:PassRole":
        return "PassOurRolesToLambda", roles, {"StringEquals": {"iam:PassedToService": "lambda.amazonaws.com"}}
    if action == "iam:CreateServiceLinkedRole":
        resource = f"arn:aws:iam::{account}:role/aws-service-role/rds.amazonaws.com/AWSServiceRoleForRDS"
        return "CreateTheRdsServiceLinkedRole", resource, {"StringEquals": {"iam:AWSServiceName": "rds.amazonaws.com"}}
    if action.startswith("iam:"):
        return "ReadAndTagOurRoles", roles, None
    if action in ("s3:GetObject", "s3:GetObjectVersion"):
        return "ReadTheLambdaCode", f"arn:aws:s3:::notejam-artifacts-{account}/backup-lambda/*", None
    if action.startswith("s3:"):
        return "ManageTheSnapshotBucket", f"arn:aws:s3:::notejamsnapshot-{env}-{account}", None
    if action.startswith("lambda:"):
        return "ManageOurFunctions", f"arn:aws:lambda:{region}:{account}:function:notejam-{env}-*", None
    if action.startswith("events:"):
        return "ManageOurRules", f"arn:aws:events:{region}:{account}:rule/notejam-{env}-*", None
    service = action.split(":")[0]
    return f"Manage{service.upper() if len(service) <= 3 else service.capitalize()}", "*", None


def policy_document(environment: str) -> dict[str, Any]:
    """The provider role's policy for `environment`: every action its composed kinds need, nothing else."""
    facts = environment_facts(environment)
    _, resources = rendered()
    actions = set().union(*required_actions(r for r in resources if r.environment == environment).values())
    statements: dict[str, dict[str, Any]] = {}
    for action in sorted(actions):
        sid, resource, condition = _scope(action, facts)
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


def environments() -> list[str]:
    return sorted(path.parent.name for path in REPO_ROOT.glob("clusters/*/eksctl.yaml"))


def check() -> list[str]:
    """Environments whose eksctl.yaml does not attach exactly the generated policy."""
    stale = []
    for environment in environments():
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
    show.add_argument("environment", choices=environments())
    args = parser.parse_args(argv)
    if args.command == "print":
        print(json.dumps(policy_document(args.environment), indent=2))
    elif args.command == "write":
        for environment in environments():
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
