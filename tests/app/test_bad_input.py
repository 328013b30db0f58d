"""Hostile and odd input on every form and id: a clear 4xx or a normal page, never a 500;
whatever is stored comes back escaped."""

from __future__ import annotations

import pytest

from notejam import mail
from notejam.models import User
from tests.app.support import page_text

PAYLOADS = {
    "empty": "",
    "10kB": "x" * 10 * 1024,
    "unicode": "Zürich 日本語 🎉 ﷽",
    "nul": "before\x00after",
    "sql": "'; DROP TABLE notes; -- \" OR 1=1",
    "script": "<script>alert('xss')</script>",
}
FORMS = {
    "signup": ("/signup/", ["email", "password", "repeat_password"]),
    "signin": ("/signin/", ["email", "password"]),
    "forgot-password": ("/forgot-password/", ["email"]),
    "reset-password": ("/reset-password/{token}/", ["new_password", "repeat_password"]),
    "settings": ("/settings/", ["old_password", "new_password", "repeat_password"]),
    "pad-create": ("/pads/create/", ["name"]),
    "pad-edit": ("/pads/{pad}/edit/", ["name"]),
    "note-create": ("/notes/create/", ["name", "text", "pad"]),
    "note-edit": ("/notes/{note}/edit/", ["name", "text", "pad"]),
    "note-create-text-only": ("/notes/create/", ["text"]),
    "pad-delete": ("/pads/{pad}/delete/", ["unexpected"]),
    "note-delete": ("/notes/{note}/delete/", ["unexpected"]),
    "signout": ("/signout/", ["unexpected"]),
}


@pytest.mark.parametrize("payload", PAYLOADS)
@pytest.mark.parametrize("form", FORMS)
def test_every_form_survives_bad_input(app, signed_in, factory, alice, mailbox, form, payload):
    pad = factory.pad(alice, "Pad")
    note = factory.note(alice, "Note", pad=pad)
    with app.app_context():
        token = mail.make_reset_token(app.config["SECRET_KEY"], factory.get(User, alice.id))
    url, fields = FORMS[form]
    url = url.format(pad=pad.id, note=note.id, token=token)
    data = {field: PAYLOADS[payload] for field in fields}
    if form == "note-create-text-only":
        data.update(name="ok", pad="")
    response = signed_in.post(url, data)
    assert response.status_code < 500, page_text(response)
    assert "Traceback" not in page_text(response)
    if response.status_code == 200 and payload == "nul" and form != "signout":
        assert "Must not contain NUL characters." in page_text(response)
    # Stored or echoed, the payload is escaped everywhere it shows up.
    for page in ("/", f"/pads/{pad.id}/", f"/notes/{note.id}/", f"/notes/{note.id}/edit/", "/notes/create/"):
        shown = signed_in.get(page)
        assert shown.status_code in (200, 302, 404)  # 302: a new password signed this session out
        assert "<script>alert" not in page_text(shown)
    assert "<script>alert" not in page_text(response)


@pytest.mark.parametrize("payload", ["unicode", "sql", "script", "10kB"])
def test_stored_text_round_trips_escaped(signed_in, factory, payload):
    value = PAYLOADS[payload]
    response = signed_in.post("/notes/create/", {"name": value[:100], "text": value, "pad": ""})
    assert response.status_code == 302
    page = page_text(signed_in.get("/"))
    from markupsafe import escape

    assert str(escape(value[:100])) in page
    note_link = page.split('<a href="/notes/')[1].split("/")[0]
    view = page_text(signed_in.get(f"/notes/{note_link}/"))
    assert str(escape(value)) in view


BAD_IDS = ["abc", "1.5", "-1", "0", "2147483648", "99999999999999999999999999", "%00", "1%27%20OR%201=1"]
URL_VERBS = [
    ("/pads/{id}/", "GET"),
    ("/pads/{id}/edit/", "GET"),
    ("/pads/{id}/edit/", "POST"),
    ("/pads/{id}/delete/", "POST"),
    ("/notes/{id}/", "GET"),
    ("/notes/{id}/edit/", "POST"),
    ("/notes/{id}/delete/", "GET"),
    ("/notes/{id}/delete/", "POST"),
]


@pytest.mark.parametrize(("url", "method"), URL_VERBS)
@pytest.mark.parametrize("bad_id", BAD_IDS)
def test_non_numeric_and_huge_ids_are_404(signed_in, url, bad_id, method):
    url = url.format(id=bad_id)
    response = signed_in.get(url) if method == "GET" else signed_in.post(url, {"name": "x", "text": "y"})
    assert response.status_code == 404
    assert "404 Not Found" in page_text(response)


@pytest.mark.parametrize("query", ["pad=abc", "pad=99999999999999999999", "pad=-1", "order=%00", "order='--"])
def test_odd_query_strings_are_ignored(signed_in, query):
    assert signed_in.get(f"/notes/create/?{query}").status_code == 200
    assert signed_in.get(f"/?{query}").status_code == 200


@pytest.mark.parametrize("token", ["garbage", "a" * 5000, "x.y.z", "%3Cscript%3E", "%00"])
def test_bad_reset_tokens_are_a_clear_400(browser, token):
    response = browser.get(f"/reset-password/{token}/")
    assert response.status_code == 400
    assert "invalid, expired or already used" in page_text(response)


def test_wrong_method_is_405_not_500(signed_in):
    response = signed_in.client.delete("/notes/create/")
    assert response.status_code == 405
    assert "405 Method Not Allowed" in page_text(response)


def test_oversized_body_is_413(signed_in):
    response = signed_in.post("/notes/create/", {"name": "n", "text": "x" * (2 * 1024 * 1024)})
    assert response.status_code == 413
