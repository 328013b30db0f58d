"""`make validate`, inside `make test`: every kustomization and plain manifest in this repository, one case each."""

from __future__ import annotations

import pytest

from tools.repository import ENVIRONMENTS, REPO_ROOT
from tools.validate import Target, discover_targets, validate_file, validate_kustomization

TARGETS = discover_targets(REPO_ROOT)


def target_id(target: Target) -> str:
    return target.path.relative_to(REPO_ROOT).as_posix()


def test_the_loop_finds_every_folder_argo_cd_and_the_overlays_use() -> None:
    found = {target_id(t) for t in TARGETS if t.is_kustomization}
    sources = {"crossplane/apis", "crossplane/packages", "apps/addons/monitoring", "apps/argocd/secrets"}
    assert {*(f"{tree}/{env}" for tree in ("clusters", "overlays") for env in ENVIRONMENTS), *sources} <= found
    # What they include is validated as part of them, with the environment's values instead of placeholders.
    assert not {"base", "apps", "apps/addons", "apps/notejam"} & found


@pytest.mark.parametrize("target", TARGETS, ids=target_id)
def test_target_is_valid_with_nothing_skipped(target: Target, locations: list[str]) -> None:
    validate = validate_kustomization if target.is_kustomization else validate_file
    report = validate(target.path, REPO_ROOT, locations)
    assert report.ok and report.valid > 0, f"{report.summary()}\n" + "\n".join(map(str, report.failures))
