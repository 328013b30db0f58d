"""The forms, with the validation messages the spec lists. Every form carries a CSRF token."""

from __future__ import annotations

from typing import Any

from flask_wtf import FlaskForm
from wtforms import PasswordField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Email, EqualTo, Length, ValidationError

from notejam.models import EMAIL_MAX_LENGTH, NAME_MAX_LENGTH

# Passwords are hashed, never stored; the cap only bounds the hashing work one request can ask for.
PASSWORD_MAX_LENGTH = 1024
TEXT_MAX_LENGTH = 100_000


def no_nul(_form: Any, field: Any) -> None:
    """PostgreSQL text cannot hold NUL; refuse it on every backend with a message, not a 500."""
    if isinstance(field.data, str) and "\x00" in field.data:
        raise ValidationError("Must not contain NUL characters.")


def normalise_email(value: str | None) -> str | None:
    return value.strip().lower() if isinstance(value, str) else value


def email_field(label: str = "Email") -> StringField:
    return StringField(
        label,
        filters=[normalise_email],
        validators=[DataRequired(), no_nul, Length(max=EMAIL_MAX_LENGTH), Email()],
    )


def password_field(label: str, *extra: Any) -> PasswordField:
    return PasswordField(label, validators=[DataRequired(), no_nul, Length(max=PASSWORD_MAX_LENGTH), *extra])


class SignupForm(FlaskForm):
    email = email_field()
    password = password_field("Password")
    repeat_password = password_field("Repeat password", EqualTo("password", message="Passwords do not match"))


class SigninForm(FlaskForm):
    email = email_field()
    password = password_field("Password")


class ForgotPasswordForm(FlaskForm):
    email = email_field()


class ResetPasswordForm(FlaskForm):
    new_password = password_field("New password")
    repeat_password = password_field("Repeat new password", EqualTo("new_password", message="Passwords do not match"))


class SettingsForm(FlaskForm):
    old_password = password_field("Old password")
    new_password = password_field("New password")
    repeat_password = password_field("Repeat new password", EqualTo("new_password", message="Passwords do not match"))


class PadForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), no_nul, Length(max=NAME_MAX_LENGTH)])


def pad_choice(value: Any) -> Any:
    """'' is "no pad" (None, stored as NULL); garbage stays as it is, so it matches no choice."""
    if value in ("", None):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return value


class NoteForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), no_nul, Length(max=NAME_MAX_LENGTH)])
    text = TextAreaField("Text", validators=[DataRequired(), no_nul, Length(max=TEXT_MAX_LENGTH)])
    # Choices are the signed-in user's own pads, set by the view; anything else is "Not a valid choice."
    pad = SelectField("Pad", coerce=pad_choice, validate_choice=True)

    def set_pad_choices(self, pads: list[Any]) -> None:
        self.pad.choices = [("", "No pad"), *((pad.id, pad.name) for pad in pads)]


class ConfirmForm(FlaskForm):
    """No fields: the CSRF token alone, for sign-out and deletes."""
