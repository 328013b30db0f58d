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


@pytest.mark.parametrize("script_root", ["", "/notejam"])
def test_links_are_what_url_for_builds_asked_once_per_script_root(app, script_root, monkeypatch):
    from flask import url_for

    from notejam import links

    asked = []

    def counted_url_for(endpoint, **values):
        asked.append(endpoint)
        return url_for(endpoint, **values)

    monkeypatch.setattr(links, "url_for", counted_url_for)
    app.extensions.pop(links.CACHE, None)
    with app.test_request_context("/", base_url=f"http://localhost{script_root}"):
        for _ in range(3):
            assert links.link("notes.index") == url_for("notes.index") == f"{script_root}/"
            assert links.link("auth.signout") == url_for("auth.signout")
            assert links.id_url("notes.edit", "note_id").build(5) == url_for("notes.edit", note_id=5)
    assert sorted(asked) == ["auth.signout", "notes.edit", "notes.index"]
    other_root = "/elsewhere" if script_root else "/notejam"
    with app.test_request_context("/", base_url=f"http://localhost{other_root}"):
        assert links.link("notes.index") == f"{other_root}/"  # another script root is asked afresh
