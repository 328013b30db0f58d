"""Renovate's own extraction, run offline over the repository, sees every pin that an independent inventory finds.

One Renovate run (`tools.renovate_extract`) covers the working tree plus a few planted files: pins that no manager in
renovate.json5 reads, which must be reported as unseen, by file and line. That is the proof that the comparison can
fail; the real files must have none.
"""

from __future__ import annotations

from collections import Counter

import pytest

from tests.renovate.pin_inventory import Pin, inventory
from tests.renovate.planted import PLANTED
from tools.renovate_extract import REPO_ROOT, Dependency, Extraction

pytestmark = pytest.mark.node

EXPECTED_UNSEEN = {("planted/Makefile", 2), ("crossplane/planted/provider.yaml", 6)}


def normalized(value: str | None) -> str | None:
    """Renovate keeps pip's `==` and the regex managers may drop a leading `v`: compare the versions alone."""
    if value is None:
        return None
    return value.strip().removeprefix("==").removeprefix("v")


def unseen(pins: list[Pin], dependencies: list[Dependency]) -> list[Pin]:
    """Pins with no extracted dependency of the same version in the same file (counted, so two equal pins need two)."""
    by_file: dict[str, Counter] = {}
    for dep in dependencies:
        key = normalized(dep.current_value) if dep.current_value is not None else f"name:{dep.name}"
        by_file.setdefault(dep.file, Counter())[key] += 1
    missing = []
    for pin in pins:
        key = normalized(pin.value) if pin.value is not None else f"name:{pin.name}"
        available = by_file.get(pin.file, Counter())
        if available[key] > 0:
            available[key] -= 1
        else:
            missing.append(pin)
    return missing


def test_renovate_sees_every_pin_of_the_repository(extraction: Extraction) -> None:
    pins = inventory(REPO_ROOT)
    assert len(pins) > 50, "the inventory found suspiciously few pins"
    missing = unseen(pins, extraction.dependencies)
    assert not missing, "pins that Renovate does not see (add a manager in renovate.json5):\n" + "\n".join(
        map(str, missing)
    )


def test_a_pin_no_manager_reads_is_reported_by_file_and_line(extraction: Extraction) -> None:
    planted = [pin for pin in inventory(REPO_ROOT, extra_files=PLANTED) if pin.file in PLANTED]
    missing = unseen(planted, extraction.dependencies)
    assert {(pin.file, pin.line) for pin in missing} == EXPECTED_UNSEEN
    assert "planted/Makefile:2: Makefile FROBNICATE_VERSION v1.2.3" in [str(pin) for pin in missing]


def test_renovate_reads_the_repository_config(extraction: Extraction) -> None:
    """The custom managers only exist in renovate.json5: their dependencies prove Renovate read it."""
    managers = {dep.manager for dep in extraction.dependencies}
    assert {"argocd", "crossplane", "helm-values", "dockerfile", "github-actions", "pip_requirements"} <= managers
    assert "regex" in managers
