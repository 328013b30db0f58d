"""The post-deploy smoke test leaves nothing behind: one account, created on its first run only, and no note.
Against gunicorn (the repository's config) on the real PostgreSQL, run as the PostSync Job runs it."""

from __future__ import annotations

import subprocess
import sys

import psycopg2
import pytest

from notejam import smoke
from tests.servers import Served, app_env, gunicorn

ACCOUNT = {"SMOKE_EMAIL": "smoke@notejam.example", "SMOKE_PASSWORD": "a long smoke test password"}


@pytest.fixture(scope="module")
def served(postgres, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("smoke")
    env = app_env(tmp, DB_URI=postgres.create_database("notejam_smoke"))
    with gunicorn(tmp, env, workers=2) as server:
        yield server


@pytest.fixture
def db(served, postgres):
    connection = psycopg2.connect(host="127.0.0.1", port=postgres.port, user="postgres", dbname="notejam_smoke")
    connection.autocommit = True
    yield connection
    connection.close()


def counts(db) -> tuple[int, int]:
    with db.cursor() as cursor:
        cursor.execute("SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM notes)")
        return cursor.fetchone()


def run_smoke(served: Served, **account: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "notejam.smoke", "--base-url", served.base],
        env=app_env(served.tmp, **(account or ACCOUNT)),
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def test_two_runs_leave_the_user_and_note_counts_unchanged(served, db):
    users, notes = counts(db)
    first = run_smoke(served)
    assert first.returncode == 0, first.stderr
    assert counts(db) == (users + 1, notes)  # the account, created once; its note is gone
    second = run_smoke(served)
    assert second.returncode == 0, second.stderr
    assert counts(db) == (users + 1, notes)
    assert f"ok: created the smoke account {ACCOUNT['SMOKE_EMAIL']}" in first.stdout
    assert "created the smoke account" not in second.stdout
    for output in (first.stdout, second.stdout):
        assert f"ok: signed in as {ACCOUNT['SMOKE_EMAIL']}" in output
        assert "ok: read it back" in output and "ok: deleted it" in output


def test_a_note_left_by_a_run_that_died_is_deleted_by_the_next(served, db):
    assert run_smoke(served).returncode == 0  # the account exists
    users, notes = counts(db)
    session = smoke.Session(served.base, timeout=30)
    assert smoke.sign_in(session, ACCOUNT["SMOKE_EMAIL"], ACCOUNT["SMOKE_PASSWORD"])
    form = {"name": f"{smoke.NOTE_PREFIX} from a killed pod", "text": "never deleted", "pad": ""}
    assert session.post_form("/notes/create/", form).status == 302
    assert counts(db) == (users, notes + 1)
    result = run_smoke(served)
    assert result.returncode == 0, result.stderr
    assert "left by an earlier run" in result.stdout
    assert counts(db) == (users, notes)


def test_a_password_that_does_not_match_the_account_fails_clearly(served, db):
    assert run_smoke(served).returncode == 0
    users, notes = counts(db)
    result = run_smoke(served, SMOKE_EMAIL=ACCOUNT["SMOKE_EMAIL"], SMOKE_PASSWORD="rotated in one place only")
    assert result.returncode == 1
    assert "exists but does not take the password of Secret notejam-smoke" in result.stderr
    assert counts(db) == (users, notes)


def test_missing_credentials_are_refused_before_anything_is_sent(served):
    result = run_smoke(served, SMOKE_EMAIL="", SMOKE_PASSWORD="")
    assert result.returncode == 2
    assert "SMOKE_EMAIL and SMOKE_PASSWORD must be set" in result.stderr
