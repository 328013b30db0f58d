"""Links for many rows at once: `url_for` once per page and endpoint, then plain string output per row.

`url_for` costs tens of microseconds (URL map lookup, converters, quoting), and so does each call of a Python function
from a template; a list of 100 notes made 200 of them per page. `id_url` asks the router once for the text before and
after the id, so a changed route or SCRIPT_NAME is still followed. In a template:

    {% set note_prefix, note_suffix = id_url('notes.view', 'note_id') %}
    <a href="{{ note_prefix }}{{ note.id }}{{ note_suffix }}">
"""

from __future__ import annotations

from typing import NamedTuple

from flask import url_for

from notejam.models import MAX_ID

# An id no row has (the route accepts it): what url_for puts there marks where each row's id goes.
_PLACEHOLDER = str(MAX_ID)


class IdUrl(NamedTuple):
    prefix: str
    suffix: str

    def build(self, object_id: int) -> str:
        return f"{self.prefix}{object_id:d}{self.suffix}"


def id_url(endpoint: str, key: str) -> IdUrl:
    """The text around the id: `id_url("notes.view", "note_id").build(7) == url_for("notes.view", note_id=7)`."""
    url = url_for(endpoint, **{key: MAX_ID})
    if _PLACEHOLDER not in url.partition("?")[0]:  # an argument the route does not take ends up in the query
        raise ValueError(f"{endpoint} does not put {key} in its path")
    prefix, _, suffix = url.rpartition(_PLACEHOLDER)
    return IdUrl(prefix, suffix)
