"""Password-reset links: signed, time-limited, single-use tokens, sent by SMTP."""

from __future__ import annotations

import logging
import smtplib
import threading
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from email.message import EmailMessage
from typing import Any

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from notejam.models import User, password_fingerprint

_SALT = "notejam.reset-password"
# What send_reset_link reads from the app config: copied, because the sending thread has no app context.
MAIL_SETTINGS = (
    "MAIL_FROM",
    "RESET_TOKEN_MAX_AGE",
    "SMTP_HOST",
    "SMTP_PORT",
    "SMTP_STARTTLS",
    "SMTP_USERNAME",
    "SMTP_PASSWORD",
)
log = logging.getLogger(__name__)
_outbox: ThreadPoolExecutor | None = None
_outbox_lock = threading.Lock()


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


def send_reset_link_in_background(config: Mapping[str, Any], to_address: str, link: str) -> None:
    """Queue the mail and return at once; a failure is logged (without the link: it is a credential).

    The outbox is made on first use, so in each gunicorn worker rather than in a parent that forks; its
    threads are joined at interpreter exit, so a graceful shutdown still sends what is queued.
    """
    global _outbox
    settings = {key: config[key] for key in MAIL_SETTINGS}
    with _outbox_lock:
        if _outbox is None:
            _outbox = ThreadPoolExecutor(max_workers=2, thread_name_prefix="notejam-mail")
    _outbox.submit(_send_and_log, settings, to_address, link)


def _send_and_log(settings: Mapping[str, Any], to_address: str, link: str) -> None:
    try:
        send_reset_link(settings, to_address, link)
    except Exception as error:  # any failure: nobody else would see it, a failed future is silent
        log.error("reset mail not sent", extra={"error": type(error).__name__})
