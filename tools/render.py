"""Render our platform.notejam.io claims offline into the AWS managed resources they compose (`make render`).

Each claim becomes its composite, and every step of its Composition's pipeline runs our composition function
(src/function) in-process, with the RunFunctionRequest Crossplane would send (`tools.crossplane_composite` is that
small part of Crossplane, with references). The output is what `crossplane render` prints for the same composite:
CI compares the two on every pull request (tools/crossplane_render_check.py).

    python -m tools.render --help
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import hashlib
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import crossplane.function.proto.v1.run_function_pb2 as fnv1
import yaml

from function.fn import FunctionRunner
from tools import manifests
from tools.crossplane_composite import (
    APIS_DIR,
    RESOURCE_NAME_ANNOTATION,
    CompositionRenderError,
    Object,
    PlatformAPI,
    claim_to_composite,
    composed_resources,
    load_apis,
    observed_by_name,
    published_connection_details,
    request,
    written_status,
)
from tools.repository import PLATFORM_GROUP, REPO_ROOT

OVERLAYS_DIR = REPO_ROOT / "overlays"
# The name of our Function package (crossplane/packages/function-notejam.yaml): the steps render runs in-process.
FUNCTION_NAME = "function-notejam"
PLACEHOLDER_ACCOUNT = "000000000000"


@dataclass
class Rendering:
    """Everything one render of a claim produced."""

    composite: Object
    resources: list[Object]
    connection_details: dict[str, str] = field(default_factory=dict)
    # Non-fatal results of the function ("Normal: ...") and what the API server pruned ("Warning: ...").
    results: list[str] = field(default_factory=list)


def run_pipeline(
    api: PlatformAPI,
    composite: Object,
    observed: Mapping[str, Object],
    connection_secrets: Mapping[str, Mapping[str, str]],
) -> tuple[fnv1.State, list[str]]:
    """One reconcile: every step of the Composition's pipeline, each given the previous step's desired state."""
    composition = api.composition
    if composition["spec"].get("mode") != "Pipeline":
        raise CompositionRenderError(
            f"composition {composition['metadata']['name']}: only mode Pipeline exists in Crossplane v2"
        )
    desired, results = fnv1.State(), []
    for step in composition["spec"]["pipeline"]:
        function = step["functionRef"]["name"]
        if function != FUNCTION_NAME:
            raise CompositionRenderError(
                f"step {step.get('step')!r} calls {function!r}: only {FUNCTION_NAME} runs in-process "
                "(use `crossplane render` for other functions)"
            )
        req = request(composite, step, observed, connection_secrets, desired)
        rsp = asyncio.run(FunctionRunner().RunFunction(req))
        for result in rsp.results:
            severity = fnv1.Severity.Name(result.severity).removeprefix("SEVERITY_").title()
            if result.severity == fnv1.SEVERITY_FATAL:
                raise CompositionRenderError(f"step {step.get('step')!r}: {result.message}")
            results.append(f"{severity}: {result.message}")
        desired = rsp.desired
    return desired, results


def render_claim(
    claim: Mapping[str, Any],
    observed: Sequence[Mapping[str, Any]] | None = None,
    connection_secrets: Mapping[str, Mapping[str, str]] | None = None,
    apis: Mapping[str, PlatformAPI] | None = None,
) -> Rendering:
    """Render a claim. `observed` are its composed resources as they exist (matched by composition resource name);
    `connection_secrets` maps a composition resource name to the keys of its connection secret."""
    apis = load_apis() if apis is None else apis
    api = apis.get(claim.get("kind", ""))
    if api is None:
        raise CompositionRenderError(f"no platform API offers claim kind {claim.get('kind')!r} (known: {sorted(apis)})")
    by_name = observed_by_name(list(observed or []))
    secrets = connection_secrets or {}
    composite = claim_to_composite(claim, api)
    desired, results = run_pipeline(api, composite, by_name, secrets)
    status, pruned = written_status(desired, composite, api)
    if status:
        # A new composite has no status; the next reconcile observes the one this pass wrote. The observed
        # composed resources are fixed, so the second pass is already the fixed point.
        composite["status"] = status
        desired, results = run_pipeline(api, composite, by_name, secrets)
    results += [f"Warning: {path} is not in the XRD's schema: the API server prunes it" for path in pruned]
    return Rendering(
        composite=composite,
        resources=composed_resources(desired, composite, by_name),
        connection_details=published_connection_details(desired, api),
        results=results,
    )


def assume_created(resources: Sequence[Object], account: str = PLACEHOLDER_ACCOUNT) -> list[Object]:
    """`resources` as the cluster would show them once the providers created them: named (a name, once given, is
    kept; a new one is its generateName plus 5 characters, as Crossplane's are, here derived from the composition
    resource name), with a placeholder `status.atProvider.arn` of
    arn:aws:<service>:<region>:<account>:<kind>/<composition resource name>."""
    observed = []
    for composed in resources:
        created = copy.deepcopy(dict(composed))
        metadata = created["metadata"]
        name = metadata["annotations"][RESOURCE_NAME_ANNOTATION]
        if "generateName" in metadata:
            metadata["name"] = metadata.pop("generateName") + hashlib.sha256(name.encode()).hexdigest()[:5]
        service = created["apiVersion"].split(".")[0]
        region = created.get("spec", {}).get("forProvider", {}).get("region", "")
        created["status"] = {
            "atProvider": {"arn": f"arn:aws:{service}:{region}:{account}:{created['kind'].lower()}/{name}"}
        }
        observed.append(created)
    return observed


def render_settled(
    claim: Mapping[str, Any],
    connection_secrets: Mapping[str, Mapping[str, str]] | None = None,
    account: str = PLACEHOLDER_ACCOUNT,
    created: Callable[[Sequence[Object], str], list[Object]] = assume_created,
) -> Rendering:
    """Render as after enough reconciles: every rendered resource is assumed created (`created`), which lets
    resources waiting for an ARN appear, until nothing new appears."""
    rendering = render_claim(claim)
    while True:
        again = render_claim(claim, created(rendering.resources, account), connection_secrets)
        if len(again.resources) == len(rendering.resources):
            return again
        rendering = again


def example_claims(apis_dir: Path = APIS_DIR) -> list[Object]:
    """The example claims of every API: the API contract the overlays copy."""
    claims = []
    for path in sorted(apis_dir.glob("*/examples/*.yaml")):
        claims.extend(doc for doc in yaml.safe_load_all(path.read_text()) if is_claim(doc))
    return claims


def is_claim(document: Any) -> bool:
    return isinstance(document, dict) and document.get("apiVersion", "").startswith(f"{PLATFORM_GROUP}/")


def overlay_claims(overlays_dir: Path = OVERLAYS_DIR) -> dict[str, list[Object]]:
    """Each overlay's claims, built with kustomize; empty when no overlay exists yet."""
    return {
        overlay.parent.name: [doc for doc in manifests.kustomize(overlay.parent) if is_claim(doc)]
        for overlay in sorted(overlays_dir.glob("*/kustomization.yaml"))
    }


def _dump(documents: Sequence[Object]) -> str:
    # Sorted keys, as `crossplane render` prints them (Go marshals maps in key order).
    return yaml.safe_dump_all(documents, sort_keys=True, default_flow_style=False)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.render",
        description="Render platform.notejam.io claims into their composed AWS resources, offline, by calling our "
        "composition function in-process.",
        epilog="With no CLAIM files, renders every overlay's claims (overlays/<env>, built with kustomize); "
        "without overlays, the example claims in crossplane/apis/*/examples.",
    )
    parser.add_argument("claims", nargs="*", type=Path, metavar="CLAIM.yaml", help="claim manifests to render")
    source = parser.add_mutually_exclusive_group()
    source.add_argument(
        "--observed",
        type=Path,
        metavar="FILE",
        help="YAML stream of observed composed resources (like crossplane render --observed-resources)",
    )
    source.add_argument(
        "--assume-created",
        action="store_true",
        help="show the end state: pretend AWS created every resource and reported a placeholder ARN "
        f"(account {PLACEHOLDER_ACCOUNT}), so the resources that wait for an ARN appear too",
    )
    args = parser.parse_args(argv)
    try:
        observed = [doc for doc in yaml.safe_load_all(args.observed.read_text()) if doc] if args.observed else None
        if args.claims:
            claims = [doc for path in args.claims for doc in yaml.safe_load_all(path.read_text()) if is_claim(doc)]
            groups = {"claims": claims}
        else:
            groups = overlay_claims() or {"examples": example_claims()}
        for environment, claims in groups.items():
            for claim in claims:
                rendering = render_settled(claim) if args.assume_created else render_claim(claim, observed)
                meta = claim["metadata"]
                print(f"# environment: {environment}; {claim['kind']} {meta['namespace']}/{meta['name']}")
                for result in rendering.results:
                    print(f"# {result}")
                print(_dump([rendering.composite, *rendering.resources]), end="")
                print("---")
    except (CompositionRenderError, OSError, yaml.YAMLError) as error:
        print(f"render failed: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
