"""Sign up, sign in, sign out, account settings: the spec's messages and redirects."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from werkzeug.security import check_password_hash

from notejam.auth import is_safe_next
from notejam.models import User
from tests.app.support import PASSWORD, location, page_text


def signup(browser, email="new@example.com", password=PASSWORD, repeat=PASSWORD):
    return browser.post("/signup/", {"email": email, "password": password, "repeat_password": repeat})


def test_signup_creates_account_and_redirects_to_signin(browser, factory):
    response = signup(browser, email="  New@Example.COM ")
    assert response.status_code == 302
    assert location(response) == "/signin/"
    assert "Account is created. Now you can sign in." in page_text(browser.get("/signin/"))
    assert factory.count(User) == 1


def test_signup_stores_email_normalised_and_password_hashed(browser, app):
    signup(browser, email="Mixed.Case@Example.com")
    from sqlalchemy import select

    from notejam import database

    with app.app_context():
        user = database.session().scalar(select(User))
    assert user.email == "mixed.case@example.com"
    assert PASSWORD not in user.password_hash
    assert check_password_hash(user.password_hash, PASSWORD)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"email": "", "password": PASSWORD, "repeat_password": PASSWORD}, "This field is required."),
        ({"email": "a@example.com", "password": "", "repeat_password": ""}, "This field is required."),
        ({"email": "not-an-email", "password": PASSWORD, "repeat_password": PASSWORD}, "Invalid email address."),
        ({"email": "a@example.com", "password": PASSWORD, "repeat_password": "other"}, "Passwords do not match"),
    ],
    ids=["email-required", "password-required", "invalid-email", "passwords-differ"],
)
def test_signup_validation_messages(browser, factory, data, message):
    response = browser.post("/signup/", data)
    assert response.status_code == 200
    assert message in page_text(response)
    assert factory.count(User) == 0


def test_signup_refuses_an_email_already_signed_up_whatever_its_case(browser, alice, factory):
    response = signup(browser, email="ALICE@example.com")
    assert response.status_code == 200
    assert "Email is already signed up" in page_text(response)
    assert factory.count(User) == 1


def test_signin_success_flashes_and_redirects_home(browser, alice):
    response = browser.post("/signin/", {"email": "Alice@Example.com", "password": PASSWORD})
    assert location(response) == "/"
    page = page_text(browser.get("/"))
    assert "You are signed in!" in page
    assert "alice@example.com" in page
    assert "Account settings" in page and "Sign out" in page


@pytest.mark.parametrize(
    ("email", "password"),
    [("alice@example.com", "wrong password"), ("nobody@example.com", PASSWORD)],
    ids=["wrong-password", "unknown-email"],
)
def test_signin_wrong_credentials_same_message_either_way(browser, alice, email, password):
    response = browser.post("/signin/", {"email": email, "password": password})
    assert response.status_code == 200
    assert "Wrong email or password" in page_text(response)
    assert browser.get("/").status_code == 302


def test_signin_follows_a_safe_next(browser, alice):
    response = browser.post("/signin/?next=/pads/create/", {"email": alice.email, "password": PASSWORD})
    assert location(response) == "/pads/create/"


def test_signin_via_a_signout_link_lands_home_not_on_the_signout_question(browser, alice):
    assert location(browser.get("/signout/")) == "/signin/?next=/signout/"
    response = browser.post("/signin/?next=/signout/", {"email": alice.email, "password": PASSWORD})
    assert location(response) == "/"


def test_signin_form_keeps_next_after_a_wrong_password(browser, alice):
    page = page_text(browser.post("/signin/?next=/pads/create/", {"email": alice.email, "password": "wrong"}))
    assert "Wrong email or password" in page
    assert 'action="' not in page.split("<form", 1)[1].split(">", 1)[0]  # posts back to this URL, next and all


OPEN_REDIRECTS = [
    "https://evil.example/",
    "//evil.example/",
    "///evil.example/",
    "/\\evil.example/",
    "\\\\evil.example/",
    "http:/evil.example",
    "javascript:alert(1)",
    "/\t/evil.example",
    "evil.example",
]


@pytest.mark.parametrize("target", OPEN_REDIRECTS)
def test_signin_refuses_open_redirects_via_next(browser, alice, target):
    response = browser.client.post(
        "/signin/",
        query_string={"next": target},
        data={"email": alice.email, "password": PASSWORD, "csrf_token": browser.csrf_token()},
    )
    assert response.status_code == 302
    assert location(response) == "/"


@pytest.mark.parametrize("target", OPEN_REDIRECTS)
def test_is_safe_next_rejects(target):
    assert not is_safe_next(target)


@pytest.mark.parametrize("target", ["/", "/pads/1/", "/notes/2/edit/?x=1"])
def test_is_safe_next_accepts_local_paths(target):
    assert is_safe_next(target)


def test_signin_page_links_to_signup_and_forgot_password(browser):
    page = page_text(browser.get("/signin/"))
    assert 'href="/signup/"' in page and 'href="/forgot-password/"' in page


def test_signout_get_only_asks_and_post_signs_out(signed_in):
    response = signed_in.get("/signout/")
    assert response.status_code == 200
    assert "Sign out of alice@example.com?" in page_text(response)
    assert signed_in.get("/").status_code == 200  # still signed in
    response = signed_in.post("/signout/")
    assert location(response) == "/signin/"
    assert signed_in.get("/").status_code == 302


PROTECTED_URLS = [
    "/",
    "/?order=name",
    "/settings/",
    "/signout/",
    "/pads/create/",
    "/pads/1/",
    "/pads/1/edit/",
    "/pads/1/delete/",
    "/notes/create/",
    "/notes/create/?pad=1",
    "/notes/1/",
    "/notes/1/edit/",
    "/notes/1/delete/",
]


@pytest.mark.parametrize("url", PROTECTED_URLS)
def test_anonymous_visitor_is_sent_to_signin_with_next(browser, url):
    response = browser.get(url)
    assert response.status_code == 302
    target = urlsplit(location(response))
    assert target.path == "/signin/"
    assert parse_qs(target.query)["next"] == [url]


def test_settings_changes_password(signed_in, factory, alice):
    data = {"old_password": PASSWORD, "new_password": "a new secret", "repeat_password": "a new secret"}
    response = signed_in.post("/settings/", data)
    assert location(response) == "/"
    assert "Your password is changed." in page_text(signed_in.get("/"))
    assert check_password_hash(factory.get(User, alice.id).password_hash, "a new secret")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"old_password": "wrong", "new_password": "n", "repeat_password": "n"}, "Wrong old password"),
        ({"old_password": PASSWORD, "new_password": "n", "repeat_password": "m"}, "Passwords do not match"),
        ({"old_password": "", "new_password": "n", "repeat_password": "n"}, "This field is required."),
    ],
    ids=["wrong-old", "mismatch", "required"],
)
def test_settings_validation_messages(signed_in, factory, alice, data, message):
    response = signed_in.post("/settings/", data)
    assert response.status_code == 200
    assert message in page_text(response)
    assert check_password_hash(factory.get(User, alice.id).password_hash, PASSWORD)


def test_changing_password_signs_out_other_sessions(app, signed_in, alice):
    from tests.app.support import Browser

    other_device = Browser(app.test_client())
    other_device.signin(alice.email)
    data = {"old_password": PASSWORD, "new_password": "a new secret", "repeat_password": "a new secret"}
    signed_in.post("/settings/", data)
    assert signed_in.get("/").status_code == 200
    assert other_device.get("/").status_code == 302


def test_production_hashing_is_werkzeug_default_not_the_test_shortcut(database_url, smtp_server):
    from notejam import create_app
    from tests.app.support import app_config

    config = app_config(database_url, smtp_server)
    config.pop("PASSWORD_HASH_METHOD")
    app = create_app(config)
    with app.test_request_context():
        from notejam.auth import hash_password

        assert hash_password("x").startswith("scrypt:")
