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

from typing import NamedTuple

from flask import current_app, has_request_context, request, url_for

from notejam.models import MAX_ID

# An id no row has (the route accepts it): what url_for puts there marks where each row's id goes.
_PLACEHOLDER = str(MAX_ID)
# Each script root's links, per app: a handful of entries, fixed by the routes.
CACHE = "notejam.links"


class IdUrl(NamedTuple):
    prefix: str
    suffix: str

    def build(self, object_id: int) -> str:
        return f"{self.prefix}{object_id:d}{self.suffix}"


class Links:
    """The links of one script root, each asked of the router the first time a page needs it."""

    def __init__(self) -> None:
        self._links: dict[str, str] = {}
        self._id_urls: dict[tuple[str, str], IdUrl] = {}

    def link(self, endpoint: str) -> str:
        """`url_for(endpoint)` for an endpoint without arguments."""
        url = self._links.get(endpoint)
        if url is None:
            url = self._links[endpoint] = url_for(endpoint)
        return url

    def id_url(self, endpoint: str, key: str) -> IdUrl:
        """The text around the id: `id_url("notes.view", "note_id").build(7) == url_for("notes.view", note_id=7)`."""
        url = self._id_urls.get((endpoint, key))
        if url is None:
            url = self._id_urls[endpoint, key] = _split_at_id(endpoint, key)
        return url


def for_request() -> Links:
    """The links of the request's script root (or of none, outside a request). The templates get its `link` and
    `id_url` from the context processor, which looks this up once per page rather than once per link."""
    tables: dict[str, Links] = current_app.extensions.setdefault(CACHE, {})
    root = request.script_root if has_request_context() else ""
    table = tables.get(root)
    if table is None:
        table = tables[root] = Links()
    return table


def link(endpoint: str) -> str:
    """`url_for(endpoint)` for an endpoint without arguments, built once per script root."""
    return for_request().link(endpoint)


def id_url(endpoint: str, key: str) -> IdUrl:
    """The text around the id, asked of the router once per script root (Links.id_url)."""
    return for_request().id_url(endpoint, key)


def _split_at_id(endpoint: str, key: str) -> IdUrl:
    url = url_for(endpoint, **{key: MAX_ID})
    if _PLACEHOLDER not in url.partition("?")[0]:  # an argument the route does not take ends up in the query
        raise ValueError(f"{endpoint} does not put {key} in its path")
    prefix, _, suffix = url.rpartition(_PLACEHOLDER)
    return IdUrl(prefix, suffix)
