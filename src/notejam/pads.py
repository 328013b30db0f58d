"""Pads: named groups of notes."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import delete, update
from werkzeug.wrappers import Response

from notejam import database
from notejam.forms import ConfirmForm, PadForm
from notejam.models import Note, Pad
from notejam.note_list import note_list_items
from notejam.queries import count, note_rows, notes_query, owned_pad_or_404

bp = Blueprint("pads", __name__, url_prefix="/pads")


@bp.route("/create/", methods=["GET", "POST"])
@login_required
def create() -> str | Response:
    form = PadForm()
    if form.validate_on_submit():
        pad = Pad(user_id=current_user.id, name=form.name.data)
        database.session().add(pad)
        database.session().commit()
        flash("Pad is created.", "success")
        return redirect(url_for("pads.view", pad_id=pad.id))
    return render_template("pads/form.html", form=form, pad=None)


@bp.route("/<int:pad_id>/")
@login_required
def view(pad_id: int) -> str:
    pad = owned_pad_or_404(pad_id)
    order = request.args.get("order")
    notes = note_rows(order, pad)
    items = note_list_items(notes, datetime.now(UTC), pad_column=False)
    return render_template("notes/list.html", note_items=items, total=len(notes), pad=pad, order=order)


@bp.route("/<int:pad_id>/edit/", methods=["GET", "POST"])
@login_required
def edit(pad_id: int) -> str | Response:
    pad = owned_pad_or_404(pad_id)
    form = PadForm(obj=pad)
    if form.validate_on_submit():
        database.session().execute(update(Pad).where(Pad.id == pad.id).values(name=form.name.data))
        database.session().commit()
        flash("Pad is saved.", "success")
        return redirect(url_for("pads.view", pad_id=pad.id))
    return render_template("pads/form.html", form=form, pad=pad)


@bp.route("/<int:pad_id>/delete/", methods=["GET", "POST"])
@login_required
def delete_pad(pad_id: int) -> str | Response:
    pad = owned_pad_or_404(pad_id)
    form = ConfirmForm()
    if form.validate_on_submit():
        session = database.session()
        # Explicit rather than relying on ON DELETE CASCADE, which SQLite only honours when asked.
        session.execute(delete(Note).where(Note.pad_id == pad.id))
        session.execute(delete(Pad).where(Pad.id == pad.id))
        session.commit()
        flash("Pad and its notes are deleted.", "success")
        return redirect(url_for("notes.index"))
    notes_count = count(notes_query(None, pad))
    return render_template("pads/delete.html", form=form, pad=pad, notes_count=notes_count)
