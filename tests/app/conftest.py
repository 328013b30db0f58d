"""App fixtures: the same feature tests run against SQLite and the real PostgreSQL."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import delete

from notejam import create_app, database, migrate
from notejam.models import Note, Pad, User
from tests.app.support import Browser, Factory, app_config
from tests.conftest import PostgresServer, SmtpServer


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A migrated database per backend, shared by the session; each test empties it afterwards."""
    if request.param == "sqlite":
        # tmpfs when there is one: SQLite's fsync on every commit would dominate the suite's time.
        directory = Path(tempfile.mkdtemp(dir="/dev/shm" if Path("/dev/shm").is_dir() else None))
        request.addfinalizer(lambda: shutil.rmtree(directory, ignore_errors=True))
        url = f"sqlite:///{directory / 'notejam.sqlite'}"
    else:
        server: PostgresServer = request.getfixturevalue("postgres")
        url = server.create_database("notejam_test")
    engine = database.make_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
    return url


@pytest.fixture(scope="session")
def shared_app(database_url: str, smtp_server: SmtpServer) -> Iterator[Flask]:
    """One app per backend for the session (templates compile once); tests get it emptied."""
    app = create_app(app_config(database_url, smtp_server))
    yield app
    database.engine(app).dispose()


@pytest.fixture
def app(shared_app: Flask) -> Iterator[Flask]:
    yield shared_app
    with shared_app.app_context():
        session = database.session()
        for model in (Note, Pad, User):
            session.execute(delete(model))
        session.commit()


@pytest.fixture
def browser(app: Flask) -> Browser:
    return Browser(app.test_client())


@pytest.fixture
def factory(app: Flask) -> Factory:
    return Factory(app)


@pytest.fixture
def alice(factory: Factory) -> User:
    return factory.user("alice@example.com")


@pytest.fixture
def signed_in(browser: Browser, alice: User) -> Browser:
    browser.signin(alice.email)
    return browser
