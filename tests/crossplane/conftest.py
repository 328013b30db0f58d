"""Fixtures for the platform API tests: claims, rendered resources, and a stand-in for what AWS reports back."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tools.crossplane_composite import RESOURCE_NAME_ANNOTATION
from tools.render import Rendering, assume_created, example_claims, render_settled
from tools.repository import REPO_ROOT

CROSSPLANE_DIR = REPO_ROOT / "crossplane"
ACCOUNT_ID = "111111111111"


def resource_name(resource: dict[str, Any]) -> str:
    return resource["metadata"]["annotations"][RESOURCE_NAME_ANNOTATION]


def by_name(resources: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {resource_name(resource): resource for resource in resources}


def observe(resources: list[dict[str, Any]], account: str = ACCOUNT_ID) -> list[dict[str, Any]]:
    """tools.render.assume_created, plus the address and port RDS reports for an instance."""
    observed = assume_created(resources, account)
    for resource in observed:
        if resource["kind"] == "Instance":
            resource["status"]["atProvider"] |= {"address": "notejam.abc123.eu-west-1.rds.amazonaws.com", "port": 5432}
    return observed


def render_until_settled(claim: dict[str, Any], secrets: dict[str, dict[str, str]] | None = None) -> Rendering:
    """The claim's resources after the providers created all of them (tools.render.render_settled)."""
    return render_settled(claim, secrets, ACCOUNT_ID, created=observe)


@pytest.fixture(scope="session")
def examples() -> dict[str, dict[str, Any]]:
    return {claim["kind"]: claim for claim in example_claims()}


@pytest.fixture(scope="session")
def all_claims(examples: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Every example claim plus every overlay's claims (once the overlays exist)."""
    from tools.render import overlay_claims

    claims = list(examples.values())
    for environment_claims in overlay_claims().values():
        claims.extend(environment_claims)
    return claims


@pytest.fixture(scope="session")
def claim_variant(examples: dict[str, dict[str, Any]]) -> Callable[..., dict[str, Any]]:
    """An example claim with some parameters changed, e.g. claim_variant('PostgreSQLInstance', size='large')."""

    def make(kind: str, namespace: str | None = None, **parameters: Any) -> dict[str, Any]:
        claim = copy.deepcopy(examples[kind])
        claim["spec"]["parameters"].update(parameters)
        if namespace:
            claim["metadata"]["namespace"] = namespace
        return claim

    return make


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())
