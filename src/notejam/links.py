"""Links without asking the router on every page: `url_for` once per worker, endpoint and script root.

`url_for` costs tens of microseconds (the URL map, converters, quoting, the url_defaults hooks), and every page has
the layout's links and a list has two per row. `link` is `url_for` of an endpoint without arguments; `id_url` asks the
router once for the text before and after an id, so a changed route or SCRIPT_NAME is still followed. In a template:

    <a href="{{ link('notes.index') }}">
    {% set note_prefix, note_suffix = id_url('notes.view', 'note_id') %}
    <a href="{{ note_prefix }}{{ note.id }}{{ note_suffix }}">
    <a href="{{ id_url('notes.edit', 'note_id').build(note.id) }}">
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple, TypeVar

from flask import current_app, has_request_context, request, url_for

from notejam.models import MAX_ID

# An id no row has (the route accepts it): what url_for puts there marks where each row's id goes.
_PLACEHOLDER = str(MAX_ID)
# Built links by (script root, endpoint, ...), per app: a handful of entries, fixed by the routes.
CACHE = "notejam.links"
T = TypeVar("T")


def _once(key: tuple[str, ...], build: Callable[[], T]) -> T:
    cache = current_app.extensions.setdefault(CACHE, {})
    key = (request.script_root if has_request_context() else "", *key)
    if key not in cache:
        cache[key] = build()
    return cache[key]  # type: ignore[no-any-return]


def link(endpoint: str) -> str:
    """`url_for(endpoint)` for an endpoint without arguments, built once."""
    return _once(("link", endpoint), lambda: url_for(endpoint))


class IdUrl(NamedTuple):
    prefix: str
    suffix: str

    def build(self, object_id: int) -> str:
        return f"{self.prefix}{object_id:d}{self.suffix}"


def id_url(endpoint: str, key: str) -> IdUrl:
    """The text around the id: `id_url("notes.view", "note_id").build(7) == url_for("notes.view", note_id=7)`."""
    return _once(("id", endpoint, key), lambda: _split_at_id(endpoint, key))


def _split_at_id(endpoint: str, key: str) -> IdUrl:
    url = url_for(endpoint, **{key: MAX_ID})
    if _PLACEHOLDER not in url.partition("?")[0]:  # an argument the route does not take ends up in the query
        raise ValueError(f"{endpoint} does not put {key} in its path")
    prefix, _, suffix = url.rpartition(_PLACEHOLDER)
    return IdUrl(prefix, suffix)
