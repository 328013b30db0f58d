"""Shared fixtures for real components: a throwaway PostgreSQL server (tools/postgres.py, which `make bench` uses
too) and a local SMTP server.

PostgreSQL comes from the binaries on the machine (.ci/run installs them when missing); a test that
needs it fails, never skips, when they are absent.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from email import message_from_bytes
from email.message import Message

import pytest
from aiosmtpd.controller import Controller

from tools.postgres import PostgresServer, free_port, running_postgres
from tools.repository import ENVIRONMENTS

# Tests import these from here.
__all__ = ["PostgresServer", "free_port", "running_postgres"]


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    with running_postgres() as server:
        yield server


class Mailbox:
    """aiosmtpd handler keeping every message it receives."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.received = threading.Event()

    async def handle_DATA(self, server, session, envelope) -> str:
        self.messages.append(message_from_bytes(envelope.original_content or envelope.content))
        self.received.set()
        return "250 Message accepted for delivery"

    def clear(self) -> None:
        self.messages.clear()
        self.received.clear()


class SmtpServer:
    def __init__(self, host: str, port: int, mailbox: Mailbox) -> None:
        self.host, self.port, self.mailbox = host, port, mailbox


@pytest.fixture(scope="session")
def smtp_server() -> Iterator[SmtpServer]:
    mailbox = Mailbox()
    port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield SmtpServer("127.0.0.1", port, mailbox)
    finally:
        controller.stop()


@pytest.fixture
def mailbox(smtp_server: SmtpServer) -> Iterator[Mailbox]:
    smtp_server.mailbox.clear()
    yield smtp_server.mailbox
    smtp_server.mailbox.clear()


# -- parallel workers (pytest-xdist, `-n N` in the Makefile) --------------------------------------------------------
# Each test module runs whole on one worker, so module and session fixtures (a gunicorn, a browser, a Renovate
# extraction) are set up once, as in a serial run; each environment's live tests (several modules sharing one
# control plane) run together on one worker, and first: they wait on Argo CD far more than they compute, so the
# other workers run the rest meanwhile. (xdist's own `loadgroup` cannot say this: with pytest 9 its group marks are
# lost, as it renames `item._nodeid`, which pytest 9 no longer reads.)


def worker_scope(nodeid: str) -> str:
    """The unit of work one worker takes whole: `live-<env>` for a live test, else the test's module."""
    module = nodeid.split("::", 1)[0]
    if module.startswith("tests/live/") and nodeid.endswith("]"):
        for param in nodeid.rsplit("[", 1)[1][:-1].split("-"):
            if param in ENVIRONMENTS:
                return f"live-{param}"
    return module


def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object:
    from xdist.scheduler import LoadScopeScheduling

    class WorkerScopes(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return worker_scope(nodeid)

    return WorkerScopes(config, log)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # After pytest's own reordering (tests grouped by session-fixture parameter) and before xdist sends the
    # collection to the scheduler, which hands out scopes in this order: the live ones first, each in its order.
    items.sort(key=lambda item: not worker_scope(item.nodeid).startswith("live-"))
