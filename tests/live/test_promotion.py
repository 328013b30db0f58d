"""A release reaches each environment only through its promotion, and a revert rolls it back, live.

Each control plane plays one cluster; its served copy plays the one repository all three clusters sync from. The
test makes the commits a team's first release makes, in order, on that copy: Renovate bumps a chart in dev, the
release workflow sets dev's image tag, then the promote workflow copies dev to staging and staging to prod, each
commit made with the command the workflows run (`python -m tools.promote`; tests/ci checks the workflows run the
same). A commit for another environment must change nothing in this cluster; the one for this environment rolls it
to exactly the previous environment's tag and platform versions. Then `git revert` of that commit brings the
previous tag back without a failed sync. (That the older code is ready on the newer schema is the app's part:
tests/app/test_migration_rollout.py runs it on PostgreSQL; here kwok's pods run no code.)
"""

from __future__ import annotations

import subprocess
import sys
import time
from functools import partial
from itertools import pairwise
from pathlib import Path

import pytest
import yaml

from tests.live.conftest import LiveCluster, say
from tools.cluster.kube import Kube, Object
from tools.cluster.served_repo import CHART_VERSION_ANNOTATION, commit, revert
from tools.cluster.sync import APPLICATIONS, push_webhook, state_of, wait_until
from tools.manifests import kustomize, kustomize_source
from tools.promote import read_tag
from tools.repository import ENVIRONMENTS

pytestmark = pytest.mark.control_plane

NEW_TAG = "0123456789abcdef0123456789abcdef01234567"
# The chart Renovate bumps in dev in this test: an add-on whose stand-in is a plain Application.
BUMPED_CHART, BUMPED_NAMESPACE = "external-secrets", "external-secrets"
ROLL_TIMEOUT = 300


def promote(copy: Path, *args: str) -> str:
    """`python -m tools.promote ARGS`, as release.yaml and promote.yaml run it, on the served copy."""
    command = [sys.executable, "-m", "tools.promote", *args, "--root", str(copy)]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout


def bump_chart(copy: Path) -> str:
    """What a Renovate pull request merged to main does: a new patch release of the chart in dev's versions."""
    path = copy / "clusters" / "dev" / "versions" / "addons" / f"{BUMPED_CHART}.yaml"
    document = yaml.safe_load(path.read_text())
    major, minor, patch = document["spec"]["source"]["targetRevision"].split(".")
    document["spec"]["source"]["targetRevision"] = version = f"{major}.{minor}.{int(patch) + 1}"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return version


def renovate_bump(copy: Path) -> str:
    return f"Renovate: {BUMPED_CHART} chart {bump_chart(copy)} in dev"


def release(copy: Path) -> str:
    """release.yaml's commit after it built the image."""
    promote(copy, "--env", "dev", "--tag", NEW_TAG)
    return f"Release {NEW_TAG[:12]} to dev"


def promotion(copy: Path, source: str, target: str) -> str:
    """promote.yaml's pull request, merged."""
    promote(copy, "--from-env", source, "--env", target)
    return f"Promote {source} to {target}"


def platform_versions(copy: Path, environment: str) -> dict[str, str]:
    """What `clusters/<environment>/` in the served copy says the cluster runs: each stand-in's chart version and
    each Crossplane package."""
    cluster = copy / "clusters" / environment
    found = {}
    for app in kustomize(cluster):
        if app["kind"] == "Application" and (sources := app["spec"].get("sources") or [app["spec"]["source"]]):
            version = (sources[0].get("kustomize") or {}).get("commonAnnotations", {}).get(CHART_VERSION_ANNOTATION)
            if version:
                found[f"chart/{app['metadata']['name']}"] = version
    [packages] = [a for a in kustomize(cluster) if a["metadata"]["name"] == "crossplane-packages"]
    for package in kustomize_source(packages["spec"]["source"], copy):
        if package["apiVersion"].startswith("pkg.crossplane.io/") and "package" in package.get("spec", {}):
            found[f"{package['kind']}/{package['metadata']['name']}"] = package["spec"]["package"]
    return found


def live_platform_versions(kube: Kube, copy: Path, environment: str) -> dict[str, str]:
    """The same, read from the cluster: each stand-in ConfigMap's chart-version annotation, each package."""
    found = {}
    for app in kustomize(copy / "clusters" / environment):
        name = app["metadata"]["name"]
        if app["kind"] != "Application":
            continue
        namespace = app["spec"]["destination"]["namespace"]
        standin = kube.get(f"/api/v1/namespaces/{namespace}/configmaps/notejam-standin-{name}")
        if standin is not None:
            found[f"chart/{name}"] = (standin["metadata"].get("annotations") or {}).get(CHART_VERSION_ANNOTATION)
    for plural, kind in (("providers", "Provider"), ("functions", "Function")):
        for package in kube.items(f"/apis/pkg.crossplane.io/v1/{plural}"):
            found[f"{kind}/{package['metadata']['name']}"] = package["spec"]["package"]
    return found


def deployed_image_tag(kube: Kube, namespace: str) -> str:
    deployment = kube.get(f"/apis/apps/v1/namespaces/{namespace}/deployments/notejam")
    return deployment["spec"]["template"]["spec"]["containers"][0]["image"].rsplit(":", 1)[1]


def rolled_out(kube: Kube, namespace: str, tag: str) -> bool:
    deployment = kube.get(f"/apis/apps/v1/namespaces/{namespace}/deployments/notejam")
    status = deployment["status"]
    return (
        deployment_tag_is(deployment, tag)
        and status.get("observedGeneration") == deployment["metadata"]["generation"]
        and status.get("updatedReplicas") == status.get("replicas") == status.get("availableReplicas")
    )


def deployment_tag_is(deployment: Object, tag: str) -> bool:
    return deployment["spec"]["template"]["spec"]["containers"][0]["image"].endswith(f":{tag}")


class Watch:
    """Every operation Argo CD runs while the test waits, so that a failed attempt that a retry hid still counts."""

    def __init__(self, kube: Kube) -> None:
        self.kube = kube
        self.failed: dict[str, list[str]] = {}
        self.before: dict[str, str] = {}
        self.before = operations_started(self.applications())

    def applications(self) -> dict[str, Object]:
        apps = {app["metadata"]["name"]: app for app in self.kube.items(APPLICATIONS)}
        for name, app in apps.items():
            operation = app["status"].get("operationState") or {}
            if operation.get("startedAt", "") == self.before.get(name, ""):
                continue  # an operation from before the test (the first sync's)
            if operation.get("phase") in ("Failed", "Error") or operation.get("retryCount"):
                self.failed.setdefault(name, []).append(operation.get("message", ""))
        return apps

    def until_at(self, revision: str, names: tuple[str, ...], timeout: float = ROLL_TIMEOUT) -> dict[str, Object]:
        """Until the named Applications have compared `revision` and are Synced, Healthy and not syncing."""

        def settled() -> dict[str, Object] | None:
            apps = self.applications()
            done = all(
                apps[n]["status"].get("sync", {}).get("revision") == revision
                and state_of(apps[n]) == ("Synced", "Healthy")
                and apps[n].get("operation") is None
                and (apps[n]["status"].get("operationState") or {}).get("phase") in (None, "Succeeded")
                for n in names
            )
            return apps if done else None

        return wait_until(f"{', '.join(names)} Synced and Healthy at {revision[:12]}", settled, timeout)


def operations_started(apps: dict[str, Object]) -> dict[str, str]:
    return {n: (a["status"].get("operationState") or {}).get("startedAt", "") for n, a in apps.items()}


def test_a_release_reaches_this_environment_only_through_its_promotion_and_a_revert_rolls_it_back(
    request: pytest.FixtureRequest, live: LiveCluster
) -> None:
    kube, copy, environment, namespace = live.kube, live.plane.served_copy, live.environment, live.notejam_namespace()
    watch = Watch(kube)

    def heard(event: str, revision: str) -> None:
        """On-call's webhook got Argo CD Notifications' message for notejam at that revision."""
        wait_until(f"on-call heard notejam {event} {revision[:12]}", lambda: live.on_call.received(
            event=event, application="notejam", revision=revision), 60)  # fmt: skip

    watched = ("root", "notejam", BUMPED_CHART)
    before = {"tag": read_tag(environment, copy), "platform": live_platform_versions(kube, copy, environment)}
    assert before["platform"] == platform_versions(copy, environment)
    assert before["tag"] != NEW_TAG

    # The commits of one release, in the order they reach main, with the environment each is for.
    steps = [("dev", partial(renovate_bump, copy)), ("dev", partial(release, copy))]
    steps += [(target, partial(promotion, copy, source, target)) for source, target in pairwise(ENVIRONMENTS)]
    promoted, revisions = "", []
    for target, change in steps[: 2 + ENVIRONMENTS.index(environment)]:
        quiet = operations_started(watch.applications())
        generation = kube.get(f"/apis/apps/v1/namespaces/{namespace}/deployments/notejam")["metadata"]["generation"]
        revision = commit(copy, change())
        revisions.append(revision)
        started = time.monotonic()
        push_webhook(kube)
        apps = watch.until_at(revision, watched)
        if target != environment:
            # Another environment's commit: compared, and nothing applied here.
            assert {n: operations_started(apps)[n] for n in watched} == {n: quiet[n] for n in watched}, revision
            deployment = kube.get(f"/apis/apps/v1/namespaces/{namespace}/deployments/notejam")
            assert deployment["metadata"]["generation"] == generation
            assert live_platform_versions(kube, copy, environment) == before["platform"]
            continue
        promoted = revision
        wait_until("the Deployment rolled", lambda r=revision: rolled_out(kube, namespace, read_tag(environment, copy)))
        say(request.config, f"{environment}: {revision[:12]} synced in {time.monotonic() - started:.0f} s")
    # This environment now runs exactly what the previous one ran: the tag, and every platform version.
    assert deployed_image_tag(kube, namespace) == NEW_TAG == read_tag("dev", copy)
    wanted = platform_versions(copy, "dev")
    wait_until("the platform versions of dev", lambda: live_platform_versions(kube, copy, environment) == wanted)
    assert wanted != before["platform"], "the chart bump must be part of the promotion"
    # The bump is a sync of the chart's Application at the commit that brought it to this cluster.
    history = kube.get(f"{APPLICATIONS}/{BUMPED_CHART}")["status"]["history"]
    assert history[-1]["revision"] == (revisions[0] if environment == "dev" else promoted)
    migrate = kube.get(f"/apis/batch/v1/namespaces/{namespace}/jobs/notejam-migrate")
    assert deployment_tag_is(migrate, NEW_TAG) and migrate["status"].get("succeeded") == 1
    heard("deployed", promoted)

    # Rollback: revert the promotion commit on main. The previous tag comes back (its migration Job succeeds on the
    # newer schema: `flask db upgrade` leaves a database ahead of the code alone) and nothing fails on the way.
    reverted = revert(copy, promoted)
    push_webhook(kube)
    watch.until_at(reverted, watched)
    wait_until("the Deployment rolled back", lambda: rolled_out(kube, namespace, before["tag"]))
    migrate = kube.get(f"/apis/batch/v1/namespaces/{namespace}/jobs/notejam-migrate")
    assert deployment_tag_is(migrate, before["tag"]) and migrate["status"].get("succeeded") == 1
    if environment != "dev":  # dev's chart bump was its own commit, which stays
        wait_until("the platform versions back", lambda: live_platform_versions(kube, copy, environment) == before[
            "platform"])  # fmt: skip
    heard("deployed", reverted)
    assert watch.failed == {}
