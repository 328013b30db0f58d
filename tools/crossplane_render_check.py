"""Compare `make render` with the real `crossplane render` on the example claims (CI; needs Docker).

`make render` calls our function in-process and emulates the small part of Crossplane around the call
(tools/crossplane_composite.py). This check runs Crossplane's own renderer instead: for each example claim, in two
situations (a new composite with nothing observed, and the settled composite with every resource created), it gives
`crossplane render` the composite and observed resources that `tools.render` used, the repository's Composition and
a Function that runs our image, and fails on any difference in the composed resources or the composite's status.

    python -m tools.crossplane_render_check --image function-notejam-runtime:ci [--crossplane PATH]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tools.crossplane_composite import APIS_DIR, RESOURCE_NAME_ANNOTATION, Object, load_apis
from tools.render import FUNCTION_NAME, Rendering, assume_created, example_claims, render_claim, render_settled

FUNCTION_MANIFEST = APIS_DIR.parent / "packages" / "function-notejam.yaml"


@dataclass
class Case:
    """One `crossplane render` call and what `tools.render` rendered for the same input."""

    name: str
    composite: Object
    observed: list[Object]
    ours: Rendering
    composition: Object


def cases() -> list[Case]:
    found = []
    apis = load_apis()
    for claim in example_claims():
        first = render_claim(claim)
        observed = assume_created(render_settled(claim).resources)
        settled = render_claim(claim, observed)
        composition = apis[claim["kind"]].composition
        found.append(Case(f"{claim['kind']} new", first.composite, [], first, composition))
        found.append(Case(f"{claim['kind']} settled", settled.composite, observed, settled, composition))
    return found


def functions_manifest(image: str) -> Object:
    """Our Function package, run by `crossplane render` from a local image instead of pulling the package."""
    function = yaml.safe_load(FUNCTION_MANIFEST.read_text())
    return {
        "apiVersion": function["apiVersion"],
        "kind": "Function",
        "metadata": {
            "name": FUNCTION_NAME,
            "annotations": {
                "render.crossplane.io/runtime": "Docker",
                "render.crossplane.io/runtime-docker-image": image,
                "render.crossplane.io/runtime-docker-pull-policy": "Never",
            },
        },
        "spec": {"package": function["spec"]["package"]},
    }


def crossplane_render(crossplane: str, image: str, case: Case, workdir: Path) -> list[Object]:
    xr, composition, functions = workdir / "xr.yaml", workdir / "composition.yaml", workdir / "functions.yaml"
    xr.write_text(yaml.safe_dump(case.composite))
    composition.write_text(yaml.safe_dump(case.composition))
    functions.write_text(yaml.safe_dump(functions_manifest(image)))
    command = [crossplane, "render", str(xr), str(composition), str(functions)]
    if case.observed:
        observed = workdir / "observed.yaml"
        observed.write_text(yaml.safe_dump_all(case.observed))
        command.append(f"--observed-resources={observed}")
    result = subprocess.run(command, capture_output=True, text=True, check=False, timeout=300)  # noqa: S603 (our args)
    if result.returncode != 0:
        raise RuntimeError(f"{case.name}: crossplane render failed: {result.stderr.strip()}")
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def differences(case: Case, theirs: Sequence[Object]) -> list[str]:
    """What `crossplane render` printed differently from `tools.render`, one line per difference."""
    composite, *composed = theirs
    found = []
    status = {key: value for key, value in composite.get("status", {}).items() if key != "conditions"}
    if status != case.ours.composite.get("status", {}):
        found.append(f"{case.name}: composite status {status} != {case.ours.composite.get('status', {})}")
    ours = {r["metadata"]["annotations"][RESOURCE_NAME_ANNOTATION]: r for r in case.ours.resources}
    theirs_by_name = {r["metadata"]["annotations"][RESOURCE_NAME_ANNOTATION]: r for r in composed}
    for name in sorted(set(ours) | set(theirs_by_name)):
        if name not in theirs_by_name:
            found.append(f"{case.name}: {name} only in make render")
        elif name not in ours:
            found.append(f"{case.name}: {name} only in crossplane render")
        elif ours[name] != theirs_by_name[name]:
            found.append(f"{case.name}: {name} differs:\n{_side_by_side(ours[name], theirs_by_name[name])}")
    return found


def _side_by_side(ours: Any, theirs: Any) -> str:
    return "\n".join(
        f"  {who}:\n" + yaml.safe_dump(resource, sort_keys=True)
        for who, resource in (("make render", ours), ("crossplane render", theirs))
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.crossplane_render_check", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--image", required=True, help="local Docker image of the function (src/function/Dockerfile)")
    parser.add_argument("--crossplane", default="crossplane", help="the Crossplane CLI (make crossplane-cli)")
    args = parser.parse_args(argv)
    problems = []
    with tempfile.TemporaryDirectory() as tmp:
        for case in cases():
            try:
                found = differences(case, crossplane_render(args.crossplane, args.image, case, Path(tmp)))
            except (RuntimeError, OSError, subprocess.TimeoutExpired) as error:
                found = [str(error)]
            print(("FAIL " if found else "ok   ") + case.name)
            problems.extend(found)
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
