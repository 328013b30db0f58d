"""Add-ons whose charts ship CRDs too large for client-side apply sync server-side.

Client-side apply stores the whole object as JSON in the `kubectl.kubernetes.io/last-applied-configuration`
annotation, and the API server refuses annotations over 262,144 bytes in total (`metadata.annotations: Too long`),
so such a CRD never applies and its wave never becomes healthy. Server-side apply keeps no such copy. The CRDs are
the upstream ones of the pinned releases, read from the validation data (NOTEJAM_CRDS_DIR, tools/validation_data.py).
"""

from __future__ import annotations

import json

import pytest
import yaml

from tests.argocd.argo_objects import applications, helm_sources
from tools.manifests import Document
from tools.repository import CHART_CRD_FOLDERS, ENVIRONMENTS
from tools.validation_data import NOT_APPLIED_BY_ARGO_CD, SOURCES, SafeLoader, crds_dir

# k8s.io/apimachinery TotalAnnotationSizeLimitB: the sum of every annotation's key and value.
ANNOTATION_LIMIT_BYTES = 256 * 1024
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def last_applied_bytes(obj: Document) -> int:
    """Size of the annotation client-side apply would write: the applied object as compact JSON, plus the key."""
    return len(LAST_APPLIED) + len(json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode())


def crds_of(folder: str) -> list[Document]:
    return [
        doc
        for path in sorted((crds_dir() / folder).glob("*.yaml"))
        for doc in yaml.load_all(path.read_text(), Loader=SafeLoader)
        if doc and doc.get("kind") == "CustomResourceDefinition"
    ]


def too_large_crds(chart: str) -> list[str]:
    """The CRDs of `chart` (per CHART_CRD_FOLDERS) that client-side apply cannot apply."""
    folder = CHART_CRD_FOLDERS.get(chart)
    if folder is None:
        return []
    return [crd["metadata"]["name"] for crd in crds_of(folder) if last_applied_bytes(crd) > ANNOTATION_LIMIT_BYTES]


def syncs_server_side(application: Document) -> bool:
    options = (application["spec"].get("syncPolicy") or {}).get("syncOptions") or []
    return "ServerSideApply=true" in options


def applications_needing_server_side_apply(apps: dict[str, Document]) -> dict[str, list[str]]:
    """Application name -> the CRDs that force it to sync server-side, for those that do not."""
    missing = {}
    for name, application in apps.items():
        large = [crd for source in helm_sources(application) for crd in too_large_crds(source["chart"])]
        if large and not syncs_server_side(application):
            missing[name] = large
    return missing


def test_the_size_rule_sees_the_external_secrets_store_crd() -> None:
    """The case that stopped the first sync: SecretStore of external-secrets 2.9.0 (about 349 kB as JSON)."""
    assert "secretstores.external-secrets.io" in too_large_crds("external-secrets")
    assert too_large_crds("metrics-server") == []


def test_every_crd_folder_is_known_to_come_from_a_chart_or_not_from_argo_cd() -> None:
    """A CRD folder added to the validation data later is sized too: it must say which chart installs it. (The
    offline copy may hold folders no longer pinned, such as function-patch-and-transform's: nothing reads those.)"""
    assert set(SOURCES) == set(CHART_CRD_FOLDERS.values()) | set(NOT_APPLIED_BY_ARGO_CD)


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_add_ons_with_too_large_crds_sync_server_side(environment: str) -> None:
    apps = applications(environment)
    charts = {source["chart"] for application in apps.values() for source in helm_sources(application)}
    assert set(CHART_CRD_FOLDERS) <= charts, "a chart named in CHART_CRD_FOLDERS is no longer installed"
    assert applications_needing_server_side_apply(apps) == {}


def test_the_rule_fails_on_client_side_external_secrets() -> None:
    """The check itself: external-secrets without ServerSideApply=true is reported."""
    application = applications("dev")["external-secrets"]
    stripped = json.loads(json.dumps(application))
    stripped["spec"]["syncPolicy"]["syncOptions"] = ["CreateNamespace=true"]
    assert applications_needing_server_side_apply({"external-secrets": stripped}) == {
        "external-secrets": too_large_crds("external-secrets")
    }
