"""`make validate` checks Argo CD objects against the CRDs of the release the clusters run, not the offline copy's."""

from pathlib import Path

from tools import validate, validation_data
from tools.cluster.versions import makefile_pins


def test_validation_reads_the_argocd_crds_of_the_pinned_release_first(tmp_path: Path) -> None:
    version = makefile_pins()["argocd"]
    crds = validation_data.argocd_crds_dir()
    assert crds.parts[-3:] == (f"v3@{version}", "manifests", "crds")
    schemas = validation_data.argocd_schemas_dir(tmp_path)
    assert (schemas / "argoproj.io" / "application_v1alpha1.json").is_file()
    locations = validate.schema_locations(cache_dir=tmp_path)
    argocd = next(i for i, location in enumerate(locations) if location.startswith(str(schemas)))
    shared = next(i for i, location in enumerate(locations) if location.startswith(validation_data.schemas_location()))
    assert argocd < shared  # kubeconform takes the first location that has a kind's schema


def test_the_argocd_crds_folder_can_be_pointed_elsewhere(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("NOTEJAM_ARGOCD_CRDS_DIR", str(tmp_path))
    assert validation_data.argocd_crds_dir() == tmp_path
