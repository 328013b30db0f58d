"""The repository's one Chromium set-up for browser tests: Debian's Chromium through its chromedriver, headless, with
the network calls home switched off. A test that needs it fails, never skips, without a browser.

Screenshots that people look at after a run (CI uploads the folder) go to `artifacts_dir()`.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.remote.webdriver import WebDriver

from tools.repository import REPO_ROOT

# Debian's packages by default (.ci/run installs them); GitHub's runners point these at their Chrome.
CHROMIUM = os.environ.get("NOTEJAM_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("NOTEJAM_CHROMEDRIVER", "/usr/bin/chromedriver")
# Headless, sandbox off (we run as root), and none of Chromium's background calls home: the network is closed.
CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)


def artifacts_dir() -> Path:
    """NOTEJAM_TEST_ARTIFACTS (default `.cache/test-artifacts/`): files a test run leaves for people to look at."""
    folder = Path(os.environ.get("NOTEJAM_TEST_ARTIFACTS", str(REPO_ROOT / ".cache" / "test-artifacts")))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@contextmanager
def chromium(profile: Path, window: str = "1280,900") -> Iterator[WebDriver]:
    """A headless Chromium with a fresh profile in `profile`, quit on exit."""
    for binary in (CHROMIUM, CHROMEDRIVER):
        assert shutil.which(binary), f"{binary} is missing: install Debian's chromium and chromium-driver"
    os.environ["SE_OFFLINE"] = "true"  # Selenium Manager must not try to download a driver
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*CHROMIUM_FLAGS, f"--window-size={window}", f"--user-data-dir={profile}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    driver.implicitly_wait(5)
    try:
        yield driver
    finally:
        driver.quit()


class UnresolvedNode(WebDriverException):
    """Chromium returned a node it then could not resolve for a click (see `click_found`)."""


def unresolved_retried(action: Callable[[WebDriver], object]) -> Callable[[WebDriver], object]:
    """`action` as one attempt of a WebDriverWait (ignoring UnresolvedNode). Under load Chromium sometimes cannot
    resolve a node it has just returned ("Node with given id does not belong to the document", raised before the
    action reaches the page, so nothing is submitted twice): the next attempt finds the element again. The wait
    returns the action's result in a 1-tuple (true even when the result is not)."""

    def attempt(driver: WebDriver) -> tuple[object]:
        try:
            return (action(driver),)
        except WebDriverException as error:
            if "does not belong to the document" in str(error):
                raise UnresolvedNode(str(error)) from error
            raise

    return attempt


def click_found(find: Callable[[WebDriver], object]) -> Callable[[WebDriver], object]:
    """Find and click, retried as `unresolved_retried` says."""
    return unresolved_retried(lambda driver: find(driver).click())  # type: ignore[attr-defined]


def replaced(element: object) -> Callable[[WebDriver], bool]:
    """Selenium's `staleness_of`, also when Chromium answers for a node of a document it has replaced with "Node with
    given id does not belong to the document" instead of a stale-element error: both say the page has moved on."""

    def gone(_driver: WebDriver) -> bool:
        try:
            element.is_enabled()  # type: ignore[attr-defined]
        except StaleElementReferenceException:
            return True
        except WebDriverException as error:
            if "does not belong to the document" in str(error):
                return True
            raise
        return False

    return gone
