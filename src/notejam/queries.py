"""Queries shared by the views: ownership-checked lookups and note ordering.

The statements the busiest pages run are built once, at import, with bound parameters: building a select and its SQL
cache key costs about as much as running it, and a statement object remembers its cache key. What the pages only show
is read as plain rows on the request's connection (`_rows`), not through the ORM session's execute, whose ORM steps
(compile state, loading objects) cost more than the query itself does. On PostgreSQL those statements are also
prepared once per connection (notejam.prepared), so the server does not parse and plan them on every page either.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from flask import abort, g, request
from flask_login import current_user
from sqlalchemy import Select, bindparam, case, func, select

from notejam import database
from notejam.models import MAX_ID, Note, NoteRow, Pad, PadRow, SignedInUser, User
from notejam.prepared import Prepared

# What every page reads selects table columns, not ORM attributes: the rows come straight from the driver, without
# the ORM's work per row and per object (a list has a row per note).
USERS, PADS, NOTES = User.__table__.c, Pad.__table__.c, Note.__table__.c

# ?order= values; anything else (or nothing) means the default, most recently edited first.
# Names sort as people read them, "apple" before "Banana", whatever the database's collation.
NOTE_ORDERS: dict[str, tuple[Any, ...]] = {
    "name": (func.lower(NOTES.name).asc(), NOTES.name.asc(), NOTES.id.asc()),
    "-name": (func.lower(NOTES.name).desc(), NOTES.name.desc(), NOTES.id.desc()),
    "updated_at": (NOTES.updated_at.asc(), NOTES.id.asc()),
    "-updated_at": (NOTES.updated_at.desc(), NOTES.id.desc()),
}
DEFAULT_NOTE_ORDER = "-updated_at"

_OWNED_NOTE = select(Note).where(Note.id == bindparam("id"), Note.user_id == bindparam("user_id"))
# Every signed-in page shows the user's pads (the sidebar): they come with the user, in the same query.
_SIGNED_IN_USER = Prepared(
    "notejam_signed_in_user",
    select(USERS.id, USERS.email, USERS.password_hash, PADS.id.label("pad_id"), PADS.name.label("pad_name"))
    .select_from(User.__table__.outerjoin(Pad.__table__, PADS.user_id == USERS.id))
    .where(USERS.id == bindparam("id"))
    .order_by(PADS.name, PADS.id),
)
# The note page reads its note with the user, in the same statement: the note's columns on every row (one per pad),
# its text, which may be long, only on the first.
NOTE_PAGE = "notes.view"
_SIGNED_IN_USER_AND_NOTE = Prepared(
    "notejam_signed_in_user_and_note",
    _SIGNED_IN_USER.statement.add_columns(
        NOTES.id.label("note_id"),
        NOTES.pad_id.label("note_pad_id"),
        NOTES.name.label("note_name"),
        NOTES.updated_at.label("note_updated_at"),
        case((func.row_number().over(order_by=(PADS.name, PADS.id)) == 1, NOTES.text)).label("note_text"),
    ).outerjoin(Note.__table__, (NOTES.id == bindparam("note_id")) & (NOTES.user_id == USERS.id)),
)
# Where signed_in_user keeps the note it read for owned_note_row_or_404: (note id, the row or None).
_NOTE_READ_WITH_USER = "_notejam_note_read_with_user"
_ALL_NOTE_ROWS = (
    select(NOTES.id, NOTES.name, NOTES.updated_at, NOTES.pad_id, PADS.name.label("pad_name"))
    .select_from(Note.__table__.outerjoin(Pad.__table__, NOTES.pad_id == PADS.id))
    .where(NOTES.user_id == bindparam("user_id"))
)
_PAD_NOTE_ROWS = _ALL_NOTE_ROWS.where(NOTES.pad_id == bindparam("pad_id"))


def _note_list_name(order: str, in_pad: bool) -> str:
    """The prepared statement's name, e.g. notejam_pad_notes_by_name_desc for one pad's notes, ?order=-name."""
    direction = "_desc" if order.startswith("-") else ""
    return f"notejam_{'pad' if in_pad else 'all'}_notes_by_{order.removeprefix('-')}{direction}"


# One statement per ?order= and list (all notes, or one pad's).
_NOTE_LISTS = {
    (order, in_pad): Prepared(
        _note_list_name(order, in_pad), (_PAD_NOTE_ROWS if in_pad else _ALL_NOTE_ROWS).order_by(*columns)
    )
    for order, columns in NOTE_ORDERS.items()
    for in_pad in (False, True)
}


def _rows(statement: Prepared, parameters: dict[str, Any]) -> Sequence[Any]:
    """A statement of table columns on the request's connection (database.connection: the session's while a form
    changes data, so in its transaction and seeing what it wrote), prepared once per connection while reading."""
    return statement.rows(database.connection(), parameters)


def signed_in_user(user_id: int) -> SignedInUser | None:
    """The user with their pads, for auth.load_user: one statement on every signed-in request. On the note page the
    same statement reads the note, which owned_note_row_or_404 then takes instead of asking again."""
    note_id = _note_page_note_id()
    if note_id is None:
        rows = _rows(_SIGNED_IN_USER, {"id": user_id})
    else:
        rows = _rows(_SIGNED_IN_USER_AND_NOTE, {"id": user_id, "note_id": note_id})
        first = rows[0] if rows else None
        note = None
        if first is not None and first.note_id is not None:
            note = NoteRow(first.note_id, first.note_pad_id, first.note_name, first.note_updated_at, first.note_text)
        setattr(g, _NOTE_READ_WITH_USER, (note_id, note))
    if not rows:
        return None
    pads = tuple(PadRow(row.pad_id, row.pad_name) for row in rows if row.pad_id is not None)
    return SignedInUser(rows[0].id, rows[0].email, rows[0].password_hash, pads)


def _note_page_note_id() -> int | None:
    """The id of the note the request's page shows, if it is the note page and the id can exist."""
    if request.endpoint != NOTE_PAGE or request.view_args is None:
        return None
    note_id = request.view_args.get("note_id")
    return note_id if isinstance(note_id, int) and 0 < note_id <= MAX_ID else None


def user_pads() -> list[PadRow] | tuple[PadRow, ...]:
    """The signed-in user's pads, by name: read with the user, no query of their own."""
    return current_user.pads


def user_pad(pad_id: int | None) -> PadRow | None:
    """The signed-in user's pad with this id; None for any other id."""
    return next((pad for pad in user_pads() if pad.id == pad_id), None)


def owned_pad_or_404(pad_id: int) -> PadRow:
    """The signed-in user's pad, or 404 for every other id: nobody learns what exists."""
    pad = user_pad(pad_id)
    if pad is None:
        abort(404)
    return pad


def owned_note_or_404(note_id: int) -> Note:
    """The signed-in user's note, to change or delete, or 404 for everything else: nobody learns what exists."""
    if not 0 < note_id <= MAX_ID:
        abort(404)
    note = database.session().scalar(_OWNED_NOTE, {"id": note_id, "user_id": current_user.id})
    if note is None:
        abort(404)
    return note


def owned_note_row_or_404(note_id: int) -> NoteRow:
    """The signed-in user's note for the note page (models.NoteRow), or 404 like owned_note_or_404: the note that
    signed_in_user read with the user, in the same statement, on that page (NOTE_PAGE)."""
    if not 0 < note_id <= MAX_ID:
        abort(404)
    read_id, note = g.pop(_NOTE_READ_WITH_USER, (None, None))
    if read_id != note_id:
        raise RuntimeError(f"note {note_id} was not read with the signed-in user: only {NOTE_PAGE} reads it so")
    if note is None:
        abort(404)
    return note


def note_rows(order: str | None, pad: PadRow | None = None) -> Sequence[Any]:
    """The list pages' notes as plain rows (id, name, updated_at, pad_id, pad_name), pads joined in the same query:
    one query whatever the number of notes and pads, and no ORM objects to build per row."""
    statement = _NOTE_LISTS[order if order in NOTE_ORDERS else DEFAULT_NOTE_ORDER, pad is not None]
    parameters = {"user_id": current_user.id} | ({"pad_id": pad.id} if pad is not None else {})
    return _rows(statement, parameters)


def notes_query(order: str | None, pad: PadRow | None = None) -> Select[tuple[Note]]:
    query = select(Note).where(Note.user_id == current_user.id)
    if pad is not None:
        query = query.where(Note.pad_id == pad.id)
    return query.order_by(*note_order(order))


def note_order(order: str | None) -> tuple[Any, ...]:
    return NOTE_ORDERS.get(order or "", NOTE_ORDERS[DEFAULT_NOTE_ORDER])


def count(query: Select[Any]) -> int:
    return database.session().scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
