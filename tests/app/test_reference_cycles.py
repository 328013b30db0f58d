"""What a page builds is freed when the page is sent, not left to Python's cycle collector.

Objects in a reference cycle outlive their request until the collector finds them, and the collector walks every
one of them: a list page whose rows sat in a cycle (its template's context, held by a macro defined in that
template) cost a collection about every other request, in a worker, with all hundred rows in it. Counted here with
the collector's own bookkeeping: collect, serve the page a number of times with the collector off, and count what
is unreachable and was kept only by cycles.
"""

from __future__ import annotations

import gc
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from jinja2.runtime import Context
from markupsafe import Markup

from tests.app.test_query_count import add_notes_and_pads

REQUESTS = 20


@contextmanager
def collector_off() -> Iterator[None]:
    """The cycle collector off, older garbage collected, and what a collection finds from here on kept in gc.garbage
    to be counted; all as it was afterwards."""
    enabled = gc.isenabled()
    gc.disable()
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        yield
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        if enabled:
            gc.enable()


def cyclic_garbage(get, url: str) -> Counter[str]:
    """What `REQUESTS` requests for `url` left that only the cycle collector could free, by type."""
    assert get(url).status_code == 200, url  # the first request compiles templates and fills caches
    with collector_off():
        for _ in range(REQUESTS):
            assert get(url).status_code == 200, url
        gc.collect()
        return Counter(type(item).__qualname__ for item in gc.garbage)


@pytest.mark.parametrize("page", ["all notes", "pad", "note"])
def test_the_busiest_pages_leave_no_template_context_in_a_cycle(app, signed_in, alice, page):
    pad_id, note_id = add_notes_and_pads(app, alice, pads=2, notes_per_pad=10, loose_notes=1)
    url = {"all notes": "/", "pad": f"/pads/{pad_id}/", "note": f"/notes/{note_id}/"}[page]
    garbage = cyclic_garbage(signed_in.get, url)
    # Werkzeug's router leaves a small cycle per request (a recursive closure in its matcher): not ours, a few
    # objects. A template context in a cycle is ours, and so is HTML (the rows, the names) that one holds.
    assert garbage[Context.__qualname__] == 0, garbage.most_common(12)
    assert garbage[Markup.__qualname__] == 0, garbage.most_common(12)
