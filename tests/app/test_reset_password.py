"""Forgotten password: a single-use, time-limited link, mailed through a real local SMTP server."""

from __future__ import annotations

import re
import threading
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
    assert mailbox.received.wait(5), "no mail arrived"


def test_answer_does_not_wait_for_the_mail_server(browser, alice, mailbox, monkeypatch):
    """Were the SMTP round trip on the request path, known emails would answer measurably slower."""
    from notejam import mail

    release, sent = threading.Event(), threading.Event()

    def slow_smtp(config, to_address, link):
        release.wait(5)
        sent.set()

    monkeypatch.setattr(mail, "send_reset_link", slow_smtp)
    response = browser.post("/forgot-password/", {"email": alice.email})
    assert location(response) == "/signin/"
    assert not sent.is_set(), "the answer waited for the mail to go out"
    release.set()
    assert sent.wait(5)


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


def test_smtp_failure_still_gives_the_same_answer(database_url, smtp_server, alice, caplog):
    from notejam import create_app, database
    from tests.app.support import Browser, app_config
    from tests.conftest import free_port

    app = create_app(app_config(database_url, smtp_server, SMTP_PORT=free_port()))  # nothing listens
    try:
        browser = Browser(app.test_client())
        response = browser.post("/forgot-password/", {"email": alice.email})
        assert location(response) == "/signin/"
        assert SAME_ANSWER in page_text(browser.get("/signin/"))
        deadline = time.monotonic() + 5  # the mail goes out, and fails, on the mail thread
        while "reset mail not sent" not in caplog.text and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "reset mail not sent" in caplog.text  # the failure is not lost with the thread
        assert "/reset-password/" not in caplog.text
    finally:
        database.engine(app).dispose()


def test_reset_link_uses_public_url_whatever_host_the_request_names(database_url, smtp_server, alice, mailbox):
    """A forged Host header must not turn the mailed link into a link to somebody else's site."""
    from notejam import create_app, database
    from tests.app.support import Browser, app_config

    app = create_app(app_config(database_url, smtp_server, PUBLIC_URL="https://notejam.example.com"))
    try:
        client = app.test_client()
        client.environ_base["HTTP_HOST"] = "evil.example.net"  # every request of this visitor names that host
        Browser(client).post("/forgot-password/", {"email": alice.email})
        assert mailbox.received.wait(5), "no mail arrived"
        body = mailbox.messages[-1].get_payload(decode=True).decode()
        assert "https://notejam.example.com/reset-password/" in body
        assert "evil.example.net" not in body
    finally:
        database.engine(app).dispose()
