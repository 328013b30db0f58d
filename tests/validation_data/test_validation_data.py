"""Users who are online can make the validation data themselves, and get exactly what the offline copy holds."""

import json
from pathlib import Path

import pytest

from tools import validation_data
from tools.repository import REPO_ROOT

CRDS_DIR = validation_data.crds_dir()
SCHEMAS_DIR = validation_data.schemas_dir()


def test_converting_the_upstream_crds_reproduces_every_schema_validation_reads(tmp_path: Path) -> None:
    validation_data.convert(CRDS_DIR, tmp_path)
    expected = sorted(path.relative_to(SCHEMAS_DIR) for path in SCHEMAS_DIR.rglob("*.json"))
    assert expected, f"no schemas under {SCHEMAS_DIR}"
    for relative in expected:
        produced = tmp_path / relative
        assert produced.exists(), f"{relative} is not produced from {CRDS_DIR}"
        assert json.loads(produced.read_text()) == json.loads((SCHEMAS_DIR / relative).read_text()), relative


def test_every_pinned_upstream_file_is_the_one_the_offline_copy_holds() -> None:
    pinned = {f"{folder}/{name}" for folder, (_, _, _, files) in validation_data.SOURCES.items() for name in files}
    offline = {str(path.relative_to(CRDS_DIR)) for path in CRDS_DIR.rglob("*.yaml")}
    # The offline copy may hold more than is pinned today (../shared still has function-patch-and-transform's input
    # CRD, unused since the compositions became our own function), never less; `fetch` makes exactly the pinned.
    assert pinned <= offline
    assert validation_data.upstream_url("argo-cd", "application-crd.yaml") == (
        "https://raw.githubusercontent.com/argoproj/argo-cd/v3.5.1/manifests/crds/application-crd.yaml"
    )


def test_a_field_named_properties_is_not_taken_for_a_schema() -> None:
    schema = {
        "type": "object",
        "properties": {
            "rules": {
                "type": "object",
                "properties": {"properties": {"type": "object", "additionalProperties": {"type": "string"}}},
            }
        },
    }
    closed = validation_data.close_nested_objects(schema)
    assert "additionalProperties" not in closed  # the root stays open
    assert closed["properties"]["rules"]["additionalProperties"] is False
    assert closed["properties"]["rules"]["properties"]["properties"]["additionalProperties"] == {"type": "string"}


def test_convert_refuses_a_missing_folder(tmp_path: Path, capsys) -> None:
    assert validation_data.main(["convert", "--crds", str(tmp_path / "nope"), "--dest", str(tmp_path)]) == 2
    assert "is not a folder" in capsys.readouterr().err


def test_the_data_is_beside_the_repository_unless_shared_dir_says_where(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The Makefile's rule, which it leaves to this code: ../shared, or SHARED_DIR=<folder>."""
    for variable in ("SHARED_DIR", "NOTEJAM_CRDS_DIR", "NOTEJAM_SCHEMAS_DIR"):
        monkeypatch.delenv(variable, raising=False)
    assert validation_data.crds_dir() == REPO_ROOT.parent / "shared" / "crds"
    monkeypatch.setenv("SHARED_DIR", str(tmp_path))
    assert (validation_data.crds_dir(), validation_data.schemas_dir()) == (
        tmp_path / "crds",
        tmp_path / "kubeconform-schemas",
    )
