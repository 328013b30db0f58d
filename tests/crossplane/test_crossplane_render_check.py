"""tools.crossplane_render_check: what CI gives the real `crossplane render`, and how it compares the answers.

Here no Crossplane CLI or Docker exists (see docs/validation.md), so a stand-in CLI records its arguments and
answers with what it is told to; CI runs the real one (ci.yaml, job `function`)."""

from __future__ import annotations

import copy
import json
import os
import stat
import sys
from pathlib import Path

import yaml

from tools import crossplane_render_check as check

FAKE_CLI = """#!{python}
import json, os, sys
from pathlib import Path
calls = Path(os.environ["FAKE_CALLS"])
calls.write_text(calls.read_text() + json.dumps({{
    "argv": sys.argv[1:],
    "files": {{arg: Path(arg.split("=")[-1]).read_text() for arg in sys.argv[2:] if arg.endswith(".yaml")}},
}}) + "\\n")
sys.stdout.write(Path(os.environ["FAKE_ANSWER"]).read_text())
"""


def crossplane_answer(case: check.Case) -> str:
    """What `crossplane render` prints when it agrees with make render: the XR with its desired status and a
    Ready condition, then the composed resources."""
    xr = {
        "apiVersion": case.composite["apiVersion"],
        "kind": case.composite["kind"],
        "metadata": {"name": case.composite["metadata"]["name"]},
        "status": {**case.ours.composite.get("status", {}), "conditions": [{"type": "Ready", "status": "False"}]},
    }
    return "---\n" + yaml.safe_dump_all([xr, *case.ours.resources])


def test_cases_cover_a_new_and_a_settled_composite_of_every_example():
    names = [case.name for case in check.cases()]
    assert names == [
        "DatabaseBackup new",
        "DatabaseBackup settled",
        "PostgreSQLInstance new",
        "PostgreSQLInstance settled",
    ]


def test_crossplane_render_gets_the_composite_composition_observed_resources_and_our_image(tmp_path, monkeypatch):
    case = check.cases()[1]  # DatabaseBackup settled
    fake = tmp_path / "crossplane"
    fake.write_text(FAKE_CLI.format(python=sys.executable))
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    calls, answer = tmp_path / "calls.jsonl", tmp_path / "answer.yaml"
    calls.write_text("")
    answer.write_text(crossplane_answer(case))
    monkeypatch.setenv("FAKE_CALLS", str(calls))
    monkeypatch.setenv("FAKE_ANSWER", str(answer))
    work = tmp_path / "work"
    work.mkdir()
    theirs = check.crossplane_render(str(fake), "function-notejam-runtime:ci", case, work)
    assert check.differences(case, theirs) == []
    [call] = [json.loads(line) for line in calls.read_text().splitlines()]
    assert call["argv"][0] == "render"
    assert call["argv"][-1] == f"--observed-resources={work / 'observed.yaml'}"
    files = {Path(name.split("=")[-1]).name: yaml.safe_load_all(text) for name, text in call["files"].items()}
    [xr] = files["xr.yaml"]
    assert xr == case.composite and xr["status"]  # the settled composite carries its ARNs
    [function] = files["functions.yaml"]
    assert function["metadata"]["name"] == "function-notejam"
    assert function["metadata"]["annotations"]["render.crossplane.io/runtime-docker-image"] == (
        "function-notejam-runtime:ci"
    )
    assert function["metadata"]["annotations"]["render.crossplane.io/runtime-docker-pull-policy"] == "Never"
    [composition] = files["composition.yaml"]
    assert composition["spec"]["pipeline"][0]["functionRef"]["name"] == "function-notejam"
    assert len(list(files["observed.yaml"])) == 20
    assert os.environ["FAKE_CALLS"]


def test_any_difference_is_reported_by_resource():
    case = check.cases()[3]  # PostgreSQLInstance settled
    theirs = list(yaml.safe_load_all(crossplane_answer(case)))
    assert check.differences(case, theirs) == []
    changed = copy.deepcopy(theirs)
    name = "crossplane.io/composition-resource-name"
    [instance] = [r for r in changed[1:] if r["metadata"]["annotations"][name] == "rds-instance"]
    instance["spec"]["forProvider"]["storageEncrypted"] = False
    changed = [r for r in changed if r.get("metadata", {}).get("annotations", {}).get(name) != "security-group"]
    changed[0]["status"]["address"] = "elsewhere"
    found = check.differences(case, changed)
    assert found[0].startswith("PostgreSQLInstance settled: composite status")
    assert any(line.startswith("PostgreSQLInstance settled: rds-instance differs") for line in found)
    assert "PostgreSQLInstance settled: security-group only in make render" in found
