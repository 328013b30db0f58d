"""Argo CD's web UI on the local control plane, in a real Chromium: the sign-in page offers GitHub only; the
break-glass procedure of docs/runbook.md turns the local admin on; sign in as the admin, see dev's tree Synced and
Healthy, open Notejam's resource tree, then a change in git shows OutOfSync after Refresh and the Sync button brings
it back to Synced with the change applied; the procedure's second half turns the admin off, which ends its session.
Screenshots of the sign-in page, the list and the tree go to the artefacts.

dev only: the UI is the same for every environment, and each environment's tree is already checked through the API.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from tests import browser
from tests.argocd.test_sso import runbook_blocks
from tests.browser import UnresolvedNode, click_found
from tests.live.conftest import LiveCluster
from tests.live.test_sign_in import api
from tests.live.test_steady_state import wait_for_operation, wait_synced_healthy
from tools.cluster.served_repo import commit
from tools.cluster.sync import APPLICATIONS
from tools.promote import set_tag

pytestmark = [pytest.mark.control_plane, pytest.mark.browser]

UI_TAG = "fedcba9876543210fedcba9876543210fedcba98"
SYNCHRONIZE = "//button[@qe-id='application-sync-panel-button-synchronize']"
GITHUB_BUTTON = "//button[.//span[normalize-space()='Log in via GitHub']]"
WAIT = 120


@pytest.fixture
def chromium(tmp_path: Path) -> Iterator[WebDriver]:
    with browser.chromium(tmp_path / "profile", window="1600,1300") as driver:
        yield driver


class ArgoCD:
    """What a person does in Argo CD's UI: sign in, read the tiles and the tree, press buttons."""

    def __init__(self, driver: WebDriver, url: str) -> None:
        self.driver, self.url = driver, url

    def until(self, what: str, condition: Callable[[WebDriver], object], timeout: float = WAIT) -> object:
        # Argo CD's React UI re-renders while we look: an element found a moment ago may be gone; find it again.
        ignored = [UnresolvedNode, StaleElementReferenceException]
        return WebDriverWait(self.driver, timeout, ignored_exceptions=ignored).until(condition, what)

    def click(self, what: str, xpath: str) -> None:
        self.until(f"click {what}", click_found(lambda driver: driver.find_element(By.XPATH, xpath)))

    def sign_in(self, username: str, password: str) -> None:
        self.driver.get(f"{self.url}/login")
        self.driver.find_element(By.NAME, "username").send_keys(username)
        self.driver.find_element(By.NAME, "password").send_keys(password)
        self.click("Sign In", "//button[normalize-space()='Sign In']")
        self.until("the applications list", lambda d: urlparse(d.current_url).path == "/applications")

    def tiles(self) -> dict[str, str]:
        """`{application: its status line}` of the tiles on the page ("Healthy Synced" and the like)."""
        found = {}
        for tile in self.driver.find_elements(By.CSS_SELECTOR, ".applications-list__entry"):
            title = tile.find_element(By.CSS_SELECTOR, ".applications-list__title").text
            found[title] = tile.find_element(By.CSS_SELECTOR, "[qe-id='applications-tiles-health-status']").text
        return found

    def show_items_per_page(self, count: int) -> None:
        self.click("Items per page", "//a[starts-with(normalize-space(), 'Items per page:')]")
        self.click(f"{count} per page", f"//li[normalize-space()='{count}']")

    def tree(self) -> list[str]:
        """The resource tree's nodes as "kind name", the kind as the UI labels it ("deploy notejam")."""
        nodes = []
        for node in self.driver.find_elements(By.CSS_SELECTOR, ".application-resource-tree__node"):
            kinds = node.find_elements(By.CSS_SELECTOR, ".application-resource-tree__node-kind")
            titles = node.find_elements(By.CSS_SELECTOR, ".application-resource-tree__node-title")
            nodes.append(" ".join([k.text for k in kinds] + [t.text for t in titles]).strip())
        return nodes

    def status_panel(self) -> str:
        return self.driver.find_element(By.CSS_SELECTOR, ".application-status-panel").text

    def press_toolbar(self, label: str) -> None:
        self.click(label, f"//div[contains(@class, 'top-bar__action-menu')]//button[normalize-space()='{label}']")

    def synchronize(self, live: LiveCluster, every: float = 15) -> str:
        """Press the sync panel's Synchronize until Argo CD has the operation; return the previous operation's start
        time, for waiting on the new one's end. Under load the panel can take a click while it still loads the
        application's resources, and nothing is sent; a second operation while one runs would be refused by the API
        server, so pressing again never syncs twice."""
        app = live.kube.get(f"{APPLICATIONS}/notejam")
        before = (app["status"].get("operationState") or {}).get("startedAt", "")

        def started() -> bool:
            app = live.kube.get(f"{APPLICATIONS}/notejam")
            operation = app["status"].get("operationState") or {}
            return bool(app.get("operation")) or operation.get("startedAt", "") > before

        deadline = time.monotonic() + WAIT
        while not started():
            assert time.monotonic() < deadline, "no sync started from the panel's Synchronize"
            if self.driver.find_elements(By.XPATH, SYNCHRONIZE):
                self.click("Synchronize", SYNCHRONIZE)
            pressed = time.monotonic()
            while not started() and time.monotonic() - pressed < every:
                time.sleep(0.5)
        return before

    def screenshot(self, name: str) -> Path:
        path = browser.artifacts_dir() / f"argocd-{name}.png"
        self.driver.save_screenshot(str(path))
        return path


def pods_of_replica_sets(nodes: list[str]) -> list[str]:
    """The tree's Pods of Notejam's ReplicaSets ("rs notejam-5d986f588d" -> "pod notejam-5d986f588d-vghft")."""
    replica_sets = [n.removeprefix("rs ") for n in nodes if re.fullmatch(r"rs notejam-[a-z0-9]+", n)]
    return [n for n in nodes for rs in replica_sets if re.fullmatch(rf"pod {rs}-[a-z0-9]{{5}}", n)]


def break_glass(live: LiveCluster, block: int) -> str:
    """Run docs/runbook.md's break-glass block (0: the admin on, 1: off again) with the plane's kubectl and argocd."""
    kubectl = live.plane.binary("kubernetes", "kubectl")
    env = {**os.environ, **live.plane.argocd_env()}
    env["PATH"] = os.pathsep.join([str(kubectl.parent), env["PATH"]])
    result = subprocess.run(["bash", "-euo", "pipefail", "-c", runbook_blocks()[block]], capture_output=True,
                            text=True, timeout=120, env=env, stdin=subprocess.DEVNULL, check=False)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def set_automated_sync(live: LiveCluster, name: str, automated: dict | None) -> None:
    live.kube.merge_patch(f"{APPLICATIONS}/{name}", {"spec": {"syncPolicy": {"automated": automated}}})


@pytest.mark.parametrize("live", ["dev"], indirect=True)
def test_sign_in_see_the_tree_synced_and_sync_a_change_from_the_ui(live: LiveCluster, chromium: WebDriver) -> None:
    expected = wait_synced_healthy(live.kube, list(live.first_sync))
    ui = ArgoCD(chromium, live.plane.info()["ui_url"])
    # As git sets it: GitHub only (Dex), no form for a password.
    chromium.get(f"{ui.url}/login")
    ui.until("the sign-in page's GitHub button", lambda d: d.find_elements(By.XPATH, GITHUB_BUTTON))
    assert not chromium.find_elements(By.NAME, "username")
    ui.screenshot("sign-in")

    policies = {name: live.kube.get(f"{APPLICATIONS}/{name}")["spec"]["syncPolicy"]["automated"]
                for name in ("root", "notejam", "argocd")}  # fmt: skip
    [password] = re.findall(r"^admin password: (\S+)$", break_glass(live, 0), flags=re.MULTILINE)
    try:
        signed_in_as_the_admin_sync_from_the_ui(live, ui, password, expected)
    finally:
        set_automated_sync(live, "notejam", policies["notejam"])
        break_glass(live, 1)
    token = chromium.get_cookie("argocd.token")
    assert token, "the admin's session cookie"
    assert api(live, "/api/v1/session", {"username": "admin", "password": password})[0] == 401
    status, _ = api(live, "/api/v1/applications", token=token["value"])
    assert status == 401, "the admin's session ended with the account"
    # The root syncs itself from git again, and with it the argocd Application's policy.
    wait_synced_healthy(live.kube, ["root", "notejam", "argocd"], timeout=WAIT)
    for name, automated in policies.items():
        assert live.kube.get(f"{APPLICATIONS}/{name}")["spec"]["syncPolicy"]["automated"] == automated, name


def signed_in_as_the_admin_sync_from_the_ui(live: LiveCluster, ui: ArgoCD, password: str, expected: list[str]) -> None:
    ui.sign_in("admin", password)

    ui.show_items_per_page(20)

    # Every Application Healthy and Synced, but the root: with its automated sync off (break glass), it differs from
    # git in its own policy and in argocd's, and says so.
    def synced(name: str, status: str) -> bool:
        return "OutOfSync" in status if name == "root" else "Synced" in status and "OutOfSync" not in status

    ui.until("every Application Healthy, Synced but the root", lambda d: set(ui.tiles()) == set(expected)
             and all("Healthy" in s and synced(name, s) for name, s in ui.tiles().items()))  # fmt: skip
    ui.screenshot("applications-list")

    ui.click("the notejam tile", "//span[contains(@class, 'applications-list__title')][normalize-space()='notejam']")
    # The tree labels each node with its kind's short name: the claims, the migration Job and its Pod, the
    # Deployment, its ReplicaSet and Pods.
    ui.until("Notejam's resource tree", lambda d: "deploy notejam" in ui.tree())
    ui.until("the Deployment's ReplicaSet and Pods", lambda d: pods_of_replica_sets(ui.tree()))
    nodes = ui.tree()
    for node in ("postgresqlinstance notejam-db", "databasebackup notejam-db-backup", "job notejam-migrate",
                 "deploy notejam"):  # fmt: skip
        assert node in nodes, (node, nodes)
    assert any(re.fullmatch(r"pod notejam-migrate-[a-z0-9]{5}", n) for n in nodes), nodes
    ui.screenshot("notejam-tree")

    # Syncing by hand: automated sync is off on root (the break-glass procedure), and now on notejam.
    set_automated_sync(live, "notejam", None)
    copy = live.plane.served_copy
    set_tag(live.environment, UI_TAG, copy)
    revision = commit(copy, f"Promote notejam to {UI_TAG} in {live.environment}, synced from the UI")

    ui.press_toolbar("Refresh")
    ui.until("OutOfSync after Refresh", lambda d: "OutOfSync" in ui.status_panel())
    ui.screenshot("notejam-out-of-sync")
    ui.press_toolbar("Sync")
    before = ui.synchronize(live)
    # The sync's end, then Synced and Healthy, waited for in the API; then the UI must show it. While the operation
    # runs, the Application can turn Healthy for a moment and back to Progressing (seen on dev, sampled every 0.2 s),
    # so the panel alone may say Synced and Healthy before the end.
    wait_for_operation(live.kube, "notejam", before, timeout=240)
    app = wait_synced_healthy(live.kube, ["notejam"], timeout=240)["notejam"]
    ui.until("Synced and Healthy after the sync", lambda d: "OutOfSync" not in ui.status_panel()
             and "Progressing" not in ui.status_panel()
             and "Synced" in ui.status_panel() and "Healthy" in ui.status_panel())  # fmt: skip

    operation = app["status"]["operationState"]
    assert operation["operation"]["initiatedBy"] == {"username": "admin"}, operation["operation"]
    assert operation["syncResult"]["revision"] == revision
    namespace = live.notejam_namespace()
    deployment = live.kube.get(f"/apis/apps/v1/namespaces/{namespace}/deployments/notejam")
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"].endswith(f":{UI_TAG}")
