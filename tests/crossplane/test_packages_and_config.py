"""Crossplane packages, runtime config and ProviderConfig: pinned, matching the CRDs we validate against, ordered."""

from __future__ import annotations

import re

import pytest

from tests.argocd.argo_objects import source_objects
from tests.crossplane.conftest import CROSSPLANE_DIR, REPO_ROOT, load_yaml, render_until_settled
from tests.crossplane.package_manager import package_repository, runtime_service_account
from tools.crossplane_composite import load_apis
from tools.manifests import kustomize
from tools.validate import discover_targets
from tools.validation_data import crds_dir

PACKAGES = CROSSPLANE_DIR / "packages"
# What a cluster installs: crossplane/packages names the packages, clusters/<env>/versions/ tags them. Dev's tags are
# the ones Renovate bumps with the validation data; staging and prod follow by promotion (tests/promotion).
WAVE = "argocd.argoproj.io/sync-wave"


def upstream_release(folder: str) -> str:
    """The release of an upstream project whose CRDs are in NOTEJAM_CRDS_DIR (from its README table)."""
    match = re.search(rf"^\| `{folder}/` \| [^|]+ \| (v[0-9.]+) ", (crds_dir() / "README.md").read_text(), re.M)
    assert match, f"{folder} not in the CRDs README"
    return match.group(1)


@pytest.fixture(scope="module")
def packages() -> dict[str, dict]:
    """The packages and the runtime config of dev by name (the ServiceAccount of the same name is left out)."""
    return {
        doc["metadata"]["name"]: doc
        for doc in source_objects("dev", "crossplane-packages", "crossplane/packages")
        if doc["kind"] != "ServiceAccount"
    }


def providers(packages):
    return {name: doc for name, doc in packages.items() if doc["kind"] == "Provider"}


@pytest.mark.parametrize("folder", ["packages", "provider-config", "apis"])
def test_every_crossplane_folder_is_in_the_validation_loop(folder):
    """Built and kubeconformed -strict with the rest (tests/manifests/test_repository_validates.py)."""
    assert CROSSPLANE_DIR / folder in {t.path for t in discover_targets(REPO_ROOT) if t.is_kustomization}


def test_one_provider_per_aws_service_our_compositions_use_all_at_the_validated_release(packages, examples):
    release = upstream_release("provider-upjet-aws")
    used = {
        resource["apiVersion"].split(".")[0]
        for claim in examples.values()
        for resource in render_until_settled(claim).resources
    }
    assert used == {"rds", "ec2", "s3", "iam", "kms", "lambda", "cloudwatchevents"}
    expected = {f"provider-aws-{service}" for service in used} | {"provider-family-aws"}
    by_package = {package_repository(p["spec"]["package"]).rpartition("/")[2]: p for p in providers(packages).values()}
    assert set(by_package) == expected
    for name, provider in by_package.items():
        assert provider["spec"]["package"] == f"xpkg.crossplane.io/crossplane-contrib/{name}:{release}"


def test_our_function_is_the_only_one_pinned_to_a_commit_and_named_as_the_pipelines_reference_it(packages):
    functions = {name: doc["spec"]["package"] for name, doc in packages.items() if doc["kind"] == "Function"}
    assert list(functions) == ["function-notejam"]
    # The release workflow sets the tag to the commit it built (tools/function_release.py).
    assert re.fullmatch(r"ghcr\.io/notejam/function-notejam:[0-9a-f]{40}", functions["function-notejam"])
    referenced = {
        step["functionRef"]["name"] for api in load_apis().values() for step in api.composition["spec"]["pipeline"]
    }
    assert referenced == set(functions)


def test_providers_run_as_the_irsa_service_account():
    documents = kustomize(PACKAGES)
    (runtime,) = [doc for doc in documents if doc["kind"] == "DeploymentRuntimeConfig"]
    assert runtime["metadata"]["name"] == "provider-aws"
    assert runtime_service_account(runtime) == "provider-aws"
    (account,) = [doc for doc in documents if doc["kind"] == "ServiceAccount"]
    assert account["metadata"]["name"] == "provider-aws"
    # clusters/<env> replaces this whole value with the cluster's account and environment.
    assert account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"] == (
        "arn:aws:iam::000000000000:role/notejam-ENV-crossplane-provider-aws"
    )
    for doc in documents:
        if doc["kind"] == "Provider":
            assert doc["spec"]["runtimeConfigRef"] == {"name": "provider-aws"}


def test_provider_config_uses_irsa_and_skips_dry_run_until_its_crd_exists():
    [config] = kustomize(CROSSPLANE_DIR / "provider-config")
    assert (config["kind"], config["metadata"]["name"]) == ("ProviderConfig", "default")
    assert config["spec"]["credentials"] == {"source": "IRSA"}
    assert config["metadata"]["annotations"]["argocd.argoproj.io/sync-options"] == "SkipDryRunOnMissingResource=true"


def test_sync_waves_order_runtime_config_packages_config_definitions_compositions(packages):
    def wave(doc) -> int:
        return int(doc["metadata"]["annotations"][WAVE])

    [config] = kustomize(CROSSPLANE_DIR / "provider-config")
    apis = kustomize(CROSSPLANE_DIR / "apis")
    definitions = [wave(doc) for doc in apis if doc["kind"] == "CompositeResourceDefinition"]
    compositions = [wave(doc) for doc in apis if doc["kind"] == "Composition"]
    package_waves = [wave(doc) for doc in packages.values() if doc["kind"] in ("Provider", "Function")]
    assert wave(packages["provider-aws"]) < min(package_waves)
    assert max(package_waves) < wave(config) < min(definitions)
    # The overlays' claims sync at wave -1: every composition must be there before.
    assert max(definitions) < min(compositions) <= max(compositions) < -1


def test_definitions_offer_claims_with_the_interface_names():
    apis = load_apis()
    for kind, api in apis.items():
        spec = api.definition["spec"]
        assert api.definition["apiVersion"] == "apiextensions.crossplane.io/v1"
        assert (spec["group"], spec["scope"], spec["names"]["kind"]) == (
            "platform.notejam.io",
            "LegacyCluster",
            f"X{kind}",
        )
        assert spec["defaultCompositionRef"]["name"] == api.composition["metadata"]["name"]
        assert api.composition["spec"]["compositeTypeRef"] == {
            "apiVersion": "platform.notejam.io/v1alpha1",
            "kind": f"X{kind}",
        }
    assert apis["PostgreSQLInstance"].definition["spec"]["connectionSecretKeys"] == [
        "host",
        "port",
        "username",
        "password",
        "database",
    ]


def test_the_xrd_v1_schema_still_defaults_scope_to_legacy_cluster():
    crd = load_yaml(crds_dir() / "crossplane" / "apiextensions.crossplane.io_compositeresourcedefinitions.yaml")
    [v1] = [version for version in crd["spec"]["versions"] if version["name"] == "v1"]
    scope = v1["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["scope"]
    assert "LegacyCluster" in scope["enum"]
