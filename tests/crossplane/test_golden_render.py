"""`make render` prints what it printed before the compositions became our function (tests/crossplane/golden),
except for the corrections named here, each applied to the captured output as a named edit.

Named corrections (each also in the commit message that introduced it):
* compact-json: the JSON documents (bucket policy, role trust and inline policies, event pattern) are compact JSON
  built from Python dicts; the captured ones came from folded YAML format strings with a space at each line break.
  Compared as JSON values.
* placeholder-names: `--assume-created` names a created resource `<generateName><5 characters>` once and keeps it;
  the captured renders renamed resources `composed-NNNNN` by print position on every pass.
* sorted-resources: composed resources are printed sorted by composition resource name, as `crossplane render`
  prints them (the captured renders followed the template order); compared by name.
* results: a resource waiting for an ARN is reported as the function's Normal result
  ("not composing <name> yet: it needs status.<field>") instead of the evaluator's warning; same resources.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.crossplane.conftest import CROSSPLANE_DIR
from tools.render import main

GOLDEN = Path(__file__).parent / "golden"
EXAMPLES = sorted(str(path) for path in CROSSPLANE_DIR.glob("apis/*/examples/claim.yaml"))
BACKUP_EXAMPLE = str(CROSSPLANE_DIR / "apis" / "backup" / "examples" / "claim.yaml")
CASES = {
    "environments-assume-created.yaml": ["--assume-created"],
    "environments-first-reconcile.yaml": [],
    "examples-assume-created.yaml": ["--assume-created", *EXAMPLES],
    "examples-first-reconcile.yaml": EXAMPLES,
    "backup-second-reconcile.yaml": [
        "--observed",
        str(GOLDEN / "backup-observed-after-first-reconcile.yaml"),
        BACKUP_EXAMPLE,
    ],
}
NAME = "crossplane.io/composition-resource-name"


def sections(output: str) -> dict[str, tuple[list[str], list[dict[str, Any]]]]:
    """header -> (result comment lines, documents) of one `python -m tools.render` output."""
    found: dict[str, tuple[list[str], list[dict[str, Any]]]] = {}
    header = None
    for block in output.split("\n---\n"):  # one YAML document per block; a claim's first block has the comments
        lines = block.splitlines()
        headers = [line for line in lines if line.startswith("# environment:")]
        if headers:
            header = headers[0]
            found[header] = ([line for line in lines if line.startswith("# ") and line != header], [])
        assert header is not None, "output does not start with a claim header"
        found[header][1].extend(doc for doc in yaml.safe_load_all(block) if doc)
    return found


def compact_json(value: Any) -> Any:
    """Correction compact-json: a string holding a JSON object is compared as its value."""
    if isinstance(value, dict):
        return {key: compact_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [compact_json(item) for item in value]
    if isinstance(value, str) and value.startswith("{"):
        return ("json", json.loads(value))
    return value


def by_name(documents: list[dict[str, Any]], drop_names: bool) -> dict[str, dict[str, Any]]:
    named = {}
    for document in documents:
        name = document.get("metadata", {}).get("annotations", {}).get(NAME, "(composite)")
        if drop_names and name != "(composite)":  # correction placeholder-names
            document = {**document, "metadata": {k: v for k, v in document["metadata"].items() if k != "name"}}
        named[name] = compact_json(document)
    return named


def waiting(comments: list[str]) -> set[str]:
    """Correction results: the resources a render says are waiting, from either wording."""
    old = {m.group(1) for c in comments if (m := re.search(r"not adding new composed resource '([\w-]+)'", c))}
    new = {m.group(1) for c in comments if (m := re.search(r"^# Normal: not composing ([\w-]+) yet", c))}
    return old | new


@pytest.mark.parametrize("golden", sorted(CASES))
def test_render_matches_the_capture_except_for_the_named_corrections(golden, capsys):
    assert main(CASES[golden]) == 0
    now = sections(capsys.readouterr().out)
    before = sections((GOLDEN / golden).read_text())
    assert list(now) == list(before)
    assume_created = "--assume-created" in CASES[golden]
    for header, (comments, documents) in now.items():
        old_comments, old_documents = before[header]
        assert waiting(comments) == waiting(old_comments), header
        assert by_name(documents, assume_created) == by_name(old_documents, assume_created), header
        names = [d["metadata"]["annotations"][NAME] for d in documents[1:]]
        assert names == sorted(names), header  # correction sorted-resources
        if assume_created:  # correction placeholder-names: Crossplane-like and unique
            prefix = documents[0]["metadata"]["name"]
            generated = [d["metadata"]["name"] for d in documents[1:]]
            assert all(re.fullmatch(rf"{prefix}-[0-9a-f]{{5}}", name) for name in generated), generated
            assert len(set(generated)) == len(generated)


def test_the_comparison_sees_a_changed_field():
    """The control: a one-field change to a capture is a difference the comparison reports."""
    _, documents = sections((GOLDEN / "examples-first-reconcile.yaml").read_text())[
        "# environment: claims; PostgreSQLInstance notejam-dev/notejam-db"
    ]
    captured = by_name(documents, False)
    [instance] = [d for d in documents if d.get("kind") == "Instance"]
    instance["spec"]["forProvider"]["storageEncrypted"] = False
    assert by_name(documents, False) != captured
