"""Notes: the list (all notes, or one pad's), and create/view/edit/delete."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from notejam import database
from notejam.forms import ConfirmForm, NoteForm, pad_choice
from notejam.models import Note
from notejam.note_list import note_list_items
from notejam.queries import note_rows, owned_note_or_404, owned_note_row_or_404, user_pad, user_pads

bp = Blueprint("notes", __name__)


@bp.route("/")
@login_required
def index() -> str:
    order = request.args.get("order")
    notes = note_rows(order)
    items = note_list_items(notes, datetime.now(UTC), pad_column=True)
    return render_template("notes/list.html", note_items=items, total=len(notes), pad=None, order=order)


def _redirect_after_save(note: Note) -> Response:
    if note.pad_id is not None:
        return redirect(url_for("pads.view", pad_id=note.pad_id))
    return redirect(url_for("notes.index"))


@bp.route("/notes/create/", methods=["GET", "POST"])
@login_required
def create() -> str | Response:
    form = NoteForm()
    pads = user_pads()
    form.set_pad_choices(pads)
    if request.method == "GET":
        preselected = pad_choice(request.args.get("pad"))
        form.pad.data = preselected if preselected in {pad.id for pad in pads} else None
    if form.validate_on_submit():
        note = Note(user_id=current_user.id, pad_id=form.pad.data, name=form.name.data, text=form.text.data)
        database.session().add(note)
        database.session().commit()
        flash("Note is created.", "success")
        return _redirect_after_save(note)
    return render_template("notes/form.html", form=form, note=None)


@bp.route("/notes/<int:note_id>/")
@login_required
def view(note_id: int) -> str:
    note = owned_note_row_or_404(note_id)
    return render_template("notes/view.html", note=note, pad=user_pad(note.pad_id))


@bp.route("/notes/<int:note_id>/edit/", methods=["GET", "POST"])
@login_required
def edit(note_id: int) -> str | Response:
    note = owned_note_or_404(note_id)
    form = NoteForm(obj=note)
    form.set_pad_choices(user_pads())
    if request.method == "GET":
        form.pad.data = note.pad_id  # the form's `pad` is an id, the model's `pad` an object
    if form.validate_on_submit():
        note.name, note.text, note.pad_id = form.name.data, form.text.data, form.pad.data
        database.session().commit()
        flash("Note is saved.", "success")
        return _redirect_after_save(note)
    return render_template("notes/form.html", form=form, note=note)


@bp.route("/notes/<int:note_id>/delete/", methods=["GET", "POST"])
@login_required
def delete_note(note_id: int) -> str | Response:
    note = owned_note_or_404(note_id)
    form = ConfirmForm()
    if form.validate_on_submit():
        database.session().delete(note)
        database.session().commit()
        flash("Note is deleted.", "success")
        # Redirect to the list, never to the deleted note (the historical 500).
        return redirect(url_for("notes.index"))
    return render_template("notes/delete.html", form=form, note=note)
