"""The data: users, their pads and their notes (SQLAlchemy 2 declarative models)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple

from sqlalchemy import DateTime, ForeignKey, Integer, MetaData, String, Text, TypeDecorator
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

# Named constraints keep Alembic migrations identical on PostgreSQL and SQLite.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
# Ids are 32-bit integers: a larger id in a URL cannot exist, and is answered 404 before any query.
MAX_ID = 2**31 - 1
NAME_MAX_LENGTH = 100
EMAIL_MAX_LENGTH = 254


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC in Python on every backend (SQLite stores naive text, PostgreSQL timestamptz)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are ambiguous: pass a timezone-aware value")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Stored normalised (stripped, lower-case), so the unique index makes emails case-insensitive.
    email: Mapped[str] = mapped_column(String(EMAIL_MAX_LENGTH), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))

    pads: Mapped[list[Pad]] = relationship(back_populates="user", order_by="Pad.name")

    # Flask-Login protocol (the user signing in; later requests see a SignedInUser).
    is_active = True
    is_authenticated = True
    is_anonymous = False

    def get_id(self) -> str:
        return session_user_id(self.id, self.password_hash)


class Pad(Base):
    __tablename__ = "pads"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(NAME_MAX_LENGTH))

    user: Mapped[User] = relationship(back_populates="pads")
    notes: Mapped[list[Note]] = relationship(back_populates="pad", passive_deletes=True)


class Note(Base):
    __tablename__ = "notes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    # NULL means "no pad" (the historical apps stored 0 here and broke the foreign key).
    pad_id: Mapped[int | None] = mapped_column(ForeignKey("pads.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(NAME_MAX_LENGTH))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    pad: Mapped[Pad | None] = relationship(back_populates="notes")


class PadRow(NamedTuple):
    id: int
    name: str


class NoteRow(NamedTuple):
    """A note as the note page shows it."""

    id: int
    pad_id: int | None
    name: str
    updated_at: datetime
    text: str


@dataclass(frozen=True)
class SignedInUser:
    """The signed-in user as the pages see them: plain values, read with their pads in one query on every request
    (queries.signed_in_user), no ORM object. What changes the user (a new password) loads the User row."""

    id: int
    email: str
    password_hash: str
    pads: tuple[PadRow, ...]  # by name: the sidebar, the pad choice, the pad pages' ownership check

    # Flask-Login protocol.
    is_active = True
    is_authenticated = True
    is_anonymous = False

    def get_id(self) -> str:
        return session_user_id(self.id, self.password_hash)


def session_user_id(user_id: int, password_hash: str) -> str:
    """The id Flask-Login keeps in the session: it includes a fingerprint of the password hash, so changing the
    password signs out every other session."""
    return f"{user_id}:{password_fingerprint(password_hash)}"


def password_fingerprint(password_hash: str) -> str:
    """A short digest of the password hash: binds sessions and reset tokens to the current password."""
    return hashlib.sha256(password_hash.encode()).hexdigest()[:16]
