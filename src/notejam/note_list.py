"""The rows of the list pages (all notes, or one pad's), ready to print.

A list has a row per note, and per row a template pays for every `{{ }}`: a context lookup, an attribute lookup, a
filter call, an escape. So each row's values are computed here, once, in plain Python, as HTML: the links (links.id_url:
ids and route text), the names (escaped here, the only fields a user typed) and the smart date. The template prints
the five fields of a row as they are.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, NamedTuple

from markupsafe import escape

from notejam.dates import smart_date
from notejam.links import id_url


class NoteListRow(NamedTuple):
    """One row, every field ready to print into HTML."""

    url: str
    name: str  # escaped
    pad_url: str | None  # None: the note is in no pad
    pad_name: str | None  # escaped
    updated: str  # the smart date of updated_at


def note_list_rows(notes: Iterable[Any], now: datetime) -> list[NoteListRow]:
    """`notes` are queries.note_rows' rows (id, name, updated_at, pad_id, pad_name); `now` dates them all alike."""
    note_url, pad_url = id_url("notes.view", "note_id"), id_url("pads.view", "pad_id")
    return [
        NoteListRow(
            note_url.build(note_id),
            escape(name),
            None if pad_id is None else pad_url.build(pad_id),
            None if pad_name is None else escape(pad_name),
            smart_date(updated_at, now),
        )
        for note_id, name, updated_at, pad_id, pad_name in notes
    ]
