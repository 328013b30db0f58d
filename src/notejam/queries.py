"""Queries shared by the views: ownership-checked lookups and note ordering.

The statements the busiest pages run are built once, at import, with bound parameters: building a select and its SQL
cache key costs about as much as running it, and a statement object remembers its cache key.
"""

from __future__ import annotations

from typing import Any, TypeVar

from flask import abort
from flask_login import current_user
from sqlalchemy import Row, Select, bindparam, func, select
from sqlalchemy.orm import joinedload

from notejam import database
from notejam.models import MAX_ID, Note, Pad

Owned = TypeVar("Owned", Note, Pad)

# ?order= values; anything else (or nothing) means the default, most recently edited first.
# Names sort as people read them, "apple" before "Banana", whatever the database's collation.
NOTE_ORDERS: dict[str, tuple[Any, ...]] = {
    "name": (func.lower(Note.name).asc(), Note.name.asc(), Note.id.asc()),
    "-name": (func.lower(Note.name).desc(), Note.name.desc(), Note.id.desc()),
    "updated_at": (Note.updated_at.asc(), Note.id.asc()),
    "-updated_at": (Note.updated_at.desc(), Note.id.desc()),
}
DEFAULT_NOTE_ORDER = "-updated_at"

_OWNED = {
    (model, False): select(model).where(model.id == bindparam("id"), model.user_id == bindparam("user_id"))
    for model in (Note, Pad)
}
_OWNED[Note, True] = _OWNED[Note, False].options(joinedload(Note.pad))
_USER_PADS = select(Pad.id, Pad.name).where(Pad.user_id == bindparam("user_id")).order_by(Pad.name)
_NOTE_ROWS = (
    select(Note.id, Note.name, Note.updated_at, Note.pad_id, Pad.name.label("pad_name"))
    .outerjoin(Pad, Note.pad_id == Pad.id)
    .where(Note.user_id == bindparam("user_id"))
)
# One statement per ?order= and list (all notes, or one pad's).
_NOTE_LISTS = {
    (order, in_pad): (_NOTE_ROWS.where(Note.pad_id == bindparam("pad_id")) if in_pad else _NOTE_ROWS).order_by(*columns)
    for order, columns in NOTE_ORDERS.items()
    for in_pad in (False, True)
}


def owned_or_404(model: type[Owned], object_id: int, *, with_pad: bool = False) -> Owned:
    """The signed-in user's object, or 404 for everything else: nobody learns what exists.
    `with_pad` (notes only) loads the note's pad in the same query."""
    if not 0 < object_id <= MAX_ID:
        abort(404)
    found = database.session().scalar(_OWNED[model, with_pad], {"id": object_id, "user_id": current_user.id})
    if found is None:
        abort(404)
    return found


def user_pads() -> list[Row[tuple[int, str]]]:
    """The signed-in user's pads as (id, name) rows: the sidebar and the pad choice need nothing else."""
    return list(database.session().execute(_USER_PADS, {"user_id": current_user.id}))


def note_rows(order: str | None, pad: Pad | None = None) -> list[Row[Any]]:
    """The list pages' notes as plain rows (id, name, updated_at, pad_id, pad_name), pads joined in the same query:
    one query whatever the number of notes and pads, and no ORM objects to build per row."""
    statement = _NOTE_LISTS[order if order in NOTE_ORDERS else DEFAULT_NOTE_ORDER, pad is not None]
    parameters = {"user_id": current_user.id} | ({"pad_id": pad.id} if pad is not None else {})
    return list(database.session().execute(statement, parameters))


def notes_query(order: str | None, pad: Pad | None = None) -> Select[tuple[Note]]:
    query = select(Note).where(Note.user_id == current_user.id)
    if pad is not None:
        query = query.where(Note.pad_id == pad.id)
    return query.order_by(*note_order(order))


def note_order(order: str | None) -> tuple[Any, ...]:
    return NOTE_ORDERS.get(order or "", NOTE_ORDERS[DEFAULT_NOTE_ORDER])


def count(query: Select[Any]) -> int:
    return database.session().scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
