"""Building Argo CD's web UI (tools/cluster/argocd_ui.py), without running pnpm: what it changes in the module copy,
how it is cached, how the server build is pointed at it, and that the built copy holds a UI argocd-server can serve."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tools.cluster import argocd_ui
from tools.cluster.build import GOMOD_DIR, is_built
from tools.cluster.versions import component_dir, makefile_pins
from tools.repository import shared_dir
from tools.validation_data import argocd_module_dir

VERSION = makefile_pins()["argocd"]


def module_package_json() -> str:
    return (argocd_module_dir(VERSION) / "ui" / "package.json").read_text()


def test_only_the_argo_ui_dependency_is_pointed_at_the_tarball(tmp_path: Path) -> None:
    tarball = tmp_path / "argo-ui.tgz"
    before = json.loads(module_package_json())
    after = json.loads(argocd_ui.package_json_with_argo_ui(module_package_json(), tarball))
    assert before["dependencies"]["argo-ui"].startswith("git+https://github.com/argoproj/argo-ui")
    assert after["dependencies"].pop("argo-ui") == f"file:{tarball}"
    before["dependencies"].pop("argo-ui")
    assert after == before


def test_a_ui_without_argo_ui_is_refused() -> None:
    with pytest.raises(ValueError, match="no argo-ui dependency"):
        argocd_ui.package_json_with_argo_ui(json.dumps({"dependencies": {"react": "^19"}}), Path("/x.tgz"))


def test_pnpm_is_the_version_the_ui_names() -> None:
    assert argocd_ui.pnpm_version(module_package_json()) == "12.3.4"
    assert argocd_ui.pnpm_version('{"packageManager": "pnpm@9.1.0+sha512.abc"}') == "9.1.0"
    with pytest.raises(ValueError, match="expected pnpm"):
        argocd_ui.pnpm_version('{"packageManager": "yarn@4.0.0"}')


def test_the_copy_is_keyed_by_version_and_argo_ui_tarball(tmp_path: Path) -> None:
    one, other = tmp_path / "one.tgz", tmp_path / "other.tgz"
    one.write_bytes(b"one")
    other.write_bytes(b"other")
    assert argocd_ui.copy_dir(VERSION, one) != argocd_ui.copy_dir(VERSION, other)
    assert argocd_ui.copy_dir(VERSION, one) != argocd_ui.copy_dir("v0.0.1", one)
    assert argocd_ui.copy_dir(VERSION, None).parent.name == f"argocd-ui-{VERSION}-lockfile"


def test_the_tarball_setting(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("NOTEJAM_ARGO_UI_TARBALL", "")
    assert argocd_ui.argo_ui_tarball() is None
    monkeypatch.setenv("NOTEJAM_ARGO_UI_TARBALL", str(tmp_path / "missing.tgz"))
    with pytest.raises(FileNotFoundError, match="NOTEJAM_ARGO_UI_TARBALL"):
        argocd_ui.argo_ui_tarball()
    monkeypatch.delenv("NOTEJAM_ARGO_UI_TARBALL")
    assert argocd_ui.argo_ui_tarball() == (shared_dir() / argocd_ui.ARGO_UI_TARBALL).resolve()
    # The shared folder moves with SHARED_DIR, as in the Makefile.
    (tmp_path / argocd_ui.ARGO_UI_TARBALL).parent.mkdir(parents=True)
    (tmp_path / argocd_ui.ARGO_UI_TARBALL).write_bytes(b"")
    monkeypatch.setenv("SHARED_DIR", str(tmp_path))
    assert argocd_ui.argo_ui_tarball() == (tmp_path / argocd_ui.ARGO_UI_TARBALL).resolve()


def test_the_server_build_replaces_the_module_with_the_copy_and_keeps_go_mod(tmp_path: Path) -> None:
    copy = tmp_path / "argo-cd"
    modfile = argocd_ui.modfile_with_replace(GOMOD_DIR / "argocd", copy, tmp_path)
    committed = (GOMOD_DIR / "argocd" / "go.mod").read_text()
    assert modfile.read_text().startswith(committed.rstrip())
    assert modfile.read_text().rstrip().endswith(f"replace github.com/argoproj/argo-cd/v3 => {copy}")
    assert modfile.with_suffix(".sum").read_text() == (GOMOD_DIR / "argocd" / "go.sum").read_text()
    assert "github.com/argoproj/argo-cd/v3 =>" not in committed  # Renovate keeps updating the plain release


@pytest.mark.control_plane
@pytest.mark.node
def test_the_built_server_embeds_the_web_ui() -> None:
    """After `make cluster-build`: the copy holds the production build, and argocd was built from that copy."""
    assert is_built("argocd", VERSION), "run `make cluster-build`"
    copy = argocd_ui.copy_dir(VERSION, argocd_ui.argo_ui_tarball())
    app = copy / "ui" / "dist" / "app"
    assert argocd_ui.BASE_TAG in (app / "index.html").read_text()
    assert sum(path.stat().st_size for path in app.rglob("*.js")) > 1_000_000
    assert (component_dir("argocd", VERSION) / argocd_ui.BUILT_MARKER).read_text() == str(copy)


def test_a_built_copy_is_reused_and_a_half_built_one_is_not(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(argocd_ui, "tools_dir", lambda: tmp_path)
    tarball = tmp_path / "argo-ui.tgz"
    tarball.write_bytes(b"argo-ui")
    copy = argocd_ui.copy_dir(VERSION, tarball)
    copy.mkdir(parents=True)
    (copy / argocd_ui.BUILT_MARKER).write_text("built")
    assert argocd_ui.build(VERSION, tmp_path / "no-module-needed", tarball) == copy
    (copy / argocd_ui.BUILT_MARKER).unlink()  # a build that stopped half-way: started again from a fresh copy
    with pytest.raises(FileNotFoundError):
        argocd_ui.build(VERSION, tmp_path / "no-module-needed", tarball)
