"""One Argo CD: the clusters run exactly the release the live tests and validation run (CLUSTER_ARGOCD_VERSION)."""

from __future__ import annotations

import re

import yaml

from tools.cluster.versions import makefile_pins
from tools.repository import REPO_ROOT

ARGOCD = REPO_ROOT / "apps" / "argocd"
RELEASE_REPO = "https://github.com/argoproj/argo-cd.git"


def test_the_clusters_argocd_image_is_the_release_the_live_tests_run() -> None:
    values = yaml.safe_load((ARGOCD / "values.yaml").read_text())
    assert values["global"]["image"] == {"repository": "quay.io/argoproj/argocd", "tag": makefile_pins()["argocd"]}


def test_the_crds_come_from_that_release_not_from_the_chart() -> None:
    values = yaml.safe_load((ARGOCD / "values.yaml").read_text())
    assert values["crds"]["install"] is False
    application = yaml.safe_load((ARGOCD / "application.yaml").read_text())
    crds = [s for s in application["spec"]["sources"] if s["repoURL"] == RELEASE_REPO]
    assert crds == [{"repoURL": RELEASE_REPO, "targetRevision": makefile_pins()["argocd"], "path": "manifests/crds"}]


def test_the_bootstrap_applies_the_same_releases_crds_before_the_chart() -> None:
    for document in (REPO_ROOT / "docs" / "bootstrap.md", REPO_ROOT / "README.md"):
        text = document.read_text()
        crds = text.index(f'-k "https://github.com/argoproj/argo-cd/manifests/crds?ref={makefile_pins()["argocd"]}"')
        assert crds < text.index("helm install argocd"), document.name


def test_renovate_moves_the_image_the_crds_and_the_pin_together() -> None:
    config = (REPO_ROOT / "renovate.json5").read_text()
    group = re.search(r"matchPackageNames: \[([^\]]*)\],\s*groupName: 'Argo CD'", config)
    assert group, "no Argo CD group"
    for name in ("argo-cd", "quay.io/argoproj/argocd", RELEASE_REPO, "github.com/argoproj/argo-cd/v3"):
        assert f"'{name}'" in group.group(1), name
