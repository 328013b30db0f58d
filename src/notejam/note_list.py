"""The rows of the list pages (all notes, or one pad's), ready to print.

A list has a row per note, and per row a template pays for every `{{ }}`: a context lookup, an attribute lookup, a
filter call, an escape. So each row's values are computed here, once, in plain Python: the links (`url_for` once per
page, links.id_url), the pad's name and the smart date. The template prints five fields a row.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, NamedTuple

from notejam.dates import smart_date
from notejam.links import id_url


class NoteListRow(NamedTuple):
    url: str
    name: str
    pad_url: str | None  # None: the note is in no pad
    pad_name: str | None
    updated: str  # the smart date of updated_at


def note_list_rows(notes: Iterable[Any], now: datetime) -> list[NoteListRow]:
    """`notes` are queries.note_rows' rows (id, name, updated_at, pad_id, pad_name); `now` dates them all alike."""
    note_url, pad_url = id_url("notes.view", "note_id"), id_url("pads.view", "pad_id")
    return [
        NoteListRow(
            note_url.build(note_id),
            name,
            None if pad_id is None else pad_url.build(pad_id),
            pad_name,
            smart_date(updated_at, now),
        )
        for note_id, name, updated_at, pad_id, pad_name in notes
    ]
