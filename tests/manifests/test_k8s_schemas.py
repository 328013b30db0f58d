"""tools/k8s_schemas.py: kubernetes-validate's strict schemas, rewritten so kubeconform can load them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tools import k8s_schemas
from tools.validate import validate_documents


def test_refs_become_relative_and_the_id_goes() -> None:
    original = (
        '{"$id": "https://kubernetes.io/api/x", "properties": {"spec": {"$ref": "/api/_definitions.json#/$defs/A"}}}'
    )
    rewritten = json.loads(k8s_schemas.rewrite_schema(original))
    assert "$id" not in rewritten
    assert rewritten["properties"]["spec"]["$ref"] == "_definitions.json#/$defs/A"


def test_the_cache_holds_every_schema_of_the_pinned_version(tmp_path: Path) -> None:
    directory = k8s_schemas.ensure_schemas("1.35.0", tmp_path)
    source = k8s_schemas.source_dir("1.35.0")
    assert {p.name for p in directory.glob("*.json")} == {p.name for p in source.glob("*.json")}
    assert "/api/_definitions.json" not in (directory / "deployment-apps-v1.json").read_text()


def test_a_second_call_reuses_the_cache(tmp_path: Path) -> None:
    directory = k8s_schemas.ensure_schemas("1.35.0", tmp_path)
    marker = directory / "service-v1.json"
    marker.write_text("{}")  # would be overwritten by a regeneration
    assert k8s_schemas.ensure_schemas("1.35.0", tmp_path) == directory
    assert marker.read_text() == "{}"


def test_an_unknown_kubernetes_version_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"no schemas for Kubernetes 0\.1\.0"):
        k8s_schemas.ensure_schemas("0.1.0", tmp_path)


def test_an_unknown_container_field_is_invalid_with_the_rewritten_schemas(locations: list[str]) -> None:
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "nginx:1.29", "imagePullPolicyy": "Always"}]},
            },
        },
    }
    report = validate_documents([deployment], "test", locations)
    assert report.invalid == 1
    assert "additional properties 'imagePullPolicyy' not allowed" in report.failures[0].reason
