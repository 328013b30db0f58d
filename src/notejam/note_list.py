"""The rows of the list pages (all notes, or one pad's), as HTML built in plain Python.

A list has a row per note, and per row a template pays for every `{{ }}`: a context lookup, an attribute lookup, a
filter call, an escape. So each row is one f-string here: the links are made of ids and route text (links.id_url),
the note's name, the only field of the row a user typed, is escaped once, the pad's cell is made once per pad (a
list of 100 notes in 5 pads has 5 different ones), and the dates are dated against one `now` (dates.SmartDates). Not
a macro in the list's template either: a macro holds the template's context in a reference cycle, and with it every
row, until Python's cycle collector finds them (tests/app/test_reference_cycles.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from markupsafe import Markup, escape

from notejam.dates import SmartDates
from notejam.links import id_url


def note_list_items(notes: Iterable[Any], now: datetime, pad_column: bool) -> Markup:
    """The table's rows for queries.note_rows' rows (id, name, updated_at, pad_id, pad_name): the note's link, its
    pad's link (`pad_column`: on the all-notes page) and its smart date, `now` dating them all alike."""
    (note_prefix, note_suffix), pad_url = id_url("notes.view", "note_id"), id_url("pads.view", "pad_id")
    smart_date = SmartDates(now)
    pad_cells: dict[int | None, str] = {}
    rows = []
    for note_id, name, updated_at, pad_id, pad_name in notes:
        pad_cell = ""
        if pad_column:
            pad_cell = pad_cells.get(pad_id, "")
            if not pad_cell:
                pad = "No pad" if pad_id is None else f'<a href="{pad_url.build(pad_id)}">{escape(pad_name)}</a>'
                pad_cell = pad_cells[pad_id] = f"\n          <td>{pad}</td>"
        rows.append(
            f'\n        <tr>\n          <td><a href="{note_prefix}{note_id:d}{note_suffix}">{escape(name)}</a></td>'
            f"{pad_cell}\n          <td>{smart_date(updated_at)}</td>\n        </tr>"
        )
    return Markup("".join(rows))  # noqa: S704 - ids, route text, dates and escaped names only
