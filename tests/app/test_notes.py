"""Notes: the lists, sorting, smart dates, create/view/edit/delete, the pad choice."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from notejam import database
from notejam.models import Note
from tests.app.support import location, page_text


def note_names(page: str) -> list[str]:
    return re.findall(r'<a href="/notes/\d+/">([^<]*)</a>', page)


def test_all_notes_lists_count_pad_and_smart_date(signed_in, factory, alice):
    pad = factory.pad(alice, "Work")
    factory.note(alice, "First", pad=pad)
    factory.note(alice, "Second")
    page = page_text(signed_in.get("/"))
    assert "All notes (2)" in page
    assert f'<a href="/pads/{pad.id}/">Work</a>' in page
    assert "No pad" in page
    assert "Today at " in page
    assert 'href="/notes/create/"' in page


def test_each_row_shows_its_own_notes_pad(signed_in, factory, alice):
    """The list makes each pad's cell once and reuses it: rows of one pad, of another and of none, interleaved."""
    home, work = factory.pad(alice, "Home <3"), factory.pad(alice, "Work")
    for number, pad in enumerate((home, work, None, work, home, None)):
        factory.note(alice, f"Note {number}", pad=pad)
    page = page_text(signed_in.get("/?order=name"))
    rows = re.findall(r'<td><a href="/notes/\d+/">(Note \d)</a></td>\s*<td>(.*?)</td>', page)
    home_cell, work_cell = f'<a href="/pads/{home.id}/">Home &lt;3</a>', f'<a href="/pads/{work.id}/">Work</a>'
    assert rows == [
        ("Note 0", home_cell),
        ("Note 1", work_cell),
        ("Note 2", "No pad"),
        ("Note 3", work_cell),
        ("Note 4", home_cell),
        ("Note 5", "No pad"),
    ]


def test_empty_state_invites_first_note(signed_in):
    page = page_text(signed_in.get("/"))
    assert "All notes (0)" in page and "Create your first note." in page


def test_only_my_notes_are_listed(signed_in, factory):
    factory.note(factory.user("bob@example.com"), "Bob's secret")
    assert "Bob&#39;s secret" not in page_text(signed_in.get("/"))


@pytest.fixture
def three_notes(factory, alice):
    now = datetime.now(UTC)
    pad = factory.pad(alice)
    for name, age in (("banana", 2), ("apple", 1), ("cherry", 3)):
        factory.note(alice, name, pad=pad, updated_at=now - timedelta(days=age))
    return pad


@pytest.mark.parametrize(
    ("order", "expected"),
    [
        ("name", ["apple", "banana", "cherry"]),
        ("-name", ["cherry", "banana", "apple"]),
        ("updated_at", ["cherry", "banana", "apple"]),
        ("-updated_at", ["apple", "banana", "cherry"]),
        (None, ["apple", "banana", "cherry"]),
        ("nonsense", ["apple", "banana", "cherry"]),
    ],
)
@pytest.mark.parametrize("where", ["all", "pad"])
def test_sorting(signed_in, three_notes, order, expected, where):
    url = "/" if where == "all" else f"/pads/{three_notes.id}/"
    response = signed_in.get(url, query_string={"order": order} if order else None)
    assert note_names(page_text(response)) == expected


@pytest.mark.parametrize(
    ("order", "expected"), [("name", ["apple", "Banana", "cherry"]), ("-name", ["cherry", "Banana", "apple"])]
)
def test_name_order_ignores_case(signed_in, factory, alice, order, expected):
    for name in ("cherry", "Banana", "apple"):
        factory.note(alice, name)
    assert note_names(page_text(signed_in.get("/", query_string={"order": order}))) == expected


def test_list_shows_smart_dates(signed_in, factory, alice):
    now = datetime.now(UTC)
    factory.note(alice, "old", updated_at=now - timedelta(days=30))
    factory.note(alice, "recent", updated_at=now - timedelta(days=3))
    page = page_text(signed_in.get("/"))
    assert "3 days ago" in page
    assert f"{now - timedelta(days=30):%d %b %Y}" in page


def test_create_note_without_pad_stores_null_and_redirects_home(signed_in, app):
    response = signed_in.post("/notes/create/", {"name": "N", "text": "T", "pad": ""})
    assert location(response) == "/"
    assert "Note is created." in page_text(signed_in.get("/"))
    with app.app_context():
        # Raw SQL: what the database holds, not what the ORM makes of it. NULL, never 0.
        rows = database.session().execute(text("SELECT pad_id, pad_id IS NULL FROM notes")).all()
    assert len(rows) == 1
    assert rows[0][0] is None and rows[0][1] in (True, 1)


def test_create_note_in_pad_redirects_to_the_pad(signed_in, factory, alice):
    pad = factory.pad(alice)
    response = signed_in.post("/notes/create/", {"name": "N", "text": "T", "pad": str(pad.id)})
    assert location(response) == f"/pads/{pad.id}/"
    assert "N" in note_names(page_text(signed_in.get(f"/pads/{pad.id}/")))


def test_new_note_form_preselects_pad_from_query(signed_in, factory, alice):
    pad = factory.pad(alice, "Work")
    page = page_text(signed_in.get(f"/notes/create/?pad={pad.id}"))
    assert re.search(rf'<option selected value="{pad.id}">Work</option>', page)
    page = page_text(signed_in.get("/notes/create/?pad=garbage"))
    assert re.search(r'<option selected value="">No pad</option>', page)


@pytest.mark.parametrize("bad_pad", ["other-user", "garbage", "99999", "99999999999999999999999"])
def test_note_pad_must_be_one_of_mine(signed_in, factory, bad_pad):
    if bad_pad == "other-user":
        bad_pad = str(factory.pad(factory.user("bob@example.com")).id)
    response = signed_in.post("/notes/create/", {"name": "N", "text": "T", "pad": bad_pad})
    assert response.status_code == 200
    assert "Not a valid choice" in page_text(response)
    assert factory.count(Note) == 0


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"name": "", "text": "T", "pad": ""}, "This field is required."),
        ({"name": "N", "text": "", "pad": ""}, "This field is required."),
        ({"name": "x" * 101, "text": "T", "pad": ""}, "Field cannot be longer than 100 characters."),
    ],
    ids=["name-required", "text-required", "name-too-long"],
)
def test_note_validation_messages(signed_in, factory, data, message):
    response = signed_in.post("/notes/create/", data)
    assert response.status_code == 200
    assert message in page_text(response)
    assert factory.count(Note) == 0


def test_view_note(signed_in, factory, alice):
    pad = factory.pad(alice, "Work")
    note = factory.note(alice, "Title", "Line one\nLine two", pad=pad)
    page = page_text(signed_in.get(f"/notes/{note.id}/"))
    assert "Title" in page and "Line one\nLine two" in page
    assert "Last edited Today at" in page
    assert f' in <a href="/pads/{pad.id}/">Work</a>' in page
    assert f'href="/notes/{note.id}/edit/"' in page and f'href="/notes/{note.id}/delete/"' in page


def test_view_note_without_pad_names_none(signed_in, factory, alice):
    factory.pad(alice, "Work")
    note = factory.note(alice, "Loose", "Body")
    page = page_text(signed_in.get(f"/notes/{note.id}/"))
    assert "Last edited Today at" in page and " in <a" not in page


@pytest.mark.parametrize("pads", [0, 1, 3])
@pytest.mark.parametrize("in_pad", [False, True])
def test_the_note_page_reads_the_note_with_the_user(signed_in, factory, alice, pads, in_pad):
    """The note comes in the user's statement, a row per pad, its text on the first row only: whatever the pads and
    whichever of them the note is in, the page shows the note once and every pad in the sidebar."""
    made = [factory.pad(alice, f"Pad {number}") for number in range(pads)]
    pad = made[-1] if in_pad and made else None
    note = factory.note(alice, "Title", "unique text " * 500, pad=pad)
    page = page_text(signed_in.get(f"/notes/{note.id}/"))
    assert page.count("unique text") == 500
    assert all(f'<li><a href="/pads/{made_pad.id}/">{made_pad.name}</a></li>' in page for made_pad in made)
    assert (f' in <a href="/pads/{pad.id}/">{pad.name}</a>' in page) if pad else (" in <a" not in page)


def test_the_notes_text_comes_once_not_once_per_pad(app, factory, alice):
    from notejam import database, queries

    for number in range(3):
        factory.pad(alice, f"Pad {number}")
    note = factory.note(alice, "Title", "long text " * 1000)
    with app.test_request_context("/"):
        rows = queries._SIGNED_IN_USER_AND_NOTE.rows(database.connection(), {"id": alice.id, "note_id": note.id})
    assert [row.note_text for row in rows] == [note.text, None, None]
    assert {(row.note_id, row.note_name) for row in rows} == {(note.id, "Title")}


def test_the_note_page_of_a_note_that_is_not_mine_is_404_with_me_signed_in(signed_in, factory, alice):
    factory.pad(alice, "Mine")
    theirs = factory.note(factory.user("bob@example.com"), "Theirs", "secret")
    response = signed_in.get(f"/notes/{theirs.id}/")
    page = page_text(response)
    assert response.status_code == 404 and "secret" not in page
    assert alice.email in page  # the user was read in the same statement, without the note


def test_edit_note_prefills_and_saves(signed_in, factory, alice):
    pad = factory.pad(alice, "Work")
    note = factory.note(alice, "Title", "Body", pad=pad)
    form = page_text(signed_in.get(f"/notes/{note.id}/edit/"))
    assert 'value="Title"' in form and re.search(r">\s*Body</textarea>", form)
    assert f'<option selected value="{pad.id}">' in form
    response = signed_in.post(f"/notes/{note.id}/edit/", {"name": "New", "text": "Changed", "pad": ""})
    assert location(response) == "/"
    saved = factory.get(Note, note.id)
    assert (saved.name, saved.text, saved.pad_id) == ("New", "Changed", None)
    assert saved.updated_at > note.updated_at


def test_delete_note_asks_then_redirects_not_500(signed_in, factory, alice):
    note = factory.note(alice)
    assert "This cannot be undone." in page_text(signed_in.get(f"/notes/{note.id}/delete/"))
    assert factory.get(Note, note.id) is not None
    response = signed_in.post(f"/notes/{note.id}/delete/")
    assert response.status_code == 302 and location(response) == "/"
    assert "Note is deleted." in page_text(signed_in.get("/"))
    assert factory.get(Note, note.id) is None
    assert signed_in.get(f"/notes/{note.id}/").status_code == 404


def test_stored_dates_are_timezone_aware_utc(factory, alice):
    note = factory.get(Note, factory.note(alice).id)
    assert note.updated_at.utcoffset() == timedelta(0)
    assert abs(datetime.now(UTC) - note.created_at) < timedelta(minutes=1)


def test_names_typed_by_users_are_escaped_on_the_lists(signed_in, factory, alice):
    """The list rows and the sidebar are printed as HTML as they are (note_list.py and sidebar.py escape the names):
    nothing a user typed may come through as markup, on the all-notes page or a pad's page, nor anywhere else a name
    is shown."""
    pad = factory.pad(alice, "<b>Pad</b> & co")
    factory.note(alice, "<script>alert(\"x\")</script> & 'quotes'", pad=pad)
    for path in ("/", f"/pads/{pad.id}/"):
        page = page_text(signed_in.get(path))
        assert "<script>" not in page and "<b>Pad</b>" not in page
        assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &#39;quotes&#39;" in page
        assert "&lt;b&gt;Pad&lt;/b&gt; &amp; co" in page
