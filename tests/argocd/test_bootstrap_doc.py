"""docs/bootstrap.md installs exactly what the clusters later manage themselves."""

from __future__ import annotations

import re

import pytest

from tests.argocd.argo_objects import applications, git_paths, helm_sources, overlay_objects, source_objects, wave
from tools.bootstrap_account import boundary_policy_name, secret_names
from tools.render_output import rendered
from tools.repository import ENVIRONMENTS, REPO_ROOT, makefile_pin

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
    for path in re.findall(r"-k (clusters/\S+)", text):
        assert (REPO_ROOT / path / "kustomization.yaml").is_file(), path


@pytest.mark.parametrize("document", [BOOTSTRAP, README], ids=lambda path: path.name)
def test_bootstrap_installs_the_eksctl_the_makefile_pins(document) -> None:
    """The release whose schema the tests validate eksctl.yaml against, and whose wellKnownPolicies the roles get."""
    text = document.read_text()
    version = makefile_pin("EKSCTL_VERSION")
    downloads = re.findall(
        r"https://github\.com/eksctl-io/eksctl/releases/download/([^/\s]+)/eksctl_\w+\.tar\.gz", text
    )
    assert downloads and set(downloads) == {version}, downloads


def test_bootstrap_wave_table_matches_the_applications() -> None:
    rows = re.findall(r"^\| (-?\d+) \| (.+) \|$", BOOTSTRAP.read_text(), flags=re.MULTILINE)
    documented = {int(number) for number, _ in rows}
    apps = applications("dev")
    assert documented == {wave(app) for name, app in apps.items() if name != "root"} | {-1}


def shell_commands(text: str) -> list[str]:
    """The commands of the document's sh blocks, continuation lines joined, comments dropped."""
    blocks = re.findall(r"```sh\n(.*?)```", text, flags=re.DOTALL)
    joined = "\n".join(blocks).replace("\\\n", " ")
    return [line.split("  #")[0].strip() for line in joined.splitlines() if line.strip() and not line.startswith("#")]


def test_cluster_values_is_a_step_between_eksctl_and_the_root_app() -> None:
    commands = shell_commands(BOOTSTRAP.read_text())
    position = {command.split(" &&")[0]: index for index, command in enumerate(commands)}
    create = position["eksctl create cluster -f clusters/dev/eksctl.yaml"]
    values = position["make cluster-values ENV=dev"]
    # The root's project first, in the same command: the root cannot be created in a project that does not exist.
    root = position["kubectl apply -f apps/projects/bootstrap.yaml"]
    assert commands[root].endswith("&& kubectl apply -k clusters/dev -l app.kubernetes.io/name=root")
    assert create < values < root
    # The values reach the cluster through git: they are committed and pushed before the root app syncs main.
    assert any(c.startswith("git commit") and "overlays/dev" in c for c in commands[values:root])
    assert any("git push" in c for c in commands[values:root])
    makefile = (REPO_ROOT / "Makefile").read_text()
    assert re.search(r"^cluster-values: .*\n\t\$\(PY\) -m tools\.cluster_values --env \$\(ENV\)$", makefile, re.M)
    assert "make cluster-values ENV=dev" in README.read_text()


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_the_permissions_boundary_the_compositions_require_is_created(environment: str) -> None:
    _, resources = rendered()
    boundaries = {
        r.resource["spec"]["forProvider"]["permissionsBoundary"]
        for r in resources
        if r.environment == environment and r.kind == "iam.aws.upbound.io/Role"
    }
    (boundary,) = boundaries
    assert boundary.rsplit("/", 1)[1] == boundary_policy_name(environment)


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_every_secret_the_cluster_reads_is_created(environment: str) -> None:
    documents = list(overlay_objects(environment))
    for name, application in applications(environment).items():
        for path in git_paths(application):
            documents.extend(source_objects(environment, name, path))
    externals = [doc["spec"] for doc in documents if doc["kind"] == "ExternalSecret"]
    created = secret_names(environment)
    read = {
        (item["remoteRef"]["key"], item["remoteRef"]["property"]) for e in externals for item in e.get("data") or []
    }
    extracted = {item["extract"]["key"] for e in externals for item in e.get("dataFrom") or []}
    assert extracted >= {f"notejam/{environment}/app", f"notejam/{environment}/alertmanager"}
    assert extracted <= set(created), extracted - set(created)
    for key, prop in read:
        assert prop in created.get(key, ()), f"the account bootstrap creates no {key} {prop}"
