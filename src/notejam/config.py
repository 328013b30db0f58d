"""Every setting the app reads from the environment, in one place (docs/interfaces.md lists them).

`load_settings` turns an environment mapping into Flask config keys and refuses bad or missing values
with a `ConfigError` whose message says what to set. Nothing else in the package reads `os.environ`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.engine import URL, make_url

DEVELOPMENT = "development"
PRODUCTION = "production"
# Reset links stay valid for an hour; the token also dies as soon as the password changes.
RESET_TOKEN_MAX_AGE_SECONDS = 3600
DEFAULT_PROBE_PORT = 8001
# Where the image puts the certificate authorities of Amazon RDS, all regions (Dockerfile, base/config.env).
RDS_CA_BUNDLE = "/opt/rds/global-bundle.pem"
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class ConfigError(RuntimeError):
    """The environment does not describe a runnable app; the message says what to fix."""


def load_settings(
    instance_path: str, overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """Flask config from `environ` (default: the process environment), `overrides` applied last."""
    environ = os.environ if environ is None else environ
    env = environ.get("NOTEJAM_ENV", PRODUCTION).strip().lower() or PRODUCTION
    if env not in (DEVELOPMENT, PRODUCTION):
        raise ConfigError(f"NOTEJAM_ENV must be '{DEVELOPMENT}' or '{PRODUCTION}', not {env!r}")
    settings: dict[str, Any] = {
        "NOTEJAM_ENV": env,
        "SECRET_KEY": environ.get("SECRET_KEY") or None,
        "DATABASE_URL": database_url(environ, instance_path),
        "SMTP_HOST": environ.get("SMTP_HOST", "localhost"),
        "SMTP_PORT": _int(environ, "SMTP_PORT", 25),
        "SMTP_USERNAME": environ.get("SMTP_USERNAME") or None,
        "SMTP_PASSWORD": environ.get("SMTP_PASSWORD") or None,
        "SMTP_STARTTLS": _bool(environ, "SMTP_STARTTLS", False),
        "MAIL_FROM": environ.get("MAIL_FROM", "Notejam <no-reply@notejam.example>"),
        # Where users reach the app. Links in mail are built from it, never from the request's Host header,
        # which anybody inside the cluster can set. Unset (a local run): links follow the request.
        "PUBLIC_URL": public_url(environ),
        "LOG_LEVEL": environ.get("LOG_LEVEL", "INFO").upper(),
        "RESET_TOKEN_MAX_AGE": RESET_TOKEN_MAX_AGE_SECONDS,
        # None means werkzeug's default (scrypt). Only tests override it, to keep the suite fast.
        "PASSWORD_HASH_METHOD": None,
        "MAX_CONTENT_LENGTH": 1024 * 1024,
        "SESSION_COOKIE_SAMESITE": "Lax",
        # CSRF tokens live as long as the session: a form left open over lunch still submits.
        "WTF_CSRF_TIME_LIMIT": None,
    }
    settings.update(overrides or {})
    if isinstance(settings["DATABASE_URL"], URL):
        settings["DATABASE_URL"] = settings["DATABASE_URL"].render_as_string(hide_password=False)
    if not settings["SECRET_KEY"]:
        if settings["NOTEJAM_ENV"] != DEVELOPMENT:
            raise ConfigError(
                "SECRET_KEY is not set. Set SECRET_KEY to a long random string (it signs sessions and "
                "reset links), or set NOTEJAM_ENV=development for a local run."
            )
        settings["SECRET_KEY"] = "development-only-secret"  # noqa: S105 - refused outside development
    if settings["LOG_LEVEL"] not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
        raise ConfigError(f"LOG_LEVEL must be DEBUG, INFO, WARNING, ERROR or CRITICAL, not {settings['LOG_LEVEL']!r}")
    return settings


def database_url(environ: Mapping[str, str], instance_path: str) -> URL:
    """DB_URI, else the libpq variables (what a Crossplane connection secret maps to), else SQLite."""
    if environ.get("DB_URI"):
        url = make_url(environ["DB_URI"])
        if url.drivername in ("postgres", "postgresql"):  # 'postgres://' is what Heroku-era tools wrote
            url = url.set(drivername="postgresql+psycopg2")
        return url
    if environ.get("PGHOST"):
        return URL.create(
            "postgresql+psycopg2",
            username=environ.get("PGUSER") or None,
            password=environ.get("PGPASSWORD") or None,
            host=environ["PGHOST"],
            port=_int(environ, "PGPORT", 5432),
            database=environ.get("PGDATABASE") or None,
            query=tls_settings(environ),
        )
    return URL.create("sqlite", database=str(Path(instance_path) / "notejam.sqlite"))


def tls_settings(environ: Mapping[str, str]) -> dict[str, str]:
    """libpq's `sslmode` and `sslrootcert`. A mode that verifies the server needs the CA certificates that signed the
    database's certificate: refused at start-up when the file is missing, instead of failing every connection."""
    query = {"sslmode": environ["PGSSLMODE"]} if environ.get("PGSSLMODE") else {}
    if environ.get("PGSSLROOTCERT"):
        query["sslrootcert"] = environ["PGSSLROOTCERT"]
    if query.get("sslmode") in ("verify-ca", "verify-full"):
        root = query.get("sslrootcert")
        if not root or not Path(root).is_file():
            raise ConfigError(
                f"PGSSLMODE={query['sslmode']} needs PGSSLROOTCERT, a readable file of the CA certificates that "
                f"signed the database's certificate (the image carries RDS's: {RDS_CA_BUNDLE}); got {root!r}"
            )
    return query


def public_url(environ: Mapping[str, str]) -> str | None:
    raw = environ.get("PUBLIC_URL", "").strip()
    if not raw:
        return None
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.path not in ("", "/") or parts.query:
        raise ConfigError(f"PUBLIC_URL must be a scheme and host such as https://notejam.example.com, not {raw!r}")
    return f"{parts.scheme}://{parts.netloc}"


def redacted_database_url(url: str) -> str:
    """The database URL with its password masked: the only form of it that may be logged."""
    return make_url(url).render_as_string(hide_password=True)


def prometheus_multiproc_dir(environ: Mapping[str, str] | None = None) -> str | None:
    """Where prometheus_client keeps per-process metric files under gunicorn (None: single process)."""
    environ = os.environ if environ is None else environ
    return environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def probe_port(environ: Mapping[str, str] | None = None) -> int:
    """The port of the Kubernetes probes under gunicorn (notejam.probes): PROBE_PORT, else 8001."""
    environ = os.environ if environ is None else environ
    port = _int(environ, "PROBE_PORT", DEFAULT_PROBE_PORT)
    if not 0 < port < 65536:
        raise ConfigError(f"PROBE_PORT must be a TCP port (1-65535), not {port}")
    return port


def smoke_account(environ: Mapping[str, str] | None = None) -> tuple[str, str]:
    """The smoke test's account (python -m notejam.smoke): SMOKE_EMAIL and SMOKE_PASSWORD, both required."""
    environ = os.environ if environ is None else environ
    email, password = environ.get("SMOKE_EMAIL", "").strip(), environ.get("SMOKE_PASSWORD", "")
    if not email or not password:
        raise ConfigError(
            "SMOKE_EMAIL and SMOKE_PASSWORD must be set: the smoke test signs in as that account "
            "(created on its first run); in the cluster they come from Secret notejam-smoke"
        )
    return email, password


def _int(environ: Mapping[str, str], name: str, default: int) -> int:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, not {raw!r}") from None


def _bool(environ: Mapping[str, str], name: str, default: bool) -> bool:
    raw = environ.get(name)
    if raw is None:
        return default
    if raw.strip().lower() in _TRUE:
        return True
    if raw.strip().lower() in _FALSE:
        return False
    raise ConfigError(f"{name} must be true or false, not {raw!r}")
