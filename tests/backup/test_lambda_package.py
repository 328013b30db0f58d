"""`make lambda-package`: the same sources always give the same zip, and the zip is a working Lambda package."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tools import lambda_package
from tools.manifests import kustomize_overlay
from tools.repository import ENVIRONMENTS, REPO_ROOT

SOURCE = REPO_ROOT / "src" / "backup"


@pytest.fixture
def copied_source(tmp_path: Path) -> Path:
    """src/backup copied with other mtimes and permissions, plus the bytecode caches a test run leaves behind."""
    copy = tmp_path / "elsewhere" / "backup"
    shutil.copytree(SOURCE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    for path in copy.iterdir():
        os.utime(path, (1_700_000_000, 1_700_000_000))
        path.chmod(0o600)
    (copy / "__pycache__").mkdir()
    (copy / "__pycache__" / "snapshot.cpython-311.pyc").write_bytes(b"\x00cache")
    (copy / "stray.pyc").write_bytes(b"\x00cache")
    return copy


def test_two_builds_are_byte_for_byte_identical(tmp_path, copied_source):
    first = lambda_package.build(SOURCE, tmp_path / "first.zip")
    second = lambda_package.build(copied_source, tmp_path / "second.zip")

    assert first == second
    assert (tmp_path / "first.zip").read_bytes() == (tmp_path / "second.zip").read_bytes()


def test_entries_are_sorted_sources_with_fixed_time_and_mode(tmp_path, copied_source):
    lambda_package.build(copied_source, tmp_path / "backup.zip")

    with zipfile.ZipFile(tmp_path / "backup.zip") as archive:
        entries = archive.infolist()
    names = [entry.filename for entry in entries]
    expected = sorted(f"backup/{p.name}" for p in SOURCE.iterdir() if p.is_file() and p.suffix == ".py")
    expected += ["json_logs/__init__.py"]  # the log format the web app shares, which backup.logs imports
    assert names == expected
    assert {entry.date_time for entry in entries} == {(1980, 1, 1, 0, 0, 0)}
    assert {entry.external_attr >> 16 for entry in entries} == {0o100644}
    # Uncompressed, so the bytes do not depend on the zlib version of the machine that builds them.
    assert {entry.compress_type for entry in entries} == {zipfile.ZIP_STORED}


def test_the_zip_holds_importable_handlers(tmp_path):
    lambda_package.build(SOURCE, tmp_path / "backup.zip")
    probe = (
        "import backup.snapshot, backup.export; "
        "assert backup.snapshot.__file__.startswith(sys.argv[1]); "
        "print(callable(backup.snapshot.handler), callable(backup.export.handler))"
    )

    # PYTHONPATH is the zip alone (boto3 comes from the interpreter's site-packages, as on Lambda), and the
    # probe checks the modules were loaded from the zip, not from src/.
    result = subprocess.run(
        [sys.executable, "-c", f"import sys; {probe}", str(tmp_path / "backup.zip")],
        env={"PYTHONPATH": str(tmp_path / "backup.zip")},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.split() == ["True", "True"]


def test_cli_prints_the_sha256_of_what_it_wrote(tmp_path, capsys):
    output = tmp_path / "dist" / "backup-lambda.zip"

    assert lambda_package.main(["--output", str(output)]) == 0

    digest, path = capsys.readouterr().out.split()
    assert path == str(output)
    assert digest == hashlib.sha256(output.read_bytes()).hexdigest()


def test_cli_refuses_a_folder_that_is_not_a_package(tmp_path, capsys):
    assert lambda_package.main(["--source", str(tmp_path), "--output", str(tmp_path / "x.zip")]) == 1
    assert "is not a Python package" in capsys.readouterr().err


def rendered_backup_code(environment: str) -> dict:
    """lambdaCode of the DatabaseBackup claim as Argo CD applies it in `environment` (overlays/<env>, rendered)."""
    [claim] = [doc for doc in kustomize_overlay(environment) if doc["kind"] == "DatabaseBackup"]
    return claim["spec"]["parameters"]["lambdaCode"]


def test_every_environment_runs_the_backup_code_of_this_commit(tmp_path):
    """The claim names the zip by its hash, so changing src/backup without re-pointing it fails here."""
    digest = lambda_package.build(lambda_package.DEFAULT_SOURCE, tmp_path / "backup-lambda.zip")
    for environment in ENVIRONMENTS:
        assert rendered_backup_code(environment)["key"] == f"backup-lambda/{digest}.zip", (
            f"{lambda_package.CLAIM}: the backup code changed; `make lambda-package` prints the new sha256, set "
            f"lambdaCode.key to backup-lambda/<sha256>.zip"
        )


def test_release_uploads_to_every_bucket_the_claims_name(capsys):
    """release-lambda (tools/lambda_release.py) reads its targets from the claim and each environment's facts without
    rendering (its workflow has no kustomize): they are what each rendered claim names."""
    assert lambda_package.main(["--claimed"]) == 0
    printed = [line.split() for line in capsys.readouterr().out.splitlines()]
    assert [env for env, _, _ in printed] == list(ENVIRONMENTS)
    for env, bucket, key in printed:
        assert rendered_backup_code(env) == {"bucket": bucket, "key": key}
