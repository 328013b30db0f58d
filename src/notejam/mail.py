"""Password-reset links: signed, time-limited, single-use tokens, sent by SMTP."""

from __future__ import annotations

import smtplib
from collections.abc import Mapping
from email.message import EmailMessage
from typing import Any

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from notejam.models import User, password_fingerprint

_SALT = "notejam.reset-password"


class InvalidResetToken(Exception):
    """The token is forged, expired, or already used (the password it was made for has changed)."""


def make_reset_token(secret_key: str, user: User) -> str:
    # The fingerprint of the current hash makes the token die once the password changes: single use.
    payload = {"user_id": user.id, "password": password_fingerprint(user.password_hash)}
    return URLSafeTimedSerializer(secret_key, salt=_SALT).dumps(payload)


def read_reset_token(secret_key: str, token: str, max_age: int) -> dict[str, Any]:
    """The token's payload, or InvalidResetToken. The caller checks the fingerprint against the user."""
    serializer = URLSafeTimedSerializer(secret_key, salt=_SALT)
    try:
        payload = serializer.loads(token, max_age=max_age)
    except SignatureExpired:
        raise InvalidResetToken("expired") from None
    except BadSignature:
        raise InvalidResetToken("invalid") from None
    if not isinstance(payload, dict) or not isinstance(payload.get("user_id"), int):
        raise InvalidResetToken("invalid")
    return payload


def token_matches(payload: Mapping[str, Any], user: User) -> bool:
    return payload.get("password") == password_fingerprint(user.password_hash)


def send_reset_link(config: Mapping[str, Any], to_address: str, link: str) -> None:
    message = EmailMessage()
    message["From"] = config["MAIL_FROM"]
    message["To"] = to_address
    message["Subject"] = "Reset your Notejam password"
    minutes = config["RESET_TOKEN_MAX_AGE"] // 60
    message.set_content(
        "Someone asked to reset the password of your Notejam account.\n\n"
        f"To choose a new password, open this link within {minutes} minutes:\n\n{link}\n\n"
        "The link works once. If you did not ask for it, ignore this email: your password stays as it is.\n"
    )
    with smtplib.SMTP(config["SMTP_HOST"], config["SMTP_PORT"], timeout=10) as smtp:
        if config["SMTP_STARTTLS"]:
            smtp.starttls()
        if config["SMTP_USERNAME"]:
            smtp.login(config["SMTP_USERNAME"], config["SMTP_PASSWORD"] or "")
        smtp.send_message(message)
