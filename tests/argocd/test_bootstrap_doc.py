"""docs/bootstrap.md installs exactly what the clusters later manage themselves."""

from __future__ import annotations

import re

import pytest

from tests.argocd.argo_objects import applications, helm_sources, wave
from tools.manifests import ENVIRONMENTS, REPO_ROOT

BOOTSTRAP = REPO_ROOT / "docs" / "bootstrap.md"
README = REPO_ROOT / "README.md"


def helm_install(text: str) -> dict[str, str]:
    """Chart, repository, version and values file of the `helm install` command in the document."""
    command = re.search(r"^helm install .*?(?<!\\)$", text, flags=re.MULTILINE | re.DOTALL)
    assert command, "no helm install command"
    words = command.group(0).replace("\\\n", " ").split()
    options = {words[i]: words[i + 1] for i in range(len(words) - 1) if words[i].startswith("--")}
    return {
        "chart": words[3],
        "repo": options["--repo"],
        "version": options["--version"],
        "values": options["--values"],
    }


@pytest.mark.parametrize("document", [BOOTSTRAP, README], ids=lambda path: path.name)
@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_bootstrap_installs_the_chart_argo_cd_then_manages(environment: str, document) -> None:
    installed = helm_install(document.read_text())
    (chart,) = helm_sources(applications(environment)["argocd"])
    assert installed["chart"] == chart["chart"]
    assert installed["repo"] == chart["repoURL"]
    assert installed["version"] == chart["targetRevision"]
    assert f"$values/{installed['values']}" in chart["helm"]["valueFiles"]


@pytest.mark.parametrize("document", [BOOTSTRAP, README], ids=lambda path: path.name)
def test_bootstrap_commands_name_files_that_exist(document) -> None:
    text = document.read_text()
    assert re.findall(r"-f (clusters/\S+)", text)
    for path in re.findall(r"-f (clusters/\S+)", text):
        assert (REPO_ROOT / path).is_file(), path


def test_bootstrap_wave_table_matches_the_applications() -> None:
    rows = re.findall(r"^\| (-?\d+) \| (.+) \|$", BOOTSTRAP.read_text(), flags=re.MULTILINE)
    documented = {int(number) for number, _ in rows}
    apps = applications("dev")
    assert documented == {wave(app) for name, app in apps.items() if name != "root"} | {-1}
