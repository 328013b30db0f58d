"""tools/validate.py on a throwaway repository: what it validates, what it excludes, and that a broken manifest
(wrong field, wrong type, unknown kind) fails with the file and kubeconform's reason."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tools import validate
from tools.repository import REPO_ROOT

FIXTURES = Path(__file__).parent / "fixtures"

SERVICE = """\
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector:
    app.kubernetes.io/name: web
  ports:
    - name: http
      port: 80
      targetPort: http
"""

CONFIGMAP = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
data:
  LOG_LEVEL: INFO
"""


def write(root: Path, relative: str, text: str) -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repository with one overlay on a base, a patch, a plain manifest, an XRD and a claim."""
    write(tmp_path, "base/service.yaml", SERVICE)
    write(tmp_path, "base/kustomization.yaml", "resources: [service.yaml]\n")
    write(tmp_path, "overlays/dev/configmap.yaml", CONFIGMAP)
    write(
        tmp_path,
        "overlays/dev/service-patch.yaml",
        "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec: {type: NodePort}\n",
    )
    write(
        tmp_path,
        "overlays/dev/kustomization.yaml",
        "namespace: dev\nresources: [../../base, configmap.yaml]\npatches: [{path: service-patch.yaml}]\n",
    )
    write(tmp_path, "apps/configmap.yaml", CONFIGMAP)
    shutil.copy(FIXTURES / "xrd.yaml", write(tmp_path, "crossplane/apis/widget/definition.yaml", ""))
    write(
        tmp_path,
        "crossplane/apis/widget/examples/claim.yaml",
        """\
        apiVersion: test.notejam.io/v1alpha1
        kind: Widget
        metadata: {name: w, namespace: team}
        spec:
          parameters: {size: small}
          writeConnectionSecretToRef: {name: w}
        """,
    )
    write(tmp_path, "clusters/dev/eksctl.yaml", "apiVersion: eksctl.io/v1alpha5\nkind: ClusterConfig\n")
    write(tmp_path, "apps/argocd/values.yaml", "server: {replicas: 2}\n")
    write(tmp_path, "tests/broken.yaml", "apiVersion: v1\nkind: Nope\n")
    write(tmp_path, ".github/workflows/ci.yaml", "on: push\n")
    return tmp_path


def reports_by_source(root: Path) -> dict[str, validate.Report]:
    return {report.source: report for report in validate.validate_repository(root)}


def test_every_kustomization_and_every_plain_manifest_is_a_target(repo: Path) -> None:
    targets = {t.path.relative_to(repo).as_posix(): t.is_kustomization for t in validate.discover_targets(repo)}
    # base/ alone is no target: the overlay that includes it validates it with the overlay's values.
    assert targets == {
        "overlays/dev": True,
        "apps/configmap.yaml": False,
        "crossplane/apis/widget/definition.yaml": False,
        "crossplane/apis/widget/examples/claim.yaml": False,
    }


def test_a_valid_repository_passes_with_counts_and_nothing_skipped(repo: Path) -> None:
    reports = reports_by_source(repo)
    assert all(report.ok for report in reports.values())
    assert reports["overlays/dev"].summary() == "overlays/dev: 2 resources validated, 0 invalid, 0 errors, 0 skipped"
    assert reports["crossplane/apis/widget/examples/claim.yaml"].valid == 1


def test_the_command_prints_a_line_per_target_and_exits_zero(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert validate.main(["--root", str(repo)]) == 0
    out = capsys.readouterr().out
    assert "ok   overlays/dev: 2 resources validated, 0 invalid, 0 errors, 0 skipped" in out
    assert "ok   apps/configmap.yaml: 1 resources validated, 0 invalid, 0 errors, 0 skipped" in out


def test_a_wrong_field_fails_with_the_source_file_and_the_reason(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(repo, "base/service.yaml", SERVICE.replace("targetPort: http", "targetPort: http\n      tragetPort: 1"))
    assert validate.main(["--root", str(repo)]) == 1
    out = capsys.readouterr().out
    assert "FAIL overlays/dev: 2 resources validated, 1 invalid" in out
    assert "overlays/dev (kustomize build, from base/service.yaml, overlays/dev/service-patch.yaml): Service/web" in out
    assert "additional properties 'tragetPort' not allowed" in out


def test_a_wrong_type_fails(repo: Path) -> None:
    write(repo, "apps/configmap.yaml", CONFIGMAP.replace("LOG_LEVEL: INFO", "LOG_LEVEL: [INFO]"))
    report = reports_by_source(repo)["apps/configmap.yaml"]
    assert report.invalid == 1
    assert "apps/configmap.yaml: ConfigMap/settings:" in str(report.failures[0])
    assert "want" in report.failures[0].reason


def test_an_unknown_kind_is_an_error_not_a_skip(repo: Path) -> None:
    write(repo, "apps/configmap.yaml", CONFIGMAP.replace("kind: ConfigMap", "kind: ConfigMapp"))
    report = reports_by_source(repo)["apps/configmap.yaml"]
    assert (report.errors, report.skipped) == (1, 0)
    assert "could not find schema for ConfigMapp" in report.failures[0].reason


def test_a_claim_is_checked_against_our_xrd(repo: Path) -> None:
    write(
        repo,
        "crossplane/apis/widget/examples/claim.yaml",
        "apiVersion: test.notejam.io/v1alpha1\nkind: Widget\nmetadata: {name: w}\nspec: {parameters: {size: huge}}\n",
    )
    report = reports_by_source(repo)["crossplane/apis/widget/examples/claim.yaml"]
    assert report.invalid == 1
    assert "at '/spec/parameters/size': value must be one of 'small', 'large'" in report.failures[0].reason


def test_a_kustomization_that_does_not_build_is_an_error(repo: Path) -> None:
    write(repo, "base/kustomization.yaml", "resources: [missing.yaml]\n")
    report = reports_by_source(repo)["overlays/dev"]
    assert report.errors == 1
    assert "missing.yaml" in report.failures[0].reason


def test_a_yaml_file_without_objects_needs_an_explicit_exclusion(repo: Path) -> None:
    write(repo, "apps/notes.yaml", "# only a comment\n")
    report = reports_by_source(repo)["apps/notes.yaml"]
    assert not report.ok
    assert "NOT_MANIFESTS" in report.failures[0].reason


def test_documents_from_other_tests_can_be_validated(locations: list[str]) -> None:
    good = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x"}}
    bad = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x"}, "spec": {"finalizer": []}}
    assert validate.validate_documents([good], "test", locations).ok
    report = validate.validate_documents([good, bad], "crank render", locations)
    assert (report.valid, report.invalid) == (1, 1)
    assert str(report.failures[0]).startswith("crank render: Namespace/x:")


def test_the_exclusions_are_listed(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert validate.main(["--root", str(repo), "--list"]) == 0
    out = capsys.readouterr().out
    assert "excluded      clusters/*/eksctl.yaml" in out
    assert "kustomization overlays/dev" in out


@pytest.mark.parametrize("module", ["tools.validate", "tools.diff"])
def test_every_tool_explains_itself_with_help(module: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", module, "--help"], capture_output=True, text=True, check=False, cwd=REPO_ROOT
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"usage: python -m {module}")
