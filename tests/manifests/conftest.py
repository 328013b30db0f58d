"""Shared fixtures: the rendered overlays (rendered once per session) and kubeconform's schema locations."""

from __future__ import annotations

import pytest

from tools.manifests import Document, kustomize_overlay
from tools.repository import ENVIRONMENTS
from tools.validate import schema_locations


@pytest.fixture(scope="session")
def rendered() -> dict[str, list[Document]]:
    return {environment: kustomize_overlay(environment) for environment in ENVIRONMENTS}


@pytest.fixture(scope="session")
def locations() -> list[str]:
    return schema_locations()
