"""The app reaches its database over TLS and checks whom it talks to (base/config.env: PGSSLMODE=verify-full).

A PostgreSQL server with a certificate for `localhost`, signed by a throwaway CA (trustme), stands in for RDS. The
app's engine is built from base/config.env's TLS settings, with the CA file pointed at that CA instead of the image's
RDS bundle: it connects when the certificate and the host name check out, and refuses a server whose certificate
another CA signed, or whose name is not the one the app dialled, which `sslmode=require` would accept.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from notejam.config import RDS_CA_BUNDLE, ConfigError, load_settings
from notejam.database import make_engine
from tests.conftest import PostgresServer
from tools.repository import REPO_ROOT

INSTANCE = "/nonexistent-instance"


def config_env() -> dict[str, str]:
    lines = (REPO_ROOT / "base" / "config.env").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line.strip() and not line.startswith("#"))


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def tls_postgres(ca: trustme.CA) -> Iterator[PostgresServer]:
    """PostgreSQL answering TLS with a certificate for `localhost` only (not 127.0.0.1)."""
    server = PostgresServer()
    certificate = ca.issue_cert("localhost")
    crt, key = server.root / "server.crt", server.root / "server.key"
    certificate.cert_chain_pems[0].write_to_path(str(crt))
    certificate.private_key_pem.write_to_path(str(key))
    key.chmod(0o600)  # the server refuses a key others can read
    if server.as_root:
        for path in (crt, key):
            shutil.chown(path, user="postgres", group="postgres")
    try:
        server.start("ssl=on", f"ssl_cert_file={crt}", f"ssl_key_file={key}")
        yield server
    finally:
        server.destroy()


def app_environment(server: PostgresServer, host: str, root_cert: Path, **overrides: str) -> dict[str, str]:
    environ = {**config_env(), "SECRET_KEY": "test", "PGHOST": host, "PGPORT": str(server.port), "PGUSER": "postgres"}
    return {**environ, "PGDATABASE": "postgres", "PGSSLROOTCERT": str(root_cert), **overrides}


def tls_of_the_session(environ: dict[str, str]) -> tuple[bool, str]:
    """(ssl, version) of the app engine's connection, as the server sees it."""
    engine = make_engine(load_settings(INSTANCE, environ=environ)["DATABASE_URL"])
    try:
        with engine.connect() as connection:
            row = connection.execute(text("SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()")).one()
            return row.ssl, row.version
    finally:
        engine.dispose()


@pytest.fixture
def ca_file(ca: trustme.CA, tmp_path: Path) -> Path:
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return path


@pytest.fixture
def other_ca_file(tmp_path: Path) -> Path:
    path = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(path))
    return path


def test_the_image_settings_verify_the_server_and_its_name() -> None:
    env = config_env()
    assert env["PGSSLMODE"] == "verify-full"
    assert env["PGSSLROOTCERT"] == RDS_CA_BUNDLE
    assert f" {RDS_CA_BUNDLE}\n" in (REPO_ROOT / "Dockerfile").read_text()


def test_connects_over_tls_to_the_server_the_ca_vouches_for(tls_postgres: PostgresServer, ca_file: Path) -> None:
    ssl, version = tls_of_the_session(app_environment(tls_postgres, "localhost", ca_file))
    assert ssl is True and version.startswith("TLSv1.")


def test_refuses_a_server_whose_certificate_another_ca_signed(
    tls_postgres: PostgresServer, other_ca_file: Path
) -> None:
    with pytest.raises(OperationalError, match="certificate verify failed"):
        tls_of_the_session(app_environment(tls_postgres, "localhost", other_ca_file))


def test_refuses_a_certificate_for_another_name(tls_postgres: PostgresServer, ca_file: Path) -> None:
    with pytest.raises(OperationalError, match=r'does not match host name "127\.0\.0\.1"'):
        tls_of_the_session(app_environment(tls_postgres, "127.0.0.1", ca_file))


def test_the_control_require_talks_to_whoever_answers(tls_postgres: PostgresServer, other_ca_file: Path) -> None:
    """The old setting, PGSSLMODE=require without a CA file: encrypted, but to a server nobody vouched for, under a
    name its certificate does not carry. (With a CA file, libpq verifies the chain even under `require`.)"""
    environ = app_environment(tls_postgres, "127.0.0.1", other_ca_file, PGSSLMODE="require")
    del environ["PGSSLROOTCERT"]
    assert tls_of_the_session(environ)[0] is True


@pytest.mark.parametrize("root_cert", ["", "/nonexistent/ca.pem"])
def test_verifying_without_a_readable_ca_file_refuses_to_start(root_cert: str) -> None:
    environ = {"SECRET_KEY": "test", "PGHOST": "db.example", "PGSSLMODE": "verify-full", "PGSSLROOTCERT": root_cert}
    with pytest.raises(ConfigError, match="PGSSLMODE=verify-full needs PGSSLROOTCERT"):
        load_settings(INSTANCE, environ=environ)
