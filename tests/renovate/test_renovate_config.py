"""renovate.json5 is valid for the pinned Renovate, replaces dependabot, and groups what must move together."""

from __future__ import annotations

import fnmatch
import os
import re
import subprocess
from typing import Any

import pytest

from tools.renovate_extract import OFFLINE_ENV, REPO_ROOT, Dependency, Extraction, read_config, renovate_binary
from tools.repository import ENVIRONMENTS, makefile_pin

pytestmark = pytest.mark.node


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    return read_config()


def group_members(config: dict[str, Any], group: str) -> list[str]:
    """The package name patterns of the package rule that forms `group`."""
    (rule,) = [rule for rule in config["packageRules"] if rule.get("groupName") == group]
    return rule["matchPackageNames"]


def in_group(config: dict[str, Any], group: str, name: str) -> bool:
    """Exact names and `*` globs, the two forms renovate.json5 uses (Renovate matches globs with minimatch)."""
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in group_members(config, group))


def deps_in(extraction: Extraction, file: str) -> list[Dependency]:
    return [dep for dep in extraction.dependencies if dep.file == file]


def test_renovate_validates_the_config_strictly() -> None:
    validator = renovate_binary().parent / "renovate-config-validator"
    result = subprocess.run(
        [str(validator), "--strict", "renovate.json5"],
        cwd=REPO_ROOT,
        env={**os.environ, **OFFLINE_ENV},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_dependabot_is_gone() -> None:
    assert not list((REPO_ROOT / ".github").glob("dependabot.y*ml"))


def test_the_managers_the_layout_needs_are_configured(config: dict[str, Any]) -> None:
    for manager in ("argocd", "helm-values", "kubernetes", "crossplane", "pip_requirements"):
        assert config[manager]["fileMatch"], manager
    assert all(
        manager.get("datasourceTemplate") or "datasource" in " ".join(manager["matchStrings"])
        for manager in config["customManagers"]
    )


def test_one_kubernetes_version_is_one_group(config: dict[str, Any], extraction: Extraction) -> None:
    """eksctl, the validation schemas, the Pod Security levels and the autoscaler image agree and move together."""
    kubernetes = [
        *[dep for env in ENVIRONMENTS for dep in deps_in(extraction, f"clusters/{env}/eksctl.yaml")],
        *deps_in(extraction, "base/namespace.yaml"),
        *[dep for dep in deps_in(extraction, "Makefile") if dep.name == "kubernetes/kubernetes"],
        *[dep for dep in deps_in(extraction, "apps/addons/cluster-autoscaler.yaml") if dep.manager == "helm-values"],
    ]
    assert {dep.manager for dep in kubernetes} == {"regex", "helm-values"} and len(kubernetes) >= 7
    for dep in kubernetes:
        assert in_group(config, "Kubernetes", dep.name), f"{dep.file}: {dep.name} is not in the Kubernetes group"
    minors = {".".join(str(dep.current_value).removeprefix("v").split(".")[:2]) for dep in kubernetes}
    assert len(minors) == 1, f"the Kubernetes version differs: {sorted((d.file, d.current_value) for d in kubernetes)}"


def test_the_aws_provider_family_is_one_group_with_its_validation_crds(
    config: dict[str, Any], extraction: Extraction
) -> None:
    family = [
        dep
        for dep in extraction.dependencies
        if "/provider-family-aws" in dep.name or "/provider-aws-" in dep.name or "/provider-upjet-aws" in dep.name
    ]
    for dep in family:
        assert in_group(config, "AWS provider family", dep.name), f"{dep.file}: {dep.name}"
    # What dev runs (staging and prod follow by promotion) and the CRDs validation reads: one release.
    pinned = [
        dep for dep in family if dep.current_value and not dep.file.startswith(("clusters/staging/", "clusters/prod/"))
    ]
    assert any(dep.file == "tools/validation_data.py" for dep in pinned) and len(pinned) >= 8
    assert len({dep.current_value for dep in pinned}) == 1, sorted((d.file, d.current_value) for d in pinned)


def test_the_app_image_is_left_to_the_release_and_promotion(config: dict[str, Any], extraction: Extraction) -> None:
    app = "ghcr.io/notejam/notejam"
    (rule,) = [rule for rule in config["packageRules"] if app in rule.get("matchPackageNames", [])]
    assert rule["enabled"] is False
    assert any(dep.name == "ghcr.io/notejam/notejam" for dep in deps_in(extraction, "overlays/dev/kustomization.yaml"))


def test_renovate_bumps_platform_versions_in_dev_only(config: dict[str, Any], extraction: Extraction) -> None:
    """Renovate sees every cluster's versions, and its pull requests change dev's: promotion carries them on."""
    in_versions = [dep for dep in extraction.dependencies if re.match(r"clusters/[^/]+/versions/", dep.file)]
    names = {env: sorted(d.name for d in in_versions if d.file.startswith(f"clusters/{env}/")) for env in ENVIRONMENTS}
    assert names["dev"] and names["dev"] == names["staging"] == names["prod"]
    disabled = [
        pattern
        for rule in config["packageRules"]
        if rule.get("enabled") is False and not rule.get("matchPackageNames")
        for pattern in rule.get("matchFileNames") or []
    ]
    for dep in in_versions:
        updated = not any(fnmatch.fnmatchcase(dep.file, pattern) for pattern in disabled)
        assert updated == dep.file.startswith("clusters/dev/"), f"{dep.file}: {dep.name}"


def test_eksctl_is_bumped_in_the_makefile_and_the_bootstrap_instructions_together(extraction: Extraction) -> None:
    """The Makefile's pin (whose schema the tests read) and the release the docs install are one dependency to
    Renovate, same datasource and name, so that one pull request moves them all."""
    eksctl = [dep for dep in extraction.dependencies if dep.name == "eksctl-io/eksctl"]
    assert {dep.file for dep in eksctl} == {"Makefile", "README.md", "docs/bootstrap.md"}
    assert {(dep.datasource, dep.current_value) for dep in eksctl} == {
        ("github-releases", makefile_pin("EKSCTL_VERSION"))
    }
