"""A person's first session with Notejam, in a real Chromium, against gunicorn on a real PostgreSQL.

Every form is submitted by the browser, so CSRF tokens, redirects, flash messages and cookies are exercised as
users meet them. Screenshots of the key pages land in the test's temporary folder.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from tests import browser
from tests.browser import UnresolvedNode, click_found, unresolved_retried
from tests.conftest import PostgresServer
from tests.servers import Served, app_env, gunicorn

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def served(postgres: PostgresServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    tmp = tmp_path_factory.mktemp("e2e")
    database_url = postgres.create_database("e2e_journey")
    with gunicorn(tmp, app_env(tmp, DB_URI=database_url), workers=2) as server:
        yield server


@pytest.fixture
def chromium(tmp_path: Path) -> Iterator[WebDriver]:
    with browser.chromium(tmp_path / "profile") as driver:
        yield driver


class Page:
    """What a person does on a page: read it, follow a link, fill a form, press a button."""

    def __init__(self, driver: WebDriver, base: str, shots: Path) -> None:
        self.driver, self.base, self.shots = driver, base, shots

    def open(self, path: str) -> None:
        self.driver.get(self.base + path)

    @property
    def path(self) -> str:
        return self.driver.current_url.removeprefix(self.base)

    def retried(self, action: Callable[[WebDriver], object]) -> object:
        """`action`, attempted again while Chromium cannot resolve a node it returned (tests/browser.py)."""
        wait = WebDriverWait(self.driver, 10, ignored_exceptions=[UnresolvedNode])
        (result,) = wait.until(unresolved_retried(action))
        return result

    @property
    def text(self) -> str:
        return str(self.retried(lambda driver: driver.find_element(By.TAG_NAME, "body").text))

    def click_link(self, text: str) -> None:
        self.navigate_by(By.LINK_TEXT, text)

    def press(self, button_text: str) -> None:
        self.navigate_by(By.XPATH, f"//button[normalize-space()='{button_text}']")

    def navigate_by(self, by: str, value: str) -> None:
        """Click the element, then wait until the next page has replaced this one and finished loading (a click
        returns before it loads)."""
        current = self.driver.find_element(By.TAG_NAME, "html")
        WebDriverWait(self.driver, 10, ignored_exceptions=[UnresolvedNode]).until(
            click_found(lambda driver: driver.find_element(by, value))
        )
        WebDriverWait(self.driver, 10).until(browser.replaced(current))
        WebDriverWait(self.driver, 10).until(self._loaded)

    @staticmethod
    def _loaded(driver: WebDriver) -> bool:
        return driver.execute_script("return document.readyState") == "complete"

    def fill(self, **fields: str) -> None:
        for name, value in fields.items():
            self.retried(lambda driver, name=name, value=value: self._fill_one(driver, name, value))

    @staticmethod
    def _fill_one(driver: WebDriver, name: str, value: str) -> None:
        """One field, from scratch each attempt (found again, cleared, typed)."""
        element = driver.find_element(By.NAME, name)
        if element.tag_name == "select":
            element.find_element(By.XPATH, f"./option[normalize-space()='{value}']").click()
        else:
            element.clear()
            element.send_keys(value)

    def screenshot(self, name: str) -> None:
        self.driver.save_screenshot(str(self.shots / f"{name}.png"))


def test_sign_up_keep_notes_in_a_pad_and_tidy_up(served: Served, chromium: WebDriver, tmp_path: Path) -> None:
    page = Page(chromium, served.base, tmp_path)

    page.open("/")
    assert page.path == "/signin/?next=/"
    page.click_link("Sign up")
    page.fill(email="Ann@Example.COM", password="correct horse", repeat_password="correct horse")
    page.press("Sign up")
    assert page.path == "/signin/"
    assert "Account is created. Now you can sign in." in page.text

    page.fill(email="ann@example.com", password="correct horse")  # emails compare case-insensitively
    page.press("Sign in")
    assert page.path == "/"
    assert "You are signed in!" in page.text
    assert "All notes (0)" in page.text
    assert "Create your first note." in page.text
    assert "ann@example.com" in page.text

    page.click_link("New pad")
    page.fill(name="Groceries")
    page.press("Save")
    assert "Pad is created." in page.text
    page.click_link("Groceries")
    assert "Groceries (0)" in page.text
    assert "Create first note in the pad." in page.text

    page.click_link("New note")
    page.fill(name="Market", text="Apples <b>and</b> pears")
    page.press("Save")
    assert "Note is created." in page.text
    assert "Groceries (1)" in page.text
    page.screenshot("pad")

    page.click_link("Market")
    assert "Apples <b>and</b> pears" in page.text  # shown as typed, not as markup
    assert "Today at" in page.text
    page.click_link("Edit")
    page.fill(name="Saturday market")
    page.press("Save")
    assert "Note is saved." in page.text

    page.open("/")
    assert "All notes (1)" in page.text
    assert "Saturday market" in page.text
    page.screenshot("all-notes")

    page.click_link("Saturday market")
    page.click_link("Delete it")
    page.press("Delete the note")
    assert "Note is deleted." in page.text
    page.open("/")
    assert "All notes (0)" in page.text

    page.click_link("Groceries")
    page.click_link("Pad settings")
    page.click_link("Delete this pad")
    page.press("Delete the pad and its notes")
    assert "Pad and its notes are deleted." in page.text
    assert "No pads yet." in page.text

    page.press("Sign out")
    assert page.path.startswith("/signin/")
    page.open("/")
    assert page.path == "/signin/?next=/"
