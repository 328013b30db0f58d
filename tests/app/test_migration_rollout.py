"""A release with a migration rolls out without downtime: the migration runs first, and the pods of the release
before it stay ready and serve every page on the newer schema (docs/migrations.md). On PostgreSQL, as in prod.

The newer release is played by a test-only migration one revision past this code's head
(tests/app/migrations_ahead/), applied through an extra Alembic version location."""

from __future__ import annotations

import os
import re
from pathlib import Path

import psycopg2
import pytest
from alembic import command
from sqlalchemy import select

from notejam import create_app, database, mail, migrate
from notejam.models import Note, User
from tests.app.support import PASSWORD, Browser, app_config
from tests.servers import app_env, flask_db

AHEAD = Path(__file__).parent / "migrations_ahead"
NEXT_RELEASE = "next_release_expand"


@pytest.fixture
def migrated_ahead(postgres) -> str:
    """A database migrated by the next release: this code's head, then one revision more."""
    url = postgres.create_database(f"notejam_ahead_{id(object())}")
    engine = database.make_engine(url)
    try:
        config = migrate.alembic_config(engine)
        config.set_main_option("path_separator", "os")
        config.set_main_option(
            "version_locations", os.pathsep.join(map(str, (migrate.MIGRATIONS_DIR / "versions", AHEAD)))
        )
        command.upgrade(config, "heads")
        assert migrate.current_revisions(engine) == {NEXT_RELEASE}
    finally:
        engine.dispose()
    return url


def test_the_test_migration_is_one_revision_past_the_code():
    newer = migrate.code_revisions(extra_version_locations=[AHEAD])
    code = migrate.code_revisions()
    assert newer.heads == {NEXT_RELEASE} and newer.known == code.known | {NEXT_RELEASE}


def test_old_code_is_ready_and_serves_every_page_on_a_database_ahead(migrated_ahead, smtp_server, mailbox):
    app = create_app(app_config(migrated_ahead, smtp_server))
    try:
        client = app.test_client()
        ready = client.get("/readyz")
        assert ready.status_code == 200, ready.json
        assert ready.json == {"status": "ok", "database": "ok", "migrations": "ahead"}
        walk_every_page(app, Browser(client))
    finally:
        database.engine(app).dispose()


def ok(response, status: int = 200) -> str:
    body = response.get_data(as_text=True)
    assert response.status_code == status, f"{response.request.method} {response.request.path}: {body[:500]}"
    return body


def walk_every_page(app, browser: Browser) -> None:
    """Every route of the app, as a user goes through them: forms shown, then submitted."""
    email = "ahead@example.com"
    for path in ("/healthz", "/metrics", "/signup/", "/signin/", "/forgot-password/"):
        ok(browser.get(path))
    ok(browser.post("/signup/", {"email": email, "password": PASSWORD, "repeat_password": PASSWORD}), 302)
    browser.signin(email)
    ok(browser.get("/"))
    ok(browser.get("/pads/create/"))
    created = ok(browser.post("/pads/create/", {"name": "Work"}), 302)
    pad = re.search(r"/pads/(\d+)/", browser.get("/").get_data(as_text=True) + created).group(1)
    ok(browser.get(f"/pads/{pad}/"))
    ok(browser.get(f"/pads/{pad}/edit/"))
    ok(browser.post(f"/pads/{pad}/edit/", {"name": "Work, renamed"}), 302)
    ok(browser.get("/notes/create/"))
    ok(browser.post("/notes/create/", {"name": "Plan", "text": "Roll out", "pad": pad}), 302)
    with app.app_context():
        note = database.session().scalar(select(Note.id).where(Note.name == "Plan"))
    with psycopg2.connect(str(database.engine(app).url.set(drivername="postgresql"))) as connection:
        # The newer release tags the note; the old code's delete must cascade through it.
        connection.cursor().execute("INSERT INTO note_tags (note_id, tag) VALUES (%s, 'rollout')", (note,))
    assert "Plan" in ok(browser.get(f"/pads/{pad}/"))
    for order in ("name", "-name", "updated_at", "-updated_at"):
        assert "Plan" in ok(browser.get(f"/?order={order}"))
    assert "Roll out" in ok(browser.get(f"/notes/{note}/"))
    ok(browser.get(f"/notes/{note}/edit/"))
    ok(browser.post(f"/notes/{note}/edit/", {"name": "Plan", "text": "Rolled out", "pad": pad}), 302)
    ok(browser.get(f"/notes/{note}/delete/"))
    ok(browser.post(f"/notes/{note}/delete/"), 302)
    ok(browser.get(f"/notes/{note}/"), 404)
    ok(browser.get(f"/pads/{pad}/delete/"))
    ok(browser.post(f"/pads/{pad}/delete/"), 302)
    ok(browser.get("/settings/"))
    new_password = PASSWORD + " 2"
    settings = {"old_password": PASSWORD, "new_password": new_password, "repeat_password": new_password}
    ok(browser.post("/settings/", settings), 302)
    ok(browser.post("/forgot-password/", {"email": email}), 302)
    with app.app_context():
        user = database.session().scalar(select(User).where(User.email == email))
        token = mail.make_reset_token(app.config["SECRET_KEY"], user)
    ok(browser.get(f"/reset-password/{token}/"))
    reset = {"new_password": PASSWORD, "repeat_password": PASSWORD}
    ok(browser.post(f"/reset-password/{token}/", reset), 302)
    browser.signin(email)
    ok(browser.get("/signout/"))
    ok(browser.post("/signout/"), 302)


def test_a_database_behind_the_code_is_refused(postgres, smtp_server, monkeypatch):
    """The newer release's pods against a database still at this code's head: not ready, no traffic."""
    url = postgres.create_database("notejam_behind")
    engine = database.make_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
    newer_code = migrate.code_revisions(extra_version_locations=[AHEAD])
    monkeypatch.setattr(migrate, "code_revisions", lambda: newer_code)
    app = create_app(app_config(url, smtp_server))
    try:
        response = app.test_client().get("/readyz")
        assert response.status_code == 503
        assert response.json == {"status": "unavailable", "database": "ok", "migrations": "behind head"}
    finally:
        database.engine(app).dispose()


@pytest.mark.parametrize(
    ("current", "state"),
    [
        (set(), "behind head"),
        ({"0001"}, "behind head"),  # known, older than the head
        ({"0002"}, "head"),
        ({"0003"}, "ahead"),  # unknown: newer code migrated there
        ({"0002", "0003"}, "ahead"),
        ({"0001", "0003"}, "behind head"),
    ],
)
def test_schema_state(current, state):
    code = migrate.CodeRevisions(heads=frozenset({"0002"}), known=frozenset({"0001", "0002"}))
    assert migrate.schema_state(current, code) == state


def test_a_rollback_migration_job_succeeds_on_a_database_ahead(migrated_ahead, tmp_path):
    """After a release with a migration, the rollback's Sync hook (`flask db upgrade` of the older code) must not
    fail on the revision it does not know, or the rollback never reaches the Deployment."""
    env = app_env(tmp_path, DB_URI=migrated_ahead)
    result = flask_db(env, "upgrade")
    assert result.returncode == 0, result.stderr
    assert f"Database is at {NEXT_RELEASE}, ahead of this code: nothing to do" in result.stdout
    assert flask_db(env, "current").stdout.strip() == f"{NEXT_RELEASE} (ahead)"
