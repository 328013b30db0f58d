"""Browser-facing hardening: headers, the session cookie, a fresh session at sign-in, error pages that hold up."""

from __future__ import annotations

import datetime
import re
import time

import pytest
from flask import request
from flask_wtf.csrf import generate_csrf

from notejam import auth, security
from notejam.security import SECURITY_HEADERS
from tests.app.support import CSRF_FIELD, PASSWORD, page_text

PAGES = ["/signin/", "/", "/no-such-page/", "/healthz"]


@pytest.mark.parametrize("url", PAGES)
def test_every_response_carries_the_security_headers(signed_in, url):
    response = signed_in.get(url)
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert "Strict-Transport-Security" not in response.headers  # plain HTTP: browsers ignore it anyway


def test_pages_are_not_cached_but_operations_endpoints_may_be(signed_in):
    assert signed_in.get("/").headers["Cache-Control"] == "no-store"
    assert signed_in.get("/signin/").headers["Cache-Control"] == "no-store"
    assert "Cache-Control" not in signed_in.get("/healthz").headers


def test_a_header_the_response_set_itself_is_kept_and_not_repeated(app):
    from flask import Response

    own = {"x-frame-options": "SAMEORIGIN", "Cache-Control": "private", "Strict-Transport-Security": "max-age=60"}
    with app.test_request_context(base_url="https://localhost"):
        response = security.add_security_headers(Response("<p>hi</p>", mimetype="text/html", headers=own))
    assert response.headers.getlist("X-Frame-Options") == ["SAMEORIGIN"]
    assert response.headers.getlist("Cache-Control") == ["private"]
    assert response.headers.getlist("Strict-Transport-Security") == ["max-age=60"]
    assert response.headers.getlist("X-Content-Type-Options") == ["nosniff"]


def test_https_behind_the_load_balancer_adds_hsts(browser):
    response = browser.get("/signin/", headers={"X-Forwarded-Proto": "https"})
    assert response.headers["Strict-Transport-Security"] == "max-age=31536000"


def test_pages_use_no_inline_script_the_policy_would_block(signed_in):
    assert "script-src" not in SECURITY_HEADERS["Content-Security-Policy"]  # default-src 'self' covers it
    assert "<script" not in page_text(signed_in.get("/"))


def session_cookie(response) -> str:
    cookies = [value for value in response.headers.getlist("Set-Cookie") if value.startswith("session=")]
    assert cookies, response.headers
    return cookies[-1]


def test_session_cookie_is_httponly_and_samesite_lax_and_not_secure_over_http(browser, alice):
    cookie = session_cookie(browser.post("/signin/", {"email": alice.email, "password": PASSWORD}))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # the in-cluster smoke test signs in over http://notejam


@pytest.mark.parametrize("https", ["forwarded", "direct"])
def test_session_cookie_is_secure_over_https(browser, alice, https):
    # Over HTTPS Flask-WTF also wants a same-origin Referer, which browsers send under our Referrer-Policy.
    headers = {"Referer": "https://localhost/signin/"}
    if https == "forwarded":  # the ALB terminates TLS and says so; ProxyFix trusts one hop
        options = {"headers": {**headers, "X-Forwarded-Proto": "https"}}
    else:
        options = {"headers": headers, "base_url": "https://localhost"}
    token = browser.csrf_token()
    response = browser.client.post(
        "/signin/", data={"email": alice.email, "password": PASSWORD, "csrf_token": token}, **options
    )
    assert response.status_code == 302
    assert "Secure" in session_cookie(response)


def test_signin_starts_a_fresh_session(browser, alice):
    with browser.client.session_transaction() as planted:  # e.g. a cookie an attacker set in the browser
        planted["planted"] = "by someone else"
        planted["csrf_token"] = "known-to-the-attacker"
    browser.signin(alice.email)
    with browser.client.session_transaction() as current:
        assert "planted" not in current
        assert current.get("csrf_token") != "known-to-the-attacker"
        assert current.get("_user_id", "").startswith(f"{alice.id}:")
    assert "You are signed in!" in page_text(browser.get("/"))  # the flash survives the renewal


def test_old_csrf_token_is_refused_after_signin(browser, alice):
    before = browser.csrf_token()
    browser.signin(alice.email)
    response = browser.post("/pads/create/", {"name": "x", "csrf_token": before}, csrf=False)
    assert response.status_code == 400


def test_wrong_method_is_405_with_allow_header_on_the_error_page(signed_in):
    response = signed_in.client.put("/notes/1/")
    assert response.status_code == 405
    assert set(response.headers["Allow"].split(", ")) >= {"GET", "HEAD"}
    assert response.mimetype == "text/html"
    assert "405 Method Not Allowed" in page_text(response)


def test_error_page_still_renders_when_the_user_cannot_be_loaded(app, signed_in, monkeypatch):
    def database_down(_session_id):
        raise RuntimeError("could not connect to server")  # what a database outage does to every page

    monkeypatch.setattr(auth.login_manager, "_user_callback", database_down)
    app.config["PROPAGATE_EXCEPTIONS"] = False
    try:
        response = signed_in.get("/")
    finally:
        app.config["PROPAGATE_EXCEPTIONS"] = None
    body = page_text(response)
    assert response.status_code == 500
    assert "500 Server error" in body and "Something went wrong" in body  # the app's page, not a bare one
    assert "could not connect" not in body and "Traceback" not in body
    assert 'href="/signin/"' in body  # shown as to a signed-out visitor
    assert response.headers["X-Frame-Options"] == "DENY"


def test_the_session_serializer_is_built_once_per_key(app):
    interface = app.session_interface
    first = interface.get_signing_serializer(app)
    assert interface.get_signing_serializer(app) is first
    old_key = app.secret_key
    app.secret_key = "rotated"
    try:
        rotated = interface.get_signing_serializer(app)
        assert rotated is not first and rotated.secret_keys[-1] == b"rotated"
    finally:
        app.secret_key = old_key
    assert interface.get_signing_serializer(app).secret_keys[-1] == old_key.encode()


def test_a_session_cookie_is_verified_once_per_worker_and_still_expires_and_follows_the_key(
    app, signed_in, monkeypatch
):
    from itsdangerous import URLSafeTimedSerializer

    verifications = []
    original_loads = URLSafeTimedSerializer.loads

    def counted_loads(self, *args, **kwargs):
        verifications.append(1)
        return original_loads(self, *args, **kwargs)

    signed_in.get("/")  # the first page adds the CSRF token to the session: a new cookie
    monkeypatch.setattr(URLSafeTimedSerializer, "loads", counted_loads)
    app.session_interface._verified.clear()
    for _ in range(3):
        assert signed_in.get("/").status_code == 200
    assert len(verifications) == 1  # the same cookie on three requests: its signature checked once

    # A session in the cache ends like any other: when it is older than the session lifetime...
    monkeypatch.setitem(app.config, "PERMANENT_SESSION_LIFETIME", datetime.timedelta(seconds=60))
    now = time.time()
    monkeypatch.setattr(security.time, "time", lambda: now + 61)
    assert signed_in.get("/").status_code == 302
    monkeypatch.setattr(security.time, "time", lambda: now)
    assert signed_in.get("/").status_code == 200
    # ...and when the signing key changes (no fallback: every cookie signed before is void).
    monkeypatch.setattr(app, "secret_key", "rotated")
    assert signed_in.get("/").status_code == 302


@pytest.mark.parametrize("unread_flash", [False, True], ids=["atomic values", "a flash left unread"])
def test_the_session_a_request_changes_is_its_own_copy_of_the_verified_cookie(app, signed_in, unread_flash):
    # Signed in, the session holds strings and a bool (copied shallowly), plus the sign-in's flash if still unread, a
    # list (so the copy must be deep: HttpsAwareSessionInterface.open_session).
    serializer = app.session_interface.get_signing_serializer(app)
    data = serializer.loads(signed_in.client.get_cookie("session").value)
    data = {name: value for name, value in data.items() if name != "_flashes"}
    if unread_flash:
        data["_flashes"] = [("success", "You are signed in!")]
    cookie = f"session={serializer.dumps(data)}"
    with app.test_request_context(headers={"Cookie": cookie}):
        first = app.session_interface.open_session(app, request)
        before = list(first.get("_flashes", []))
        first.setdefault("_flashes", []).append(("error", "changed in place, as flash() does"))
        second = app.session_interface.open_session(app, request)
    assert second.get("_flashes", []) == before and second["_user_id"] == first["_user_id"]


@pytest.mark.parametrize(
    ("contents", "change", "vary"),
    [
        ({"_user_id": "1:ab"}, None, None),  # a signed-in page that only read the session
        ({"_user_id": "1:ab"}, None, "Accept-Encoding"),  # a response that varies already
        ({}, None, None),  # a visitor's empty session
        ({"_user_id": "1:ab"}, ("_flashes", [("success", "Saved.")]), None),  # changed: the cookie is signed
        ({"_user_id": "1:ab"}, ("_user_id", None), "Accept-Encoding"),  # emptied: the cookie is deleted
        ({"_user_id": "1:ab"}, "permanent", None),  # a permanent session is refreshed on each request
    ],
)
@pytest.mark.parametrize("accessed", [False, True])
def test_saving_a_session_answers_what_flasks_own_interface_answers(app, contents, change, vary, accessed):
    """HttpsAwareSessionInterface.save_session skips Flask's cookie attributes when no cookie is set: the response's
    headers must be Flask's, whatever the session and the response."""
    from flask.sessions import SecureCookieSessionInterface

    responses = []
    for interface in (app.session_interface, SecureCookieSessionInterface()):
        with app.test_request_context("/"):
            session = interface.session_class(contents)
            if change == "permanent":
                session.permanent = True
            elif change is not None:
                key, value = change
                if value is None:
                    session.clear()
                else:
                    session[key] = value
            session.accessed = accessed or change is not None
            response = app.response_class("page", headers={"Vary": vary} if vary else None)
            interface.save_session(app, session, response)
            responses.append(sorted(map(_without_clock, response.headers.items())))
    assert responses[0] == responses[1]


def _without_clock(header: tuple[str, str]) -> tuple[str, str]:
    """A header, with what depends on the second it was made in (a cookie's signature, a future expiry) blanked."""
    name, value = header
    if name == "Set-Cookie":
        value = re.sub(r"^session=[^;]+", "session=<signed>", value)
        value = re.sub(r"Expires=(?!Thu, 01 Jan 1970)[^;]+", "Expires=<later>", value)
    return name, value


def csrf_tokens(page) -> set[str]:
    return set(CSRF_FIELD.findall(page_text(page)))


@pytest.mark.parametrize("time_limit", [None, 3600])
def test_the_csrf_token_is_signed_once_per_session_unless_it_expires(app, signed_in, monkeypatch, time_limit):
    signatures = []

    def counted_generate_csrf():
        signatures.append(1)
        return generate_csrf()

    monkeypatch.setattr(security, "generate_csrf", counted_generate_csrf)
    monkeypatch.setitem(app.config, "WTF_CSRF_TIME_LIMIT", time_limit)
    pages = [signed_in.get("/") for _ in range(3)]
    tokens = set().union(*map(csrf_tokens, pages))
    if time_limit is None:
        assert len(signatures) == 1 and len(tokens) == 1
    else:
        assert len(signatures) == 3  # a token that can expire is signed afresh on each page
    form_page = signed_in.get("/notes/create/")  # the form's own hidden field and the header's sign-out form
    assert len(csrf_tokens(form_page)) == 1
    response = signed_in.post("/signout/", {"csrf_token": next(iter(csrf_tokens(pages[-1])))}, csrf=False)
    assert response.status_code == 302  # the reused token is accepted
    assert signed_in.get("/").status_code == 302  # and signed out


def test_templates_get_the_request_user_itself_not_the_proxy(app, signed_in, alice):
    from flask import render_template_string
    from flask_login import current_user

    from notejam.models import SignedInUser

    cookie = f"session={signed_in.client.get_cookie('session').value}"
    with app.test_request_context("/", headers={"Cookie": cookie}):
        context: dict = {}
        app.update_template_context(context)
        assert type(context["current_user"]) is SignedInUser
        assert context["current_user"] is current_user._get_current_object()
        assert render_template_string("{{ current_user.email }}") == alice.email
    with app.test_request_context("/"):
        assert render_template_string("{{ current_user.is_authenticated }}") == "False"
