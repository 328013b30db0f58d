"""links.id_url: the list pages' per-row links are exactly what url_for builds."""

from __future__ import annotations

import pytest

from notejam.links import id_url


@pytest.mark.parametrize("script_root", ["", "/notejam"])
def test_id_url_matches_url_for_for_every_id(app, script_root):
    from flask import url_for

    with app.test_request_context("/", base_url=f"http://localhost{script_root}"):
        note_url, pad_url = id_url("notes.view", "note_id"), id_url("pads.view", "pad_id")
        for object_id in (1, 7, 2147483647, 42424):
            assert note_url.build(object_id) == url_for("notes.view", note_id=object_id)
            assert pad_url.build(object_id) == url_for("pads.view", pad_id=object_id)
        assert note_url == (f"{script_root}/notes/", "/")


def test_id_url_refuses_an_endpoint_without_the_id(app):
    with app.test_request_context("/"), pytest.raises(ValueError, match="does not put note_id in its path"):
        id_url("notes.index", "note_id")
