"""Negative controls for the first-sync order: with a safeguard taken away, the live check of that order fails.

Each starts its own dev control plane (slot `controls`), takes one safeguard away, lets the first sync run to the end
untouched, and runs the check of tests/live/test_first_sync.py on what happened. The claims stay `Ready=False
Creating` for a while (the Crossplane stand-in), so a migration that does not wait for them starts too early. Without
the health check that while is made five minutes (the stand-in's creating-seconds annotation): with its usual 15 s,
Argo CD's retries of a first sync sometimes reached the migration after the claims were Ready anyway, and the control
passed by luck. The sync then ends with the claims still Creating, which the order check refuses.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.live.conftest import SYNC_TIMEOUT, say, snapshot_notejam
from tests.live.test_first_sync import check_claims_then_migration_then_deployment_then_smoke_test
from tools.cluster.controlplane import ControlPlane
from tools.cluster.fake_controllers.crossplane import CREATING_SECONDS_ANNOTATION
from tools.cluster.kube import Kube
from tools.cluster.served_repo import commit
from tools.cluster.sync import applications, apply_root, wait_until_synced

pytestmark = pytest.mark.control_plane

ENVIRONMENT = "dev"
CLAIM_FILES = ("overlays/dev/database-claim.yaml", "base/backup-claim.yaml")
CLAIM_HEALTH_KEYS = (
    "resource.customizations.health.platform.notejam.io_PostgreSQLInstance",
    "resource.customizations.health.platform.notejam.io_DatabaseBackup",
)


SLOW_CREATING_SECONDS = 300
# The claim's wave annotation, whatever wave git gives it (the database claim waits for its password, at 0).
WAVE = re.compile(r'argocd\.argoproj\.io/sync-wave: "-?\d+"')


def edit_claim_waves(copy: Path, replace: Callable[[str], str]) -> None:
    """Rewrite the wave annotation line of each claim file of the served copy with `replace(line)`."""
    for name in CLAIM_FILES:
        path = copy / name
        text = path.read_text()
        line = WAVE.search(text)
        assert line, f"{name} has no sync-wave annotation"
        path.write_text(text[: line.start()] + replace(line.group(0)) + text[line.end() :])


def without_claim_health_check(kube: Kube, copy: Path) -> None:
    """argocd-cm without our claim health check: Argo CD then has no health for a claim and does not wait for it."""
    kube.merge_patch("/api/v1/namespaces/argocd/configmaps/argocd-cm", {"data": dict.fromkeys(CLAIM_HEALTH_KEYS)})
    edit_claim_waves(copy, lambda wave: f'{wave}\n    {CREATING_SECONDS_ANNOTATION}: "{SLOW_CREATING_SECONDS}"')
    commit(copy, "Negative control: claims that take five minutes to be Ready")


def claims_after_the_migration(kube: Kube, copy: Path) -> None:
    """The claims' wave moved after the migration's (wave 1), as a commit to the served repository."""
    edit_claim_waves(copy, lambda _: 'argocd.argoproj.io/sync-wave: "2"')
    commit(copy, "Negative control: the claims after the migration")


@pytest.mark.parametrize(
    "take_away", [without_claim_health_check, claims_after_the_migration], ids=lambda f: f.__name__
)
def test_without_the_safeguard_the_order_check_fails(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, take_away: Callable[[Kube, Path], None]
) -> None:
    plane = ControlPlane(tmp_path_factory.mktemp(f"control-{take_away.__name__}"), ENVIRONMENT, slot="controls")
    try:
        plane.start()
        kube = plane.kube()
        take_away(kube, plane.served_copy)
        apply_root(kube, ENVIRONMENT, plane.info()["git_url"])
        took = wait_until_synced(kube, SYNC_TIMEOUT, say=lambda line: say(request.config, f"control {line}"))
        say(request.config, f"control {take_away.__name__}: first sync Synced and Healthy in {took:.1f} s")
        objects = snapshot_notejam(kube, f"notejam-{ENVIRONMENT}")
        with pytest.raises(AssertionError, match="the migration started at"):
            check_claims_then_migration_then_deployment_then_smoke_test(objects, applications(kube)["notejam"])
    finally:
        plane.stop()
