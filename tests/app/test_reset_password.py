"""Forgotten password: a single-use, time-limited link, mailed through a real local SMTP server."""

from __future__ import annotations

import re
import time

import pytest
from itsdangerous import TimestampSigner
from werkzeug.security import check_password_hash

from notejam.models import User
from tests.app.support import location, page_text

SAME_ANSWER = "If that email is signed up, we sent it a link to reset the password."


def request_link(browser, mailbox, email="alice@example.com") -> str:
    response = browser.post("/forgot-password/", {"email": email})
    assert location(response) == "/signin/"
    assert mailbox.received.wait(5), "no mail arrived"
    body = mailbox.messages[-1].get_payload(decode=True).decode()
    match = re.search(r"http://localhost(/reset-password/[^/\s]+/)", body)
    assert match, body
    return match.group(1)


def set_password(browser, link, password="brand new password"):
    return browser.post(link, {"new_password": password, "repeat_password": password})


def test_reset_flow_changes_password_via_emailed_link(browser, alice, factory, mailbox):
    link = request_link(browser, mailbox, email="ALICE@example.com")
    message = mailbox.messages[-1]
    assert message["To"] == "alice@example.com"
    assert message["Subject"] == "Reset your Notejam password"
    assert "Choose a new password" in page_text(browser.get(link))
    response = set_password(browser, link)
    assert location(response) == "/signin/"
    assert check_password_hash(factory.get(User, alice.id).password_hash, "brand new password")
    browser.signin(alice.email, "brand new password")


def test_unknown_email_gets_the_same_answer_and_no_mail(browser, mailbox):
    response = browser.post("/forgot-password/", {"email": "nobody@example.com"})
    assert location(response) == "/signin/"
    assert SAME_ANSWER in page_text(browser.get("/signin/"))
    time.sleep(0.3)
    assert mailbox.messages == []


def test_known_email_answer_is_identical(browser, alice, mailbox):
    browser.post("/forgot-password/", {"email": alice.email})
    assert SAME_ANSWER in page_text(browser.get("/signin/"))


def test_reset_link_works_only_once(browser, alice, mailbox, factory):
    link = request_link(browser, mailbox)
    assert location(set_password(browser, link, "first new password")) == "/signin/"
    response = set_password(browser, link, "second new password")
    assert response.status_code == 400
    assert "invalid, expired or already used" in page_text(response)
    assert check_password_hash(factory.get(User, alice.id).password_hash, "first new password")


def test_reset_link_expires(browser, alice, mailbox, monkeypatch, app):
    real_timestamp = TimestampSigner.get_timestamp
    age = app.config["RESET_TOKEN_MAX_AGE"] + 60
    with monkeypatch.context() as patched:  # the link was mailed longer ago than it lives
        patched.setattr(TimestampSigner, "get_timestamp", lambda self: real_timestamp(self) - age)
        link = request_link(browser, mailbox)
    response = browser.get(link)
    assert response.status_code == 400
    assert "invalid, expired or already used" in page_text(response)
    assert set_password(browser, link).status_code == 400


def test_reset_link_from_another_secret_is_refused(browser, alice, app):
    from notejam import mail

    forged = mail.make_reset_token("some other secret", alice)
    assert browser.get(f"/reset-password/{forged}/").status_code == 400


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"new_password": "a", "repeat_password": "b"}, "Passwords do not match"),
        ({"new_password": "", "repeat_password": ""}, "This field is required."),
    ],
)
def test_reset_form_validation(browser, alice, mailbox, data, message):
    link = request_link(browser, mailbox)
    response = browser.post(link, data)
    assert response.status_code == 200 and message in page_text(response)


def test_smtp_failure_still_gives_the_same_answer(database_url, smtp_server, alice):
    from notejam import create_app, database
    from tests.app.support import Browser, app_config
    from tests.conftest import free_port

    app = create_app(app_config(database_url, smtp_server, SMTP_PORT=free_port()))  # nothing listens
    try:
        browser = Browser(app.test_client())
        response = browser.post("/forgot-password/", {"email": alice.email})
        assert location(response) == "/signin/"
        assert SAME_ANSWER in page_text(browser.get("/signin/"))
    finally:
        database.engine(app).dispose()
