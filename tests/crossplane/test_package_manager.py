"""Our packages as Crossplane's package manager sees them: dependency names and who owns the providers' identity."""

from __future__ import annotations

import pytest

from tests.argocd.argo_objects import wave
from tests.crossplane.conftest import CROSSPLANE_DIR
from tests.crossplane.package_manager import (
    crossplane_owns_service_account,
    dependency_name,
    package_repository,
    runtime_service_account,
)
from tools.manifests import kustomize

FAMILY = "provider-family-aws"


@pytest.mark.parametrize(
    ("reference", "name"),
    [
        ("xpkg.crossplane.io/crossplane-contrib/provider-family-aws:v2.6.0", "crossplane-contrib-provider-family-aws"),
        ("xpkg.upbound.io/upbound/provider-family-aws:v1.23.0", "upbound-provider-family-aws"),
        ("localhost:5000/acme/provider-x@sha256:0123", "acme-provider-x"),
        ("crossplane-contrib/provider-family-aws", "crossplane-contrib-provider-family-aws"),
    ],
)
def test_dependency_names_follow_the_resolver(reference: str, name: str) -> None:
    assert dependency_name(reference) == name


def test_long_repositories_are_cut_like_a_dns_label() -> None:
    name = dependency_name("xpkg.crossplane.io/" + "a" * 40 + "/" + "b" * 40 + ":v1")
    assert len(name) <= 63 and name.startswith("a" * 40 + "-b")


def providers() -> list[dict]:
    return [doc for doc in kustomize(CROSSPLANE_DIR / "packages") if doc["kind"] == "Provider"]


def test_the_family_is_declared_under_the_name_the_resolver_would_give_it() -> None:
    (family,) = [p for p in providers() if package_repository(p["spec"]["package"]).endswith(f"/{FAMILY}")]
    assert family["metadata"]["name"] == dependency_name(family["spec"]["package"])


def test_the_family_is_installed_a_wave_before_the_providers_that_depend_on_it() -> None:
    family = [p for p in providers() if package_repository(p["spec"]["package"]).endswith(f"/{FAMILY}")]
    services = [p for p in providers() if p not in family]
    assert family and services
    assert max(wave(p) for p in family) < min(wave(p) for p in services)
    # The resolver then finds it installed; it still runs with our runtime config (IRSA).
    assert all(p["spec"]["runtimeConfigRef"] == {"name": "provider-aws"} for p in family)


def test_ownership_rule() -> None:
    shared_template = {"spec": {"serviceAccountTemplate": {"metadata": {"name": "provider-aws"}}}}
    assert crossplane_owns_service_account(shared_template)
    assert crossplane_owns_service_account({"spec": {}})
    named_in_pod = {"spec": {"deploymentTemplate": {"spec": {"template": {"spec": {"serviceAccountName": "x"}}}}}}
    assert runtime_service_account(named_in_pod) == "x"
    assert not crossplane_owns_service_account(named_in_pod)


def test_the_providers_service_account_is_ours_not_a_revisions() -> None:
    """One ServiceAccount for all providers is fine only if no provider revision owns it: deleting an old revision
    on upgrade would garbage-collect it and every provider would lose its IRSA role."""
    documents = kustomize(CROSSPLANE_DIR / "packages")
    (runtime_config,) = [doc for doc in documents if doc["kind"] == "DeploymentRuntimeConfig"]
    assert not crossplane_owns_service_account(runtime_config)
    accounts = {doc["metadata"]["name"] for doc in documents if doc["kind"] == "ServiceAccount"}
    assert runtime_service_account(runtime_config) in accounts, "the providers' ServiceAccount must be in git"
    for doc in documents:
        if doc["kind"] == "ServiceAccount":
            assert wave(doc) < min(wave(p) for p in providers())
