"""Accounts: sign up, sign in, sign out, forgotten and changed passwords."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask import session as browser_session
from flask_login import LoginManager, current_user, login_required, login_user, logout_user
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from werkzeug.security import check_password_hash, generate_password_hash
from werkzeug.wrappers import Response

from notejam import database, mail
from notejam.forms import ConfirmForm, ForgotPasswordForm, ResetPasswordForm, SettingsForm, SigninForm, SignupForm
from notejam.models import MAX_ID, SignedInUser, User, password_fingerprint
from notejam.queries import signed_in_user

bp = Blueprint("auth", __name__)
login_manager = LoginManager()
WRONG_CREDENTIALS = "Wrong email or password"
_DUMMY_HASH = "notejam.dummy-password-hash"


def hash_password(password: str) -> str:
    method = current_app.config["PASSWORD_HASH_METHOD"]
    return generate_password_hash(password, method=method) if method else generate_password_hash(password)


def _dummy_hash() -> str:
    """A real hash to check when the email is unknown, so both answers take the same time."""
    if _DUMMY_HASH not in current_app.extensions:
        current_app.extensions[_DUMMY_HASH] = hash_password("not a password anyone has")
    return current_app.extensions[_DUMMY_HASH]


def is_safe_next(target: str | None) -> bool:
    """Only a local path may be a redirect target: no scheme, no host, no '//' or '\\' tricks."""
    if not target or not target.startswith("/") or any(ord(c) < 32 for c in target):
        return False
    normalised = target.replace("\\", "/")
    parts = urlsplit(normalised)
    return not normalised.startswith("//") and not parts.scheme and not parts.netloc


def _is_useful_next(target: str | None) -> bool:
    # Signing in only to be asked "Sign out?" (a signed-out visitor followed a sign-out link) helps nobody.
    return is_safe_next(target) and urlsplit(target or "").path != url_for("auth.signout")


@login_manager.user_loader
def load_user(session_id: str) -> SignedInUser | None:
    user_id, _, fingerprint = session_id.partition(":")
    if not user_id.isdigit() or not 0 < int(user_id) <= MAX_ID:
        return None
    user = signed_in_user(int(user_id))
    if user is None or password_fingerprint(user.password_hash) != fingerprint:
        return None  # the password changed since this session signed in
    return user


@login_manager.unauthorized_handler
def to_signin() -> Response:
    # A path, not a full URL, so the `next` we hand out is one is_safe_next accepts.
    target = request.full_path.rstrip("?")
    return redirect(url_for("auth.signin", next=target))


@bp.route("/signup/", methods=["GET", "POST"])
def signup() -> str | Response:
    form = SignupForm()
    if form.validate_on_submit():
        session = database.session()
        if session.scalar(select(User.id).where(User.email == form.email.data)) is not None:
            form.email.errors.append("Email is already signed up")
        else:
            session.add(User(email=form.email.data, password_hash=hash_password(form.password.data)))
            try:
                session.commit()
            except IntegrityError:  # two sign-ups with one email at the same moment
                session.rollback()
                form.email.errors.append("Email is already signed up")
            else:
                flash("Account is created. Now you can sign in.", "success")
                return redirect(url_for("auth.signin"))
    return render_template("auth/signup.html", form=form)


@bp.route("/signin/", methods=["GET", "POST"])
def signin() -> str | Response:
    form = SigninForm()
    next_url = request.args.get("next")
    if form.validate_on_submit():
        user = database.session().scalar(select(User).where(User.email == form.email.data))
        if user is None:
            check_password_hash(_dummy_hash(), form.password.data)
        elif check_password_hash(user.password_hash, form.password.data):
            # A fresh session: nothing from before sign-in survives it, the CSRF token included, so a session
            # cookie planted in the browser beforehand (session fixation) knows nothing about the signed-in one.
            browser_session.clear()
            login_user(user)
            flash("You are signed in!", "success")
            return redirect(next_url if _is_useful_next(next_url) else url_for("notes.index"))
        flash(WRONG_CREDENTIALS, "error")
    return render_template("auth/signin.html", form=form, next_url=next_url if is_safe_next(next_url) else None)


@bp.route("/signout/", methods=["GET", "POST"])
@login_required
def signout() -> str | Response:
    # GET only asks: signing out changes state, so it takes a POST with a CSRF token.
    form = ConfirmForm()
    if form.validate_on_submit():
        logout_user()
        flash("You are signed out.", "success")
        return redirect(url_for("auth.signin"))
    return render_template("auth/signout.html", form=form)


def reset_link(token: str) -> str:
    """The absolute reset link: on PUBLIC_URL when configured, else on the host the request came to."""
    public_url = current_app.config.get("PUBLIC_URL")
    if public_url:
        return public_url + url_for("auth.reset_password", token=token)
    return url_for("auth.reset_password", token=token, _external=True)


@bp.route("/forgot-password/", methods=["GET", "POST"])
def forgot_password() -> str | Response:
    form = ForgotPasswordForm()
    if form.validate_on_submit():
        user = database.session().scalar(select(User).where(User.email == form.email.data))
        if user is not None:
            token = mail.make_reset_token(current_app.config["SECRET_KEY"], user)
            link = reset_link(token)
            # Off the request thread: an SMTP round trip only for known emails would tell, by the time the
            # answer takes, who has an account.
            mail.send_reset_link_in_background(current_app.config, user.email, link)
        # The same answer whether or not the email is signed up: nobody learns who has an account.
        flash("If that email is signed up, we sent it a link to reset the password.", "success")
        return redirect(url_for("auth.signin"))
    return render_template("auth/forgot_password.html", form=form)


@bp.route("/reset-password/<token>/", methods=["GET", "POST"])
def reset_password(token: str) -> tuple[str, int] | str | Response:
    config = current_app.config
    try:
        payload = mail.read_reset_token(config["SECRET_KEY"], token, config["RESET_TOKEN_MAX_AGE"])
        user = database.session().get(User, payload["user_id"]) if 0 < payload["user_id"] <= MAX_ID else None
        if user is None or not mail.token_matches(payload, user):
            raise mail.InvalidResetToken("used")
    except mail.InvalidResetToken:
        message = "This reset link is invalid, expired or already used. Ask for a new one."
        return render_template("auth/reset_invalid.html", message=message), 400
    form = ResetPasswordForm()
    if form.validate_on_submit():
        user.password_hash = hash_password(form.new_password.data)
        database.session().commit()
        flash("Your password is changed. Now you can sign in.", "success")
        return redirect(url_for("auth.signin"))
    return render_template("auth/reset_password.html", form=form)


@bp.route("/settings/", methods=["GET", "POST"])
@login_required
def settings() -> str | Response:
    form = SettingsForm()
    if form.validate_on_submit():
        if not check_password_hash(current_user.password_hash, form.old_password.data):
            form.old_password.errors.append("Wrong old password")
        else:
            user = database.session().get_one(User, current_user.id)
            user.password_hash = hash_password(form.new_password.data)
            database.session().commit()
            login_user(user)  # the session id carries the password fingerprint: renew it
            flash("Your password is changed.", "success")
            return redirect(url_for("notes.index"))
    return render_template("auth/settings.html", form=form)
