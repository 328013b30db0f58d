"""Browser-facing hardening: security headers on every response, a session cookie that is Secure over HTTPS, and the
CSRF token signed once per session rather than on every page."""

from __future__ import annotations

import copy
import time
from typing import Any

from flask import Flask, Request, Response, current_app, g, has_request_context, request, session
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from flask_wtf.csrf import generate_csrf
from itsdangerous import BadSignature, URLSafeTimedSerializer

# No script on any page and one inline <style> in base.html: nothing else needs to load, frame or post anywhere.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",  # frame-ancestors for browsers that predate CSP 2
    "X-Content-Type-Options": "nosniff",
    # Full URLs (a reset link carries its token) never leave the site; other sites see no referrer at all.
    "Referrer-Policy": "same-origin",
}
# Sent only over HTTPS (browsers ignore it on plain HTTP); a year, the usual minimum for preload lists.
STRICT_TRANSPORT_SECURITY = "max-age=31536000"


class HttpsAwareSessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie session, with the cookie marked Secure whenever the request came over HTTPS.

    Users reach the app only through the ALB's HTTPS listener (port 80 just redirects), which says so in
    X-Forwarded-Proto (trusted through ProxyFix), so their cookie is always Secure. In-cluster clients that talk
    plain HTTP to the Service, such as the smoke test Job on http://notejam, still get a cookie they can send back.
    SESSION_COOKIE_SECURE=True still forces it everywhere.
    """

    def __init__(self) -> None:
        self._serializer: tuple[tuple[Any, ...], URLSafeTimedSerializer | None] | None = None
        # Cookies this worker verified, by (keys, cookie): when it was signed and what it holds.
        self._verified: dict[tuple[tuple[Any, ...], str], tuple[int, dict[str, Any]]] = {}

    def get_cookie_secure(self, app: Flask) -> bool:
        return super().get_cookie_secure(app) or (has_request_context() and request.is_secure)

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        """Flask's serializer, built once per set of keys instead of twice a request (about as costly as using it)."""
        keys = (app.secret_key, *(app.config["SECRET_KEY_FALLBACKS"] or ()))
        if self._serializer is None or self._serializer[0] != keys:
            self._serializer = (keys, super().get_signing_serializer(app))
        return self._serializer[1]

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        """Flask's `open_session`, with the signature of each cookie checked once per worker, not on every request.

        A browser sends the same cookie until the session changes (it is not re-signed per request: sessions are not
        permanent), and verifying it (HMAC, base64, JSON) is the dearest part of opening it. The cookie as sent is the
        key, with the signing keys: a cookie that verified once with these keys verifies again, except that it may
        have expired since, so its age is checked on every request as itsdangerous checks it. The session gets a copy
        of what the cookie holds (views change it in place: flashes). Anything not verified before goes through
        Flask's code, unchanged.
        """
        serializer = self.get_signing_serializer(app)
        value = request.cookies.get(self.get_cookie_name(app))
        if serializer is None or not value or self._serializer is None:
            return super().open_session(app, request)
        key = (self._serializer[0], value)
        max_age = int(app.permanent_session_lifetime.total_seconds())
        verified = self._verified.get(key)
        if verified is None:
            try:
                data, signed_at = serializer.loads(value, max_age=max_age, return_timestamp=True)
            except BadSignature:
                return self.session_class()
            if len(self._verified) >= VERIFIED_COOKIES:
                self._verified.clear()
            verified = self._verified[key] = (int(signed_at.timestamp()), data)
        signed_at, data = verified
        if not 0 <= int(time.time()) - signed_at <= max_age:  # itsdangerous's SignatureExpired
            return self.session_class()
        if all(type(item) in _ATOMIC for item in data.values()):
            return self.session_class(data)  # a new dict, sharing only values nobody can change in place
        return self.session_class(copy.deepcopy(data))  # flashed messages are a list, which flash() appends to

    def save_session(self, app: Flask, session: Any, response: Response) -> None:
        """Flask's `save_session`, which works out the cookie's seven attributes (name, domain, path, Secure, ...) on
        every response, only when it sets or deletes the cookie. A page that left the session as it came, as every
        page a signed-in user only reads does, gets what Flask gives it: `Vary: Cookie` if the session was read."""
        if self.should_set_cookie(app, session):  # modified, or permanent and refreshed on each request
            super().save_session(app, session, response)
        elif session.accessed:
            response.vary.add("Cookie")


# The types of what a signed-in session holds (user id, fingerprint, CSRF token, freshness): immutable.
_ATOMIC = frozenset({str, int, bool, float, type(None)})


# Verified session cookies kept per worker. Bounded: emptied when full, which costs one verification per session.
VERIFIED_COOKIES = 4_096

# Signed CSRF tokens by session token, per worker. Bounded: emptied when full, which costs one signature per session.
CSRF_CACHE = "notejam.signed_csrf_tokens"
CSRF_CACHE_SIZE = 10_000
CSRF_FIELD = "csrf_token"  # Flask-WTF's default WTF_CSRF_FIELD_NAME, which the config keeps


def csrf_token() -> str:
    """Flask-WTF's `generate_csrf`, signed once per session and worker: the `csrf_token()` the templates call.

    Flask-WTF signs the session's token anew on each request, and the sign-out form in every page's header needs it.
    A signed token never expires while WTF_CSRF_TIME_LIMIT is None (our config: it lives as long as the session), so
    the one signed for this session before is exactly as valid; with a time limit, each request signs its own.
    """
    cache: dict[tuple[Any, str], str] = current_app.extensions[CSRF_CACHE]
    raw = session.get(CSRF_FIELD)
    token = cache.get((current_app.secret_key, raw)) if isinstance(raw, str) else None
    if token is not None:
        setattr(g, CSRF_FIELD, token)  # where generate_csrf looks first: the page's forms print the same token
        return token
    token = generate_csrf()
    if current_app.config["WTF_CSRF_TIME_LIMIT"] is None:
        if len(cache) >= CSRF_CACHE_SIZE:
            cache.clear()
        cache[current_app.secret_key, session[CSRF_FIELD]] = token
    return token


def add_security_headers(response: Response) -> Response:
    """The headers above, each unless the response set its own (one pass over its headers, not one per header)."""
    headers = response.headers
    present = {name.lower() for name, _ in headers.items()}
    added = [(name, value) for name, value in SECURITY_HEADERS.items() if name.lower() not in present]
    if response.mimetype == "text/html" and "cache-control" not in present:
        # Every page is someone's notes or carries their CSRF token: no shared cache keeps it, and after signing
        # out on a shared computer the Back button does not bring the notes back from the browser's cache.
        added.append(("Cache-Control", "no-store"))
    if request.is_secure and "strict-transport-security" not in present:
        added.append(("Strict-Transport-Security", STRICT_TRANSPORT_SECURITY))
    headers.extend(added)
    return response


def init_app(app: Flask) -> None:
    app.session_interface = HttpsAwareSessionInterface()
    app.extensions[CSRF_CACHE] = {}
    app.after_request(add_security_headers)
