"""Queries shared by the views: ownership-checked lookups and note ordering."""

from __future__ import annotations

from typing import Any, TypeVar

from flask import abort
from flask_login import current_user
from sqlalchemy import Select, func, select

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


def owned_or_404(model: type[Owned], object_id: int) -> Owned:
    """The signed-in user's object, or 404 for everything else: nobody learns what exists."""
    if not 0 < object_id <= MAX_ID:
        abort(404)
    found = database.session().scalar(select(model).where(model.id == object_id, model.user_id == current_user.id))
    if found is None:
        abort(404)
    return found


def user_pads() -> list[Pad]:
    return list(database.session().scalars(select(Pad).where(Pad.user_id == current_user.id).order_by(Pad.name)))


def notes_query(order: str | None, pad: Pad | None = None) -> Select[tuple[Note]]:
    query = select(Note).where(Note.user_id == current_user.id)
    if pad is not None:
        query = query.where(Note.pad_id == pad.id)
    return query.order_by(*NOTE_ORDERS.get(order or "", NOTE_ORDERS[DEFAULT_NOTE_ORDER]))


def count(query: Select[Any]) -> int:
    return database.session().scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
