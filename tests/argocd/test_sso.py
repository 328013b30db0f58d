"""Who signs in to Argo CD (apps/argocd/values.yaml, `configs.cm`): people, through GitHub (Argo CD's Dex), with the
OAuth App's ID and secret from Secrets Manager through External Secrets, and no local admin. The break-glass blocks of
docs/runbook.md give the cluster back to git as apps/root.yaml states it. (What the running Argo CD makes of these
settings: tests/live/test_sign_in.py; the break-glass blocks on a running control plane: tests/live/test_web_ui.py.)"""

from __future__ import annotations

import json
import re
from urllib.parse import urlparse

import pytest
import yaml

from tests.argocd.argo_objects import REPO_URL, eksctl_config, of_kind, source_objects
from tests.argocd.test_alerting import runbook_anchors
from tools.cluster import argocd_settings
from tools.cluster.fake_controllers.external_secrets import documented_secrets
from tools.repository import ENVIRONMENTS, REPO_ROOT

SSO_SECRET = "argocd-sso"
SECRETS_SOURCE = "apps/argocd/secrets"
ORGANIZATION = urlparse(REPO_URL).path.split("/")[1]  # the repository's owner on GitHub: notejam


@pytest.fixture(scope="module")
def cm() -> dict[str, str]:
    return argocd_settings.cm_data()


@pytest.fixture(scope="module")
def github(cm: dict[str, str]) -> dict:
    connectors = yaml.safe_load(cm["dex.config"])["connectors"]
    assert [c["type"] for c in connectors] == ["github"], "one way in: GitHub"
    return connectors[0]


def test_the_local_admin_is_off(cm: dict[str, str]) -> None:
    assert cm["admin.enabled"] == "false"
    assert not [key for key in cm if key.startswith("accounts.")], "no other local account either"


def test_argo_cd_knows_its_url_so_dex_is_configured(cm: dict[str, str]) -> None:
    # Argo CD configures Dex only when `url` is set (util/settings ArgoCDSettings.IsDexConfigured); the GitHub OAuth
    # App's callback is <url>/api/dex/callback, which docs/bootstrap.md tells the reader to register.
    assert urlparse(cm["url"]).scheme == "https"
    assert f"{cm['url']}/api/dex/callback" in (REPO_ROOT / "docs" / "bootstrap.md").read_text()


def test_members_of_the_repositorys_organization_sign_in_with_their_teams_as_groups(github: dict) -> None:
    assert [org["name"] for org in github["config"]["orgs"]] == [ORGANIZATION]
    assert not any(org.get("teams") for org in github["config"]["orgs"]), "every member reads (policy.default)"
    assert github["config"]["teamNameField"] == "slug"
    rbac = argocd_settings.rbac_data()
    groups = [line.split(",")[1].strip() for line in rbac["policy.csv"].splitlines() if line.startswith("g,")]
    teams = [group for group in groups if not group.startswith("role:")]
    assert teams and all(team.startswith(f"{ORGANIZATION}:") for team in teams), teams
    assert rbac["scopes"] == "[groups]" and rbac["policy.default"] == "role:readonly"


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_the_oauth_apps_credentials_come_from_the_secret_the_bootstrap_creates(github: dict, environment: str) -> None:
    references = {field: github["config"][field] for field in ("clientID", "clientSecret")}
    assert all(re.fullmatch(rf"\${SSO_SECRET}:[\w.]+", value) for value in references.values()), references
    [external] = [
        e for e in of_kind(source_objects(environment, "argocd", SECRETS_SOURCE), "ExternalSecret").values()
        if e["spec"]["target"]["name"] == SSO_SECRET
    ]  # fmt: skip
    # Argo CD reads `$<secret>:<key>` only from Secrets labelled part-of: argocd.
    assert external["spec"]["target"]["template"]["metadata"]["labels"] == {"app.kubernetes.io/part-of": "argocd"}
    keys = {item["secretKey"] for item in external["spec"]["data"]}
    assert keys == {value.split(":", 1)[1] for value in references.values()}
    for item in external["spec"]["data"]:
        remote = item["remoteRef"]
        assert remote["key"] == f"notejam/{environment}/{SSO_SECRET}"
        assert remote["property"] in documented_secrets()[remote["key"]], "make bootstrap-account creates it"
    [role] = [
        sa for sa in eksctl_config(environment)["iam"]["serviceAccounts"]
        if sa["metadata"] == {"name": "argocd-secrets", "namespace": "argocd"}
    ]  # fmt: skip
    [statement] = role["attachPolicy"]["Statement"]
    assert any(arn.endswith(f":secret:notejam/{environment}/{SSO_SECRET}-*") for arn in statement["Resource"])


def runbook_blocks() -> list[str]:
    text = (REPO_ROOT / "docs" / "runbook.md").read_text()
    section = text.split("## Break glass: Argo CD without SSO\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.*?)```", section, flags=re.DOTALL)


def test_values_link_the_break_glass_section() -> None:
    anchor = "break-glass-argo-cd-without-sso"
    assert anchor in runbook_anchors()
    assert f"docs/runbook.md#{anchor}" in argocd_settings.VALUES_FILE.read_text()


def test_break_glass_ends_with_the_roots_automated_sync_as_git_states_it() -> None:
    on, off = runbook_blocks()
    assert 'admin.enabled": "true"' in on and 'admin.enabled": "false"' in off
    [patch] = re.findall(r"patch application root --type merge \\\n\s+-p '(.*)'", off)
    root = yaml.safe_load((REPO_ROOT / "apps" / "root.yaml").read_text())
    assert json.loads(patch)["spec"]["syncPolicy"]["automated"] == root["spec"]["syncPolicy"]["automated"]
