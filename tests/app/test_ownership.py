"""Another user's pad or note is a 404 for every URL and verb: nobody learns what exists."""

from __future__ import annotations

import pytest

from notejam.models import Note, Pad
from tests.app.support import page_text

# Every URL with the verbs it serves (views are GET-only: a POST is 405 whoever owns the object).
URL_VERBS = [
    ("/pads/{pad}/", "GET"),
    ("/pads/{pad}/edit/", "GET"),
    ("/pads/{pad}/edit/", "POST"),
    ("/pads/{pad}/delete/", "GET"),
    ("/pads/{pad}/delete/", "POST"),
    ("/notes/{note}/", "GET"),
    ("/notes/{note}/edit/", "GET"),
    ("/notes/{note}/edit/", "POST"),
    ("/notes/{note}/delete/", "GET"),
    ("/notes/{note}/delete/", "POST"),
]


@pytest.fixture
def bobs(factory):
    bob = factory.user("bob@example.com")
    pad = factory.pad(bob, "Bob's pad")
    note = factory.note(bob, "Bob's note", "secret", pad=pad)
    return {"pad": pad.id, "note": note.id}


@pytest.mark.parametrize(("url", "method"), URL_VERBS)
def test_someone_elses_pad_or_note_is_404(signed_in, factory, bobs, url, method):
    url = url.format(**bobs)
    # A complete, valid form: only the ownership check stands between it and a change.
    data = {"name": "hijacked", "text": "hijacked", "pad": ""}
    response = signed_in.get(url) if method == "GET" else signed_in.post(url, data)
    assert response.status_code == 404
    assert "Bob" not in page_text(response) and "secret" not in page_text(response)
    assert factory.get(Pad, bobs["pad"]).name == "Bob's pad"
    assert factory.get(Note, bobs["note"]).name == "Bob's note"


def test_someone_elses_pad_is_not_a_valid_choice_on_edit(signed_in, factory, alice, bobs):
    mine = factory.note(alice, "Mine")
    response = signed_in.post(f"/notes/{mine.id}/edit/", {"name": "x", "text": "y", "pad": str(bobs["pad"])})
    assert "Not a valid choice" in page_text(response)
    assert factory.get(Note, mine.id).pad_id is None


def test_new_note_form_offers_only_my_pads(signed_in, factory, alice, bobs):
    factory.pad(alice, "My pad")
    page = page_text(signed_in.get(f"/notes/create/?pad={bobs['pad']}"))
    assert "My pad" in page and "Bob&#39;s pad" not in page
    assert '<option selected value="">No pad</option>' in page
