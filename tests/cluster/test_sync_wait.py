"""Waiting for a tree to sync (tools/cluster/sync.wait_until_synced), against a scripted list of Applications: it
returns once everything is Synced and Healthy, and stops early, with Argo CD's message, when manifests keep failing
to generate (waiting for its timeout would only hide the cause)."""

from __future__ import annotations

import pytest

from tools.cluster.sync import StuckSync, wait_until_synced

ERROR = (
    "Failed to load target state: failed to generate manifest for source 1 of 1: rpc error: code = Unknown desc = "
    "Manifest generation error (cached): `kustomize build` failed: no matches for Id Application.v1alpha1"
)


def app(name: str, sync: str, health: str, error: str | None = None, children: tuple[str, ...] = ()) -> dict:
    status: dict = {"sync": {"status": sync}, "health": {"status": health},
                    "resources": [{"kind": "Application", "name": c} for c in children]}  # fmt: skip
    if error:
        status["conditions"] = [{"type": "ComparisonError", "message": error}]
    return {"metadata": {"name": name}, "status": status}


class ScriptedKube:
    """Answers each list of Applications with the next state of a script, then keeps answering the last one."""

    def __init__(self, *states: list[dict]) -> None:
        self.states = list(states)

    def items(self, path: str) -> list[dict]:
        return self.states.pop(0) if len(self.states) > 1 else self.states[0]


def test_a_tree_that_converges_returns() -> None:
    kube = ScriptedKube(
        [app("root", "OutOfSync", "Progressing", children=("notejam",))],
        [app("root", "Synced", "Healthy", children=("notejam",)), app("notejam", "Unknown", "Unknown", ERROR)],
        [app("root", "Synced", "Healthy", children=("notejam",)), app("notejam", "Synced", "Healthy")],
    )
    assert wait_until_synced(kube, timeout=30, say=lambda line: None, stuck_after=5) < 5  # type: ignore[arg-type]


def test_manifests_that_keep_failing_stop_the_wait_with_argo_cds_message() -> None:
    kube = ScriptedKube(
        [app("root", "Synced", "Healthy", children=("notejam",)), app("notejam", "Unknown", "Unknown", ERROR)]
    )
    with pytest.raises(StuckSync, match=r"notejam: manifests fail to generate .*no matches for Id Application"):
        wait_until_synced(kube, timeout=30, say=lambda line: None, stuck_after=1)  # type: ignore[arg-type]
