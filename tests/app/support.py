"""Helpers for the app tests: the test config, a CSRF-aware browser, a row factory."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from notejam import database
from notejam.models import Note, Pad, User
from tests.conftest import SmtpServer

PASSWORD = "correct horse battery staple"
# Cheap hashing keeps the suite fast; production keeps werkzeug's scrypt default (tested in test_auth).
FAST_HASH = "pbkdf2:sha256:1000"
CSRF_FIELD = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def app_config(database_url: str, smtp_server: SmtpServer, **extra: Any) -> dict[str, Any]:
    return {
        "DATABASE_URL": database_url,
        "SECRET_KEY": "test-secret-key",
        "PASSWORD_HASH_METHOD": FAST_HASH,
        "SMTP_HOST": smtp_server.host,
        "SMTP_PORT": smtp_server.port,
        "TESTING": True,
        **extra,
    }


@dataclass
class Browser:
    """A test client that fills in the CSRF token the way a browser's form would."""

    client: FlaskClient

    def csrf_token(self) -> str:
        page = self.client.get("/forgot-password/").get_data(as_text=True)
        match = CSRF_FIELD.search(page)
        assert match, "no CSRF token on the page"
        return match.group(1)

    def get(self, url: str, **kwargs: Any) -> Any:
        return self.client.get(url, **kwargs)

    def post(self, url: str, data: dict[str, Any] | None = None, csrf: bool = True, **kwargs: Any) -> Any:
        data = dict(data or {})
        if csrf:
            data.setdefault("csrf_token", self.csrf_token())
        return self.client.post(url, data=data, **kwargs)

    def signin(self, email: str, password: str = PASSWORD) -> Any:
        response = self.post("/signin/", {"email": email, "password": password})
        assert response.status_code == 302, response.get_data(as_text=True)
        return response


@dataclass
class Factory:
    """Creates rows directly, so tests set up state without going through the forms."""

    app: Flask

    def user(self, email: str = "alice@example.com", password: str = PASSWORD) -> User:
        from werkzeug.security import generate_password_hash

        with self.app.app_context():
            session = database.session()
            user = User(email=email, password_hash=generate_password_hash(password, method=FAST_HASH))
            session.add(user)
            session.commit()
            return user

    def pad(self, user: User, name: str = "Work") -> Pad:
        with self.app.app_context():
            session = database.session()
            pad = Pad(user_id=user.id, name=name)
            session.add(pad)
            session.commit()
            return pad

    def note(self, user: User, name: str = "Note", text: str = "Text", pad: Pad | None = None, **extra: Any) -> Note:
        with self.app.app_context():
            session = database.session()
            note = Note(user_id=user.id, name=name, text=text, pad_id=pad.id if pad else None, **extra)
            session.add(note)
            session.commit()
            return note

    def get(self, model: type[Any], object_id: int) -> Any:
        with self.app.app_context():
            return database.session().get(model, object_id)

    def count(self, model: type[Any]) -> int:
        from sqlalchemy import func, select

        with self.app.app_context():
            return database.session().scalar(select(func.count()).select_from(model))


def page_text(response: Any) -> str:
    return response.get_data(as_text=True)


def location(response: Any) -> str:
    return response.headers["Location"]
