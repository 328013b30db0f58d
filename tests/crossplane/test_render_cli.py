"""python -m tools.render: what `make render` prints."""

from __future__ import annotations

import subprocess
import sys

import yaml

from tests.crossplane.conftest import CROSSPLANE_DIR, REPO_ROOT
from tools.render import assume_created, main, overlay_claims, render_claim

PG_EXAMPLE = CROSSPLANE_DIR / "apis" / "postgresql" / "examples" / "claim.yaml"
BACKUP_EXAMPLE = CROSSPLANE_DIR / "apis" / "backup" / "examples" / "claim.yaml"


def documents(text: str) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(text) if doc]


def test_help_runs_as_a_module():
    result = subprocess.run(
        [sys.executable, "-m", "tools.render", "--help"], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    )
    assert "--observed" in result.stdout and "--assume-created" in result.stdout


def test_renders_given_claim_files(capsys):
    assert main([str(PG_EXAMPLE)]) == 0
    output = capsys.readouterr().out
    assert output.startswith("# environment: claims; PostgreSQLInstance notejam-dev/notejam-db")
    kinds = [doc["kind"] for doc in documents(output)]
    # The composite, then its resources sorted by composition resource name, as `crossplane render` prints them.
    assert kinds == [
        "XPostgreSQLInstance",
        "Key",
        "Instance",
        "SecurityGroup",
        "SecurityGroupIngressRule",
        "SubnetGroup",
    ]


def test_observed_file_is_used_like_crank_observed_resources(tmp_path, capsys):
    observed = assume_created(render_claim(yaml.safe_load(BACKUP_EXAMPLE.read_text())).resources)
    observed_file = tmp_path / "observed.yaml"
    observed_file.write_text(yaml.safe_dump_all(observed))
    assert main(["--observed", str(observed_file), str(BACKUP_EXAMPLE)]) == 0
    composite = documents(capsys.readouterr().out)[0]
    assert composite["status"]["snapshotFunctionArn"] == (
        "arn:aws:lambda:eu-west-1:000000000000:function/snapshot-function"
    )


def test_assume_created_shows_every_backup_resource(capsys):
    assert main(["--assume-created", str(BACKUP_EXAMPLE)]) == 0
    output = capsys.readouterr().out
    assert "# Normal" not in output and "# Warning" not in output
    assert len(documents(output)) == 1 + 20


def test_without_arguments_renders_every_overlay_or_the_examples(capsys):
    assert main([]) == 0
    output = capsys.readouterr().out
    headers = [line for line in output.splitlines() if line.startswith("# environment:")]
    environments = sorted(overlay_claims()) or ["examples"]
    for environment in environments:
        assert any(header.startswith(f"# environment: {environment};") for header in headers), environment
    assert len(headers) == 2 * len(environments)


def test_a_bad_claim_fails_with_a_message_not_a_traceback(tmp_path, capsys):
    claim = yaml.safe_load(PG_EXAMPLE.read_text())
    claim["spec"]["parameters"]["size"] = "huge"
    path = tmp_path / "claim.yaml"
    path.write_text(yaml.safe_dump(claim))
    assert main([str(path)]) == 1
    assert "render failed: PostgreSQLInstance notejam-dev/notejam-db: spec.parameters.size: 'huge'" in (
        capsys.readouterr().err
    )
