"""Notejam: notes in pads, on PostgreSQL. `create_app` is the application factory."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from flask import Flask, g, render_template
from flask_login import current_user
from flask_wtf.csrf import CSRFError, CSRFProtect
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix

from notejam import auth, config, database, dates, links, logs, metrics, migrate, notes, ops, pads, security
from notejam.sidebar import sidebar_items

__all__ = ["Notejam", "create_app"]

csrf = CSRFProtect()
log = logging.getLogger(__name__)


class Notejam(Flask):
    """Flask, deciding once per function whether it needs running as a coroutine.

    Flask asks `ensure_sync` of every hook and view on every request (sixteen times a page: before- and
    after-request functions, teardowns, the view), and each answer inspects the function's code flags. The answer
    for a function never changes, so it is kept (a dict of the app's hooks and views; never more than SYNC_CACHE
    entries, should someone hand it a new function each time).
    """

    SYNC_CACHE = 1_000

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._sync: dict[Callable[..., Any], Callable[..., Any]] = {}

    def ensure_sync(self, func: Callable[..., Any]) -> Callable[..., Any]:
        sync = self._sync.get(func)
        if sync is None:
            sync = super().ensure_sync(func)
            if len(self._sync) < self.SYNC_CACHE:
                self._sync[func] = sync
        return sync


def create_app(config_overrides: Mapping[str, Any] | None = None) -> Flask:
    """The app, configured from the environment; `config_overrides` wins (tests use it)."""
    app = Notejam(__name__)
    try:
        app.config.update(config.load_settings(app.instance_path, config_overrides))
    except config.ConfigError as error:
        logs.configure("INFO")
        log.critical("refusing to start: %s", error)
        raise
    if app.config["DATABASE_URL"].startswith("sqlite:///" + app.instance_path):
        Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    # Behind the load balancer: trust one hop of X-Forwarded-For/-Proto for client address and scheme.
    app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1)  # type: ignore[method-assign]

    # Order matters: request ids and metrics first, so even a CSRF rejection is logged and counted.
    logs.init_app(app)
    metrics.init_app(app)
    database.init_app(app)
    migrate.init_app(app)
    csrf.init_app(app)
    security.init_app(app)
    auth.login_manager.init_app(app, add_context_processor=False)  # page_functions gives current_user
    app.extensions["notejam.migration_revisions"] = migrate.code_revisions()

    for blueprint in (auth.bp, notes.bp, pads.bp, ops.bp):
        app.register_blueprint(blueprint)
    csrf.exempt(ops.bp)
    _register_templating(app)
    _register_error_pages(app)
    log.info(
        "app created",
        extra={"env": app.config["NOTEJAM_ENV"], "database": config.redacted_database_url(app.config["DATABASE_URL"])},
    )
    return app


def _register_templating(app: Flask) -> None:
    app.add_template_filter(dates.smart_date, "smart_date")

    @app.context_processor
    def page_functions() -> dict[str, Any]:
        # Registered after Flask-WTF's processor, so the page's csrf_token is ours (security.csrf_token: signed once
        # per session). current_user is the request's user itself rather than Flask-Login's proxy, which looks the
        # user up in the request context on every attribute the layout reads (so Flask-Login's own processor is
        # not registered). The links are the request's script root's, looked up once per page (links.for_request).
        # Functions, not values, for what only some pages show: the sidebar, a form's token.
        user = current_user._get_current_object()  # type: ignore[attr-defined]
        page_links = links.for_request()
        return {
            "current_user": user,
            "link": page_links.link,
            "id_url": page_links.id_url,
            "sidebar_items": lambda: sidebar_items(user.pads if user.is_authenticated else ()),
            "csrf_token": security.csrf_token,
        }


# Seconds a client should wait after a 503: about the time a pooled connection needs to find a restarted server.
RETRY_AFTER_SECONDS = 5


def _error_page(code: int, title: str, message: str, headers: Mapping[str, str] | None = None) -> Any:
    """The app's error template; if even that fails (the header looks up the signed-in user, which a database
    outage breaks), the same page as a signed-out visitor sees it, rather than the server's bare 500."""
    try:
        body = render_template("error.html", code=code, title=title, message=message)
    except Exception:
        log.exception("error page shown without the signed-in user")
        g._login_user = auth.login_manager.anonymous_user()  # Flask-Login's per-request user: skip the lookup
        body = render_template("error.html", code=code, title=title, message=message)
    return body, code, dict(headers or {})


def _register_error_pages(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def csrf_rejected(error: CSRFError) -> Any:
        message = f"The form could not be accepted: {error.description} Reload the page and try again."
        return _error_page(400, "Bad request", message)

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Any:
        # Keep the headers the status needs, e.g. Allow on a 405; the body is ours, so not its Content-Type.
        headers = {name: value for name, value in error.get_headers() if name.lower() != "content-type"}
        return _error_page(error.code or 500, error.name, error.description or "", headers)

    @app.errorhandler(Exception)
    def unexpected_error(error: Exception) -> Any:
        if database.is_unavailable(error):
            return database_unavailable(error)
        log.exception("unhandled error")
        message = "Something went wrong on our side. It is logged; please try again later."
        return _error_page(500, "Server error", message)


def database_unavailable(error: Exception) -> Any:
    """503, not 500: nothing is wrong with the request or the code, the database is briefly out of reach."""
    # One line, no trace: an outage makes every request land here. The class name only (messages name hosts).
    cause = getattr(error, "orig", None) or error
    log.warning("database unavailable", extra={"error": type(cause).__name__})
    metrics.count_db_unavailable()
    g._login_user = auth.login_manager.anonymous_user()  # the page must not query the database again
    message = "The service is briefly unavailable. Please try again in a few seconds."
    return _error_page(503, "Service unavailable", message, {"Retry-After": str(RETRY_AFTER_SECONDS)})
