"""Pads: create, view, rename, delete (with their notes), the sidebar."""

from __future__ import annotations

from notejam.models import Note, Pad
from tests.app.support import location, page_text


def test_create_pad_flashes_and_redirects_to_it(signed_in, factory):
    response = signed_in.post("/pads/create/", {"name": "Work"})
    assert response.status_code == 302
    assert location(response).startswith("/pads/")
    page = page_text(signed_in.get(location(response)))
    assert "Pad is created." in page
    assert "Work (0)" in page
    assert factory.count(Pad) == 1


def test_pad_name_is_required_and_at_most_100_chars(signed_in, factory):
    assert "This field is required." in page_text(signed_in.post("/pads/create/", {"name": "  "}))
    too_long = page_text(signed_in.post("/pads/create/", {"name": "x" * 101}))
    assert "Field cannot be longer than 100 characters." in too_long
    assert signed_in.post("/pads/create/", {"name": "x" * 100}).status_code == 302
    assert factory.count(Pad) == 1


def test_pad_page_lists_its_notes_with_count_and_links(signed_in, factory, alice):
    pad = factory.pad(alice, "Work")
    factory.note(alice, "In the pad", pad=pad)
    factory.note(alice, "Elsewhere")
    page = page_text(signed_in.get(f"/pads/{pad.id}/"))
    assert "Work (1)" in page
    assert "In the pad" in page and "Elsewhere" not in page
    assert f'href="/notes/create/?pad={pad.id}"' in page
    assert f'href="/pads/{pad.id}/edit/"' in page


def test_empty_pad_invites_first_note(signed_in, factory, alice):
    pad = factory.pad(alice)
    assert "Create first note in the pad." in page_text(signed_in.get(f"/pads/{pad.id}/"))


def test_rename_pad(signed_in, factory, alice):
    pad = factory.pad(alice, "Old")
    form = page_text(signed_in.get(f"/pads/{pad.id}/edit/"))
    assert 'value="Old"' in form and f'href="/pads/{pad.id}/delete/"' in form
    response = signed_in.post(f"/pads/{pad.id}/edit/", {"name": "New"})
    assert location(response) == f"/pads/{pad.id}/"
    assert factory.get(Pad, pad.id).name == "New"


def test_delete_pad_asks_then_deletes_it_and_its_notes(signed_in, factory, alice):
    pad = factory.pad(alice)
    inside = factory.note(alice, "inside", pad=pad)
    outside = factory.note(alice, "outside")
    confirmation = page_text(signed_in.get(f"/pads/{pad.id}/delete/"))
    assert "its 1 note will be deleted" in confirmation
    assert factory.get(Pad, pad.id) is not None
    response = signed_in.post(f"/pads/{pad.id}/delete/")
    assert location(response) == "/"
    assert "Pad and its notes are deleted." in page_text(signed_in.get("/"))
    assert factory.get(Pad, pad.id) is None
    assert factory.get(Note, inside.id) is None
    assert factory.get(Note, outside.id) is not None


def test_sidebar_lists_my_pads_only_by_name_and_new_pad(signed_in, factory, alice):
    zoo, mine = factory.pad(alice, "Zoo"), factory.pad(alice, "Mine")
    factory.pad(factory.user("bob@example.com"), "Bobs")
    page = page_text(signed_in.get("/"))
    assert "My pads" in page and "Bobs" not in page
    assert page.index(f'<a href="/pads/{mine.id}/">Mine</a>') < page.index(f'<a href="/pads/{zoo.id}/">Zoo</a>')
    assert 'href="/pads/create/"' in page


def test_sidebar_says_when_there_are_no_pads(signed_in, factory, alice):
    assert "<li>No pads yet.</li>" in page_text(signed_in.get("/"))
    factory.pad(alice, "First")
    assert "No pads yet." not in page_text(signed_in.get("/"))
