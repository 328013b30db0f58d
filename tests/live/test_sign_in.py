"""What the running Argo CD makes of its sign-in settings (apps/argocd/values.yaml) once the cluster has synced: Dex's
configuration as Argo CD generates it (`argocd-dex gendexcfg`, the command the chart's Dex pod runs before `dex
serve`) holds the GitHub OAuth App's credentials that External Secrets wrote; the API server offers GitHub and no
password form; the local admin is refused and never got a generated password.

Dex itself does not run here: it would have to reach GitHub. Signing in as the admin through the break-glass procedure
is tests/live/test_web_ui.py.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml

from tests.live.conftest import LiveCluster
from tools.cluster import argocd_settings

pytestmark = pytest.mark.control_plane

SSO_SECRET = f"/api/v1/namespaces/{argocd_settings.NAMESPACE}/secrets/argocd-sso"


def api(live: LiveCluster, path: str, body: dict | None = None, token: str | None = None) -> tuple[int, dict]:
    """Argo CD's API server as a browser reaches it, signed in with `token` if given: `(status, JSON)`."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        f"{live.plane.info()['ui_url']}{path}", data=data, method="POST" if data else "GET"
    )
    request.add_header("Content-Type", "application/json")
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def generated_dex_config(live: LiveCluster, tmp_path: Path) -> dict:
    """`argocd-dex gendexcfg -o <file>`: the configuration the argocd-dex-server pod hands to Dex, unmasked."""
    out = tmp_path / "dex.yaml"
    binary = live.plane.binary("argocd", "argocd")
    env = {**os.environ, **live.plane.argocd_env(), "ARGOCD_BINARY_NAME": "argocd-dex"}
    result = subprocess.run(
        [str(binary), "gendexcfg", "-n", argocd_settings.NAMESPACE, "-o", str(out)],
        capture_output=True, text=True, timeout=60, env=env, stdin=subprocess.DEVNULL, check=False,
    )  # fmt: skip
    assert result.returncode == 0 and out.exists(), result.stdout + result.stderr
    return yaml.safe_load(out.read_text())


def test_dex_gets_the_github_apps_credentials_from_the_synced_secret(live: LiveCluster, tmp_path: Path) -> None:
    secret = live.kube.get(SSO_SECRET)
    assert secret is not None, "External Secrets wrote argocd-sso (apps/argocd/secrets)"
    assert secret["metadata"]["labels"]["app.kubernetes.io/part-of"] == "argocd"
    values = {key: base64.b64decode(value).decode() for key, value in secret["data"].items()}

    config = generated_dex_config(live, tmp_path)
    [github] = config["connectors"]
    assert github["type"] == "github" and github["config"]["orgs"] == [{"name": "notejam"}]
    assert github["config"]["clientID"] == values["dex.github.clientID"]
    assert github["config"]["clientSecret"] == values["dex.github.clientSecret"]
    url = argocd_settings.cm_data()["url"]
    assert github["config"]["redirectURI"] == f"{url}/api/dex/callback"
    assert config["issuer"] == f"{url}/api/dex"
    assert {client["id"] for client in config["staticClients"]} >= {"argo-cd", "argo-cd-cli"}


def test_the_api_server_offers_github_and_no_password_form(live: LiveCluster) -> None:
    status, settings = api(live, "/api/v1/settings")
    assert status == 200, settings
    assert settings["url"] == argocd_settings.cm_data()["url"]
    assert [(c["name"], c["type"]) for c in settings["dexConfig"]["connectors"]] == [("GitHub", "github")]
    assert settings["userLoginsDisabled"] is True, "no local account may sign in: the UI hides the form"


def test_the_local_admin_is_refused_and_has_no_generated_password(live: LiveCluster) -> None:
    status, answer = api(live, "/api/v1/session", {"username": "admin", "password": "password"})
    assert status == 401, answer
    assert live.kube.get(f"/api/v1/namespaces/{argocd_settings.NAMESPACE}/secrets/argocd-initial-admin-secret") is None
