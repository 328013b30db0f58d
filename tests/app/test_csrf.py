"""Every state-changing form refuses a missing or wrong CSRF token, and changes nothing."""

from __future__ import annotations

import pytest

from notejam import mail
from notejam.models import Note, Pad, User
from tests.app.support import PASSWORD, page_text

FORMS = {
    "signup": ("/signup/", {"email": "new@example.com", "password": "p", "repeat_password": "p"}),
    "signin": ("/signin/", {"email": "alice@example.com", "password": PASSWORD}),
    "forgot-password": ("/forgot-password/", {"email": "alice@example.com"}),
    "reset-password": ("/reset-password/{token}/", {"new_password": "n", "repeat_password": "n"}),
    "settings": ("/settings/", {"old_password": PASSWORD, "new_password": "n", "repeat_password": "n"}),
    "signout": ("/signout/", {}),
    "pad-create": ("/pads/create/", {"name": "New pad"}),
    "pad-edit": ("/pads/{pad}/edit/", {"name": "Renamed"}),
    "pad-delete": ("/pads/{pad}/delete/", {}),
    "note-create": ("/notes/create/", {"name": "New", "text": "T", "pad": ""}),
    "note-edit": ("/notes/{note}/edit/", {"name": "Renamed", "text": "T", "pad": ""}),
    "note-delete": ("/notes/{note}/delete/", {}),
}


def snapshot(factory, alice, pad, note):
    user = factory.get(User, alice.id)
    return (
        factory.count(User),
        factory.count(Pad),
        factory.count(Note),
        user.password_hash,
        factory.get(Pad, pad.id).name,
        factory.get(Note, note.id).name,
    )


@pytest.mark.parametrize("token", ["missing", "invalid"])
@pytest.mark.parametrize("form", FORMS)
def test_form_without_valid_csrf_token_is_rejected(app, signed_in, factory, alice, mailbox, form, token):
    pad = factory.pad(alice, "Pad")
    note = factory.note(alice, "Note", pad=pad)
    with app.app_context():
        reset_token = mail.make_reset_token(app.config["SECRET_KEY"], factory.get(User, alice.id))
    url, data = FORMS[form]
    url = url.format(pad=pad.id, note=note.id, token=reset_token)
    before = snapshot(factory, alice, pad, note)
    if token == "invalid":
        signed_in.csrf_token()  # the session holds a real token, as it does once any form was opened
        data = {**data, "csrf_token": "forged-token"}
    response = signed_in.post(url, data, csrf=False)
    assert response.status_code == 400
    assert "CSRF token" in page_text(response)
    assert snapshot(factory, alice, pad, note) == before
    assert signed_in.get("/").status_code == 200  # still signed in
    assert mailbox.messages == []


def test_token_from_another_session_is_rejected(app, signed_in, browser):
    from tests.app.support import Browser

    other = Browser(app.test_client())
    response = signed_in.post("/pads/create/", {"name": "x", "csrf_token": other.csrf_token()}, csrf=False)
    assert response.status_code == 400
