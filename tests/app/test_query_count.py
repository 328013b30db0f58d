"""The pages people open most run a fixed number of SQL queries, however many notes and pads a user has.

Counted by bench.query_count.counted_statements: on PostgreSQL what psycopg2 sends (notejam.prepared runs the pages'
statements on the driver, without SQLAlchemy), on SQLite what SQLAlchemy sends.
Before the eager loading, the all-notes page loaded each note's pad lazily: one more query per distinct pad.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from flask import Flask
from sqlalchemy import event

from bench.query_count import counted_statements
from notejam import database
from notejam.models import Note, Pad, User
from tests.app.support import Browser, page_text


def add_notes_and_pads(app: Flask, user: User, pads: int, notes_per_pad: int, loose_notes: int) -> tuple[int, int]:
    """`pads` pads of `notes_per_pad` notes each plus `loose_notes` without a pad: (a pad's id, a note's id)."""
    with app.app_context():
        session = database.session()
        made = [Pad(user_id=user.id, name=f"Pad {number}") for number in range(pads)]
        session.add_all(made)
        session.flush()
        notes = [
            Note(user_id=user.id, pad_id=pad.id, name=f"{pad.name} note {number}", text="text")
            for pad in made
            for number in range(notes_per_pad)
        ]
        notes += [
            Note(user_id=user.id, pad_id=None, name=f"Loose {number}", text="text") for number in range(loose_notes)
        ]
        session.add_all(notes)
        session.commit()
        return made[0].id, notes[0].id


def queries_per_page(app: Flask, browser: Browser, pad_id: int, note_id: int, order: str | None) -> dict[str, int]:
    query = {"order": order} if order else None
    counts = {}
    for page, url in (("all notes", "/"), ("pad", f"/pads/{pad_id}/"), ("note", f"/notes/{note_id}/")):
        with counted_statements(database.engine(app)) as statements:
            response = browser.get(url, query_string=query if page != "note" else None)
        assert response.status_code == 200, url
        counts[page] = len(statements)
    return counts


@pytest.mark.parametrize("order", [None, "name", "-updated_at"])
def test_query_count_stays_the_same_with_ten_times_the_notes_and_pads(app, signed_in, factory, alice, order):
    pad_id, note_id = add_notes_and_pads(app, alice, pads=5, notes_per_pad=20, loose_notes=0)
    add_notes_and_pads(app, factory.user("bob@example.com"), pads=2, notes_per_pad=2, loose_notes=1)
    small = queries_per_page(app, signed_in, pad_id, note_id, order)
    assert "All notes (100)" in page_text(signed_in.get("/"))

    # Ten times the notes and the pads, some notes without a pad.
    add_notes_and_pads(app, alice, pads=45, notes_per_pad=19, loose_notes=45)
    large = queries_per_page(app, signed_in, pad_id, note_id, order)
    assert "All notes (1000)" in page_text(signed_in.get("/"))

    assert large == small, f"queries per page grew with the data: {small} -> {large}"
    # The user with the sidebar's pads (the pad page finds its pad there, the note page its note's pad), then the
    # notes with their pads' names joined in; the note page reads its note in the user's statement.
    assert small == {"all notes": 2, "pad": 2, "note": 1}


@contextmanager
def connections_opened(app: Flask) -> Iterator[list[object]]:
    """The connections the app's engine hands out inside the block (its `engine_connect` event)."""
    opened: list[object] = []
    engine, record = database.engine(app), opened.append  # one bound method: event.remove matches by identity
    event.listen(engine, "engine_connect", record)
    try:
        yield opened
    finally:
        event.remove(engine, "engine_connect", record)


def test_the_pages_that_only_read_use_one_connection_and_no_orm_session(app, signed_in, alice, monkeypatch):
    pad_id, note_id = add_notes_and_pads(app, alice, pads=2, notes_per_pad=2, loose_notes=1)

    def no_session() -> None:
        raise AssertionError("a page that only reads asked for the ORM session")

    monkeypatch.setattr(database, "session", no_session)
    with connections_opened(app) as checkouts:
        for url in ("/", f"/pads/{pad_id}/", f"/notes/{note_id}/"):
            checkouts.clear()
            assert signed_in.get(url).status_code == 200, url
            assert len(checkouts) == 1, url


def test_a_get_that_needs_the_orm_shares_the_request_connection(app, signed_in, alice):
    _, note_id = add_notes_and_pads(app, alice, pads=1, notes_per_pad=1, loose_notes=0)
    with connections_opened(app) as checkouts:
        response = signed_in.get(f"/notes/{note_id}/edit/")  # the user as rows, the note as an ORM object
    assert response.status_code == 200 and len(checkouts) == 1
