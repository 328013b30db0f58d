"""Argo CD's resource.exclusions never hide a kind that some Application must apply.

Argo CD drops an excluded group/kind from what it applies (condition ExcludedResourceWarning, controller/state.go),
so an exclusion that matches something in git or in an add-on chart silently leaves it out of the cluster.
"""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Any

import pytest
import yaml

from tests.argocd.argo_objects import IN_CLUSTER, applications, git_paths
from tools.manifests import kustomize
from tools.repository import ENVIRONMENTS, REPO_ROOT

# Kinds the add-on charts install that the platform depends on: the aggregated metrics APIs the HPA reads
# (metrics-server: v1beta1.metrics.k8s.io, prometheus-adapter: v1beta1.custom.metrics.k8s.io), the admission
# webhooks (load balancer controller, External Secrets, prometheus-operator) and the charts' CRDs.
CHART_KINDS = {
    "metrics-server": {("apiregistration.k8s.io", "APIService")},
    "prometheus-adapter": {("apiregistration.k8s.io", "APIService")},
    "aws-load-balancer-controller": {
        ("admissionregistration.k8s.io", "MutatingWebhookConfiguration"),
        ("admissionregistration.k8s.io", "ValidatingWebhookConfiguration"),
        ("apiextensions.k8s.io", "CustomResourceDefinition"),
    },
    "external-secrets": {
        ("admissionregistration.k8s.io", "ValidatingWebhookConfiguration"),
        ("apiextensions.k8s.io", "CustomResourceDefinition"),
    },
    "kube-prometheus-stack": {("apiextensions.k8s.io", "CustomResourceDefinition")},
    "crossplane": {("apiextensions.k8s.io", "CustomResourceDefinition")},
}


def exclusions() -> list[dict[str, Any]]:
    """The resource.exclusions of argocd-cm, from the argo-cd chart's values (apps/argocd/values.yaml)."""
    values = yaml.safe_load((REPO_ROOT / "apps" / "argocd" / "values.yaml").read_text())
    return yaml.safe_load(values["configs"]["cm"]["resource.exclusions"])


def is_excluded(rules: list[dict[str, Any]], group: str, kind: str, cluster: str = IN_CLUSTER) -> bool:
    """Argo CD's FilteredResource.Match: groups and clusters are globs, kinds exact or `*`; empty lists match all."""

    def matches(patterns: list[str] | None, value: str, glob: bool) -> bool:
        if not patterns:
            return True
        return any(fnmatchcase(value, p) if glob else p in ("*", value) for p in patterns)

    return any(
        matches(rule.get("apiGroups"), group, glob=True)
        and matches(rule.get("kinds"), kind, glob=False)
        and matches(rule.get("clusters"), cluster, glob=True)
        for rule in rules
    )


def group_of(api_version: str) -> str:
    return api_version.rpartition("/")[0]


def test_the_matcher_follows_argo_cd() -> None:
    rules = [{"apiGroups": ["apiregistration.k8s.io"], "kinds": ["APIService"]}, {"apiGroups": ["*"], "kinds": ["X"]}]
    assert is_excluded(rules, "apiregistration.k8s.io", "APIService")
    assert is_excluded(rules, "aws.upbound.io", "X")
    assert not is_excluded(rules, "apiregistration.k8s.io", "APIServiceX")
    assert not is_excluded([{"kinds": ["Lease"], "clusters": ["https://other"]}], "coordination.k8s.io", "Lease")


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_no_kind_from_git_is_excluded(environment: str) -> None:
    rules = exclusions()
    for name, application in applications(environment).items():
        for path in git_paths(application):
            for doc in kustomize(REPO_ROOT / path):
                group = group_of(doc["apiVersion"])
                assert not is_excluded(rules, group, doc["kind"]), f"{name}: {path} applies {group}/{doc['kind']}"


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_no_kind_the_add_on_charts_install_is_excluded(environment: str) -> None:
    apps = applications(environment)
    rules = exclusions()
    for name, kinds in CHART_KINDS.items():
        assert name in apps, f"{environment}: no Application {name}"
        for group, kind in sorted(kinds):
            assert not is_excluded(rules, group, kind), f"{name} installs {group}/{kind}, which Argo CD would skip"


# The argo-cd chart's default `configs.cm."resource.exclusions"`: the list of Argo CD's install manifests
# (manifests/base/config/argocd-cm.yaml of the release the clusters run, read from the Go module cache below).
def release_exclusions() -> list[dict[str, Any]]:
    from tools.validation_data import argocd_crds_dir

    argocd_cm = argocd_crds_dir().parent / "base" / "config" / "argocd-cm.yaml"
    return yaml.safe_load(yaml.safe_load(argocd_cm.read_text())["data"]["resource.exclusions"])


def test_our_exclusions_keep_every_default_they_replace() -> None:
    """A value for resource.exclusions replaces the chart's default list: every kind it excluded stays excluded."""
    rules = exclusions()
    for rule in release_exclusions():
        for group in rule.get("apiGroups") or ["*"]:
            for kind in rule.get("kinds") or ["*"]:
                assert is_excluded(rules, group, kind), f"{group}/{kind} is excluded by the chart's default"


def test_the_comment_says_our_list_replaces_the_charts_default() -> None:
    text = (REPO_ROOT / "apps" / "argocd" / "values.yaml").read_text()
    comment = text.split("resource.exclusions:", 1)[0].rsplit("application.resourceTrackingMethod", 1)[1]
    assert "chart writes a default resource.exclusions" in comment
    assert "replaces that list" in comment
