"""The "My pads" sidebar of every signed-in page, as HTML built in plain Python.

In the template, each pad's row cost a loop step, four lookups and four escapes, on every page. Here a row is one
f-string: the link is made of route text and an id (links.id_url), and the pad's name, the only thing a user typed,
is escaped once.
"""

from __future__ import annotations

from collections.abc import Iterable

from markupsafe import Markup, escape

from notejam.links import id_url
from notejam.models import PadRow

NO_PADS = Markup("<li>No pads yet.</li>")


def sidebar_items(pads: Iterable[PadRow]) -> Markup:
    """The sidebar's list items: a link per pad, in the order given, or a line saying there are none."""
    pad_url = id_url("pads.view", "pad_id")
    items = "".join(f'<li><a href="{pad_url.build(pad.id)}">{escape(pad.name)}</a></li>' for pad in pads)
    return Markup(items) if items else NO_PADS  # noqa: S704 - ids, route text and escaped names only
