"""One offline Renovate extraction per test session, shared by tests/renovate (Renovate takes tens of seconds)."""

from __future__ import annotations

import pytest

from tests.renovate.planted import PLANTED
from tools.renovate_extract import REPO_ROOT, Extraction, extract


@pytest.fixture(scope="session")
def extraction(request: pytest.FixtureRequest) -> Extraction:
    result = extract(REPO_ROOT, extra_files=PLANTED)
    files = len({dep.file for dep in result.dependencies})
    with request.config.pluginmanager.get_plugin("capturemanager").global_and_fixture_disabled():
        print(f"\nrenovate extract: {len(result.dependencies)} dependencies in {files} files, {result.seconds:.1f} s")
    return result
