"""Shared fixtures for real components: a throwaway PostgreSQL server and a local SMTP server.

PostgreSQL comes from the binaries on the machine (.ci/run installs them when missing); a test that
needs it fails, never skips, when they are absent. The server refuses to run as root, so as root
it runs as the `postgres` system user, with its data in a temporary directory that user owns.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from email import message_from_bytes
from email.message import Message
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from tools.repository import ENVIRONMENTS


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def postgres_bin_dir() -> Path:
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not candidates:
        pytest.fail("PostgreSQL binaries (initdb, pg_ctl) not found: run .ci/run, which installs them")
    return Path(candidates[-1]).parent


class PostgresServer:
    """One PostgreSQL cluster on 127.0.0.1:<free port>, trust auth, superuser `postgres`."""

    def __init__(self) -> None:
        self.bin = postgres_bin_dir()
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="notejam-pg-"))
        self.data = self.root / "data"
        self.as_root = os.geteuid() == 0
        if self.as_root:
            shutil.chown(self.root, user="postgres", group="postgres")
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")

    def _run(self, tool: str, *args: str) -> None:
        command = [str(self.bin / tool), *args]
        if self.as_root:
            command = ["runuser", "-u", "postgres", "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, check=False, timeout=120)
        if result.returncode != 0:
            raise RuntimeError(f"{tool} failed ({result.returncode}): {result.stderr or result.stdout}")

    def start(self, *settings: str) -> None:
        """Start the server; `settings` are extra `name=value` server settings (postgres -c)."""
        options = " ".join([f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off",
                            *(f"-c {setting}" for setting in settings)])  # fmt: skip
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.root / "log"), "-w", "start")

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg2://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        import psycopg2

        connection = psycopg2.connect(host="127.0.0.1", port=self.port, user="postgres", dbname="postgres")
        connection.autocommit = True
        with connection.cursor() as cursor:
            # A session fixture set up again (a parallel worker's modules switch backends) starts from scratch.
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            cursor.execute(f'CREATE DATABASE "{name}"')
        connection.close()
        return self.url(name)

    def destroy(self) -> None:
        try:
            self.stop()
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


@contextmanager
def running_postgres() -> Iterator[PostgresServer]:
    """A started PostgresServer, destroyed afterwards."""
    server = PostgresServer()
    server.start()
    try:
        yield server
    finally:
        server.destroy()


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
