"""tools/xrd_schemas.py: claim and composite schemas generated from an XRD accept what Crossplane accepts and
reject typos and wrong types (checked with kubeconform itself, like `make validate`)."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from tools import xrd_schemas
from tools.validate import run_kubeconform

FIXTURE = Path(__file__).parent / "fixtures" / "xrd.yaml"


def claim(**spec_extra: object) -> dict:
    return {
        "apiVersion": "test.notejam.io/v1alpha1",
        "kind": "Widget",
        "metadata": {"name": "w", "namespace": "team"},
        "spec": {"parameters": {"size": "small", "replicas": 2, "labels": {"team": "a", "anything": 1}}, **spec_extra},
    }


@pytest.fixture(scope="module")
def schema_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("xrd-schemas")
    xrd_schemas.write_schemas([FIXTURE], directory)
    return directory


def kubeconform(schema_dir: Path, tmp_path: Path, doc: dict) -> dict:
    path = tmp_path / "doc.yaml"
    path.write_text(yaml.safe_dump(doc))
    report = run_kubeconform([path], [xrd_schemas.schema_location(schema_dir)])
    return report["summary"] | {"msg": (report["resources"] or [{}])[0].get("msg", "")}


def test_files_follow_the_catalog_layout_for_served_versions_only(schema_dir: Path) -> None:
    files = sorted(p.relative_to(schema_dir).as_posix() for p in schema_dir.rglob("*.json"))
    assert files == ["test.notejam.io/widget_v1alpha1.json", "test.notejam.io/xwidget_v1alpha1.json"]


def test_a_claim_with_crossplane_machinery_fields_is_valid(schema_dir: Path, tmp_path: Path) -> None:
    doc = claim(
        compositionRef={"name": "c"},
        compositionSelector={"matchLabels": {"provider": "aws"}},
        compositionRevisionRef={"name": "c-1"},
        compositionUpdatePolicy="Manual",
        writeConnectionSecretToRef={"name": "secret"},
        publishConnectionDetailsTo={"name": "secret", "configRef": {"name": "default"}},
        resourceRef={"apiVersion": "test.notejam.io/v1alpha1", "kind": "XWidget", "name": "w-abc"},
    )
    assert kubeconform(schema_dir, tmp_path, doc)["valid"] == 1


def test_a_misspelt_parameter_is_invalid(schema_dir: Path, tmp_path: Path) -> None:
    doc = claim()
    doc["spec"]["parameters"]["sise"] = "small"
    result = kubeconform(schema_dir, tmp_path, doc)
    assert result["invalid"] == 1
    assert "'sise' not allowed" in result["msg"]


def test_a_wrong_type_is_invalid(schema_dir: Path, tmp_path: Path) -> None:
    doc = claim()
    doc["spec"]["parameters"]["replicas"] = "two"
    assert "want integer" in kubeconform(schema_dir, tmp_path, doc)["msg"]


def test_a_misspelt_spec_field_is_invalid(schema_dir: Path, tmp_path: Path) -> None:
    doc = claim(writeConnectionSecretRef={"name": "secret"})
    assert "'writeConnectionSecretRef' not allowed" in kubeconform(schema_dir, tmp_path, doc)["msg"]


def test_the_claim_connection_secret_takes_no_namespace(schema_dir: Path, tmp_path: Path) -> None:
    doc = claim(writeConnectionSecretToRef={"name": "secret", "namespace": "elsewhere"})
    assert kubeconform(schema_dir, tmp_path, doc)["invalid"] == 1


def test_the_composite_accepts_claim_ref_and_a_namespaced_secret(schema_dir: Path, tmp_path: Path) -> None:
    doc = claim(
        claimRef={"apiVersion": "test.notejam.io/v1alpha1", "kind": "Widget", "namespace": "team", "name": "w"},
        writeConnectionSecretToRef={"name": "secret", "namespace": "crossplane-system"},
        resourceRefs=[{"apiVersion": "v1", "kind": "Secret", "name": "s"}],
    )
    doc["kind"] = "XWidget"
    del doc["metadata"]["namespace"]
    assert kubeconform(schema_dir, tmp_path, doc)["valid"] == 1


def test_preserve_unknown_fields_stays_open() -> None:
    xrd = yaml.safe_load(FIXTURE.read_text())
    schema = xrd_schemas.schemas_from_xrd(xrd)["test.notejam.io/widget_v1alpha1.json"]
    parameters = schema["properties"]["spec"]["properties"]["parameters"]
    assert parameters["additionalProperties"] is False
    assert "additionalProperties" not in parameters["properties"]["labels"]


def test_an_xrd_of_another_api_version_is_refused() -> None:
    xrd = copy.deepcopy(yaml.safe_load(FIXTURE.read_text()))
    xrd["apiVersion"] = "apiextensions.crossplane.io/v2"
    with pytest.raises(xrd_schemas.XRDError, match=r"expected apiextensions\.crossplane\.io/v1"):
        xrd_schemas.schemas_from_xrd(xrd, source="fixture")


def test_stale_schemas_are_removed(tmp_path: Path) -> None:
    stale = tmp_path / "old.notejam.io" / "gone_v1.json"
    stale.parent.mkdir()
    stale.write_text("{}")
    xrd_schemas.write_schemas([FIXTURE], tmp_path)
    assert not stale.exists()


def test_the_repository_xrds_are_found_and_cover_the_claim_examples() -> None:
    kinds = set()
    for path in xrd_schemas.find_xrds():
        for doc in yaml.safe_load_all(path.read_text()):
            kinds.add(doc["spec"]["claimNames"]["kind"])
    assert {"PostgreSQLInstance", "DatabaseBackup"} <= kinds
