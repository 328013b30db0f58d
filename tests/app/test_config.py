"""Configuration from the environment: database selection, SECRET_KEY refusal, typed values."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from notejam import create_app
from notejam.config import ConfigError, database_url, load_settings, redacted_database_url
from tools.repository import REPO_ROOT

INSTANCE = "/srv/instance"
BASE = {"SECRET_KEY": "s"}


def settings(**environ: str) -> dict:
    return load_settings(INSTANCE, environ=BASE | environ)


def test_db_uri_wins_and_uses_psycopg2():
    environ = {"DB_URI": "postgresql://u:p@db:5432/notejam", "PGHOST": "ignored"}
    url = database_url(environ, INSTANCE)
    assert url.drivername == "postgresql+psycopg2"
    assert (url.host, url.username, url.password, url.database) == ("db", "u", "p", "notejam")


def test_legacy_postgres_scheme_is_accepted():
    assert database_url({"DB_URI": "postgres://u@db/x"}, INSTANCE).drivername == "postgresql+psycopg2"


def test_libpq_variables_build_the_url():
    environ = {
        "PGHOST": "rds.example",
        "PGPORT": "6432",
        "PGUSER": "notejam",
        "PGPASSWORD": "p@ss:word/with%chars",
        "PGDATABASE": "notejam",
        "PGSSLMODE": "require",
    }
    url = make_url(settings(**environ)["DATABASE_URL"])
    assert (url.host, url.port, url.username, url.database) == ("rds.example", 6432, "notejam", "notejam")
    assert url.password == "p@ss:word/with%chars"  # special characters survive the round trip
    assert url.query == {"sslmode": "require"}


def test_without_database_settings_sqlite_in_the_instance_folder():
    assert settings()["DATABASE_URL"] == f"sqlite:///{INSTANCE}/notejam.sqlite"


def test_secret_key_is_required_in_production():
    with pytest.raises(ConfigError, match="SECRET_KEY is not set"):
        load_settings(INSTANCE, environ={})
    with pytest.raises(ConfigError, match="SECRET_KEY is not set"):
        load_settings(INSTANCE, environ={"NOTEJAM_ENV": "production", "SECRET_KEY": ""})


def test_development_runs_without_secret_key():
    assert load_settings(INSTANCE, environ={"NOTEJAM_ENV": "development"})["SECRET_KEY"]


def test_create_app_refuses_to_start_without_secret_key(monkeypatch):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.delenv("NOTEJAM_ENV", raising=False)
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        create_app()


def test_flask_cli_refuses_to_start_without_secret_key(tmp_path):
    result = subprocess.run(
        [Path(sys.executable).parent / "flask", "--app", "notejam", "db", "current"],
        env={"PYTHONPATH": str(REPO_ROOT / "src"), "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert "SECRET_KEY is not set. Set SECRET_KEY to a long random string" in result.stderr


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"SMTP_PORT": "twenty-five"}, "SMTP_PORT must be a whole number"),
        ({"PGHOST": "db", "PGPORT": "x"}, "PGPORT must be a whole number"),
        ({"SMTP_STARTTLS": "maybe"}, "SMTP_STARTTLS must be true or false"),
        ({"NOTEJAM_ENV": "staging"}, "NOTEJAM_ENV must be"),
        ({"LOG_LEVEL": "loud"}, "LOG_LEVEL must be"),
        ({"PUBLIC_URL": "notejam.example.com"}, "PUBLIC_URL must be a scheme and host"),
        ({"PUBLIC_URL": "https://notejam.example.com/app"}, "PUBLIC_URL must be a scheme and host"),
        ({"PUBLIC_URL": "ftp://notejam.example.com"}, "PUBLIC_URL must be a scheme and host"),
    ],
)
def test_bad_values_are_refused_with_a_message(environ, message):
    with pytest.raises(ConfigError, match=message):
        settings(**environ)


def test_public_url_is_kept_without_a_trailing_slash():
    assert settings(PUBLIC_URL="https://notejam.example.com/")["PUBLIC_URL"] == "https://notejam.example.com"
    assert settings()["PUBLIC_URL"] is None


def test_smtp_settings():
    values = settings(
        SMTP_HOST="smtp.example",
        SMTP_PORT="587",
        SMTP_USERNAME="mailer",
        SMTP_PASSWORD="pw",
        SMTP_STARTTLS="true",
        MAIL_FROM="Notejam <n@example.com>",
    )
    assert (values["SMTP_HOST"], values["SMTP_PORT"], values["SMTP_STARTTLS"]) == ("smtp.example", 587, True)
    assert (values["SMTP_USERNAME"], values["SMTP_PASSWORD"], values["MAIL_FROM"]) == (
        "mailer",
        "pw",
        "Notejam <n@example.com>",
    )


def test_overrides_apply_last():
    assert load_settings(INSTANCE, {"SECRET_KEY": "from-test"}, environ={})["SECRET_KEY"] == "from-test"


def test_redacted_database_url_hides_the_password():
    redacted = redacted_database_url("postgresql+psycopg2://notejam:hunter2@db:5432/notejam")
    assert "hunter2" not in redacted and "notejam:***@db:5432/notejam" in redacted


def test_only_config_module_reads_the_environment():
    package = REPO_ROOT / "src" / "notejam"
    readers = [
        path.name for path in package.rglob("*.py") if "os.environ" in path.read_text() or "getenv" in path.read_text()
    ]
    assert readers == ["config.py"]


def test_probe_port_defaults_to_8001_and_refuses_what_is_not_a_port():
    from notejam.config import probe_port

    assert probe_port({}) == 8001
    assert probe_port({"PROBE_PORT": "9001"}) == 9001
    for bad in ("http", "0", "70000"):
        with pytest.raises(ConfigError, match="PROBE_PORT"):
            probe_port({"PROBE_PORT": bad})


def test_smoke_account_needs_both_credentials():
    from notejam.config import smoke_account

    assert smoke_account({"SMOKE_EMAIL": " smoke@example.com ", "SMOKE_PASSWORD": "pw"}) == ("smoke@example.com", "pw")
    for environ in ({}, {"SMOKE_EMAIL": "smoke@example.com"}, {"SMOKE_PASSWORD": "pw"}):
        with pytest.raises(ConfigError, match="SMOKE_EMAIL and SMOKE_PASSWORD must be set"):
            smoke_account(environ)
