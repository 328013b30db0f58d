"""An environment is data: its facts once (clusters/<env>/environment/), a handful of files, and nothing else to edit.

components/environment/ copies the facts into every object that names them; shared files hold placeholders that
must never reach a cluster. The last test follows the README's steps for a new environment in a copy of the
repository and runs the static checks there with it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree

import pytest
import yaml

from tests.argocd.argo_objects import (
    applications,
    cluster_objects,
    eksctl_config,
    git_paths,
    overlay_objects,
    source_objects,
)
from tools import validation_data
from tools.environment_facts import FactsError, facts
from tools.renovate_extract import working_tree_files
from tools.repository import ENVIRONMENTS, REPO_ROOT

# The placeholders of the shared files (components/environment/kustomization.yaml says which).
PLACEHOLDER_ACCOUNT = re.compile(r"(?<![0-9a-z])000000000000(?![0-9a-z])")
PLACEHOLDER_ENVIRONMENT = re.compile(r"\bENV\b")
PLACEHOLDER_DOMAIN = "example.com"

# The static checks of what the clusters run: validation (kubeconform), render, and the policies.
STATIC_CHECKS = ("tests/manifests", "tests/argocd", "tests/promotion", "tests/crossplane")

# What an environment consists of, besides clusters/<env>/versions/ (which promotion copies from the one before).
OWN_FILES = [
    "clusters/{env}/eksctl.yaml",
    "clusters/{env}/environment/kustomization.yaml",
    "clusters/{env}/kustomization.yaml",
    "overlays/{env}/database-claim.yaml",
    "overlays/{env}/kustomization.yaml",
]


def everything_applied(environment: str) -> list[dict]:
    """What the cluster's Argo CD applies from this repository: the root's render, the app's overlay and each
    Application's git sources rendered with their components."""
    objects = [*cluster_objects(environment), *overlay_objects(environment)]
    for name, application in applications(environment).items():
        for path in git_paths(application):
            objects += source_objects(environment, name, path)
    return objects


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_an_environment_is_five_files_besides_its_versions(environment: str) -> None:
    own = {
        path.relative_to(REPO_ROOT).as_posix()
        for folder in (REPO_ROOT / "clusters" / environment, REPO_ROOT / "overlays" / environment)
        for path in folder.rglob("*")
        if path.is_file() and "versions" not in path.relative_to(folder).parts
    }
    assert own == {pattern.format(env=environment) for pattern in OWN_FILES}


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_no_placeholder_reaches_a_cluster(environment: str) -> None:
    text = yaml.safe_dump_all(everything_applied(environment))
    assert not PLACEHOLDER_ACCOUNT.findall(text)
    assert not PLACEHOLDER_ENVIRONMENT.findall(text)
    assert PLACEHOLDER_DOMAIN not in text.replace(facts(environment).domain, "<domain>")


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_the_facts_are_what_eksctl_creates(environment: str) -> None:
    """eksctl reads its own file, so it repeats the name, region and account: they must be the facts'."""
    environment_facts = facts(environment)
    config = eksctl_config(environment)
    assert config["metadata"]["name"] == environment_facts.cluster
    assert config["metadata"]["region"] == environment_facts.region
    assert config["metadata"]["tags"]["environment"] == environment
    text = (REPO_ROOT / "clusters" / environment / "eksctl.yaml").read_text()
    assert set(re.findall(r"arn:aws:\w+:[\w-]*:(\d{12}):", text)) == {environment_facts.account}
    assert f"notejam.{environment_facts.domain}" in text, "the external-dns role may change the app's record"


def test_a_missing_or_foreign_facts_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FactsError, match=r"clusters/qa/environment/kustomization\.yaml does not exist"):
        facts("qa", tmp_path)
    shutil.copytree(REPO_ROOT / "clusters" / "dev" / "environment", tmp_path / "clusters" / "qa" / "environment")
    with pytest.raises(FactsError, match="names environment 'dev', not 'qa'"):
        facts("qa", tmp_path)


# --- A fourth environment, by the README's steps ---------------------------------------------------------------


def edit(path: Path, *replacements: tuple[str, str]) -> None:
    text = path.read_text()
    for old, new in replacements:
        assert old in text, (path, old)
        text = text.replace(old, new)
    path.write_text(text)


def run_in(root: Path, *command: str) -> subprocess.CompletedProcess:
    """A Python module of the repository at `root`, with this checkout's pinned tools and validation data."""
    environment = {
        **os.environ,
        "PATH": f"{REPO_ROOT / '.tools' / 'bin'}{os.pathsep}{os.environ['PATH']}",
        "PYTHONPATH": f"{root / 'src'}{os.pathsep}{root}",
        "NOTEJAM_SCHEMAS_DIR": validation_data.schemas_location(),
        "NOTEJAM_CRDS_DIR": str(validation_data.crds_dir()),
    }
    return subprocess.run(
        [sys.executable, "-m", *command], cwd=root, env=environment, capture_output=True, text=True, check=False
    )


def add_environment(root: Path, name: str, account: str, cidr_prefix: str) -> list[str]:
    """README, "A new environment": copy the files of the environment before it (here staging's, promotion's source),
    state its facts, its network and sizes, add it to the list of environments, and regenerate what is derived from
    all environments. Returns the files it created."""
    created = []
    for pattern in OWN_FILES:
        source, target = root / pattern.format(env="staging"), root / pattern.format(env=name)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
        created.append(pattern.format(env=name))
    shutil.copytree(root / "clusters/staging/versions", root / "clusters" / name / "versions")
    edit(
        root / "clusters" / name / "environment/kustomization.yaml",
        ("name=staging", f"name={name}"),
        ("account=222222222222", f"account={account}"),
        ("domain=staging.example.com", f"domain={name}.example.com"),
    )
    eksctl = root / "clusters" / name / "eksctl.yaml"
    edit(eksctl, ("222222222222", account), ("10.20.", cidr_prefix))
    eksctl.write_text(re.sub(r"\bstaging\b", name, eksctl.read_text()))
    overlay = root / "overlays" / name
    edit(
        overlay / "kustomization.yaml",
        ("notejam-staging", f"notejam-{name}"),
        ("clusters/staging/", f"clusters/{name}/"),
    )
    edit(overlay / "kustomization.yaml", ("10.20.", cidr_prefix))
    edit(overlay / "database-claim.yaml", ("10.20.", cidr_prefix), ("0staging", f"0{name}"))
    # The one list of environments, in promotion order: the new one after staging.
    edit(root / "tools/repository.py", ('"staging", "prod")', f'"staging", "{name}", "prod")'))
    # What is derived from every environment, regenerated and reviewed as a diff: the providers' IAM policy in each
    # eksctl.yaml, and the snapshots of what the platform API renders.
    for command in (("tools.provider_policy", "write"), ("tests.crossplane.snapshots",)):
        result = run_in(root, *command)
        assert result.returncode == 0, (command, result.stdout[-3000:], result.stderr[-3000:])
    return created


def test_a_new_environment_is_five_files_and_passes_the_static_checks(tmp_path: Path) -> None:
    copy = tmp_path / "repository"
    for name in working_tree_files(REPO_ROOT):
        (copy / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO_ROOT / name, copy / name)
    # This checkout's pinned tools and the data `make tools` fetched (eksctl's schema), as the copy's own (git-ignored).
    (copy / ".tools").symlink_to(REPO_ROOT / ".tools")
    git = ["git", "-C", str(copy), "-c", "user.name=test", "-c", "user.email=test@localhost"]
    for command in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "the repository"]):
        subprocess.run([*git, *command], check=True)  # some checks diff against HEAD
    created = add_environment(copy, "uat", "444444444444", "10.40.")
    assert len(created) == 5
    subprocess.run([*git, "add", "-A"], check=True)  # what a commit of the new environment would hold
    report = tmp_path / "report.xml"
    checks = run_in(
        copy, "pytest", "-q", "-p", "no:cacheprovider", "-m", "not control_plane", f"--junitxml={report}",
        f"--deselect=tests/manifests/test_environments.py::{test_a_new_environment_is_five_files_and_passes_the_static_checks.__name__}",
        *STATIC_CHECKS,
    )  # fmt: skip
    assert checks.returncode == 0, checks.stdout[-6000:]
    ran = [case.get("name") for case in ElementTree.parse(report).iter("testcase")]
    with_uat = [name for name in ran if re.search(r"\buat\b", name)]
    assert len(with_uat) >= 50, "the checks ran without the new environment"
