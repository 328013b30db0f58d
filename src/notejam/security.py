"""Browser-facing hardening: security headers on every response, and a session cookie that is Secure over HTTPS."""

from __future__ import annotations

from flask import Flask, Response, has_request_context, request
from flask.sessions import SecureCookieSessionInterface

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

    def get_cookie_secure(self, app: Flask) -> bool:
        return super().get_cookie_secure(app) or (has_request_context() and request.is_secure)


def add_security_headers(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if response.mimetype == "text/html":
        # Every page is someone's notes or carries their CSRF token: no shared cache keeps it, and after signing
        # out on a shared computer the Back button does not bring the notes back from the browser's cache.
        response.headers.setdefault("Cache-Control", "no-store")
    if request.is_secure:
        response.headers.setdefault("Strict-Transport-Security", STRICT_TRANSPORT_SECURITY)
    return response


def init_app(app: Flask) -> None:
    app.session_interface = HttpsAwareSessionInterface()
    app.after_request(add_security_headers)
