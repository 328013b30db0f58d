"""A throwaway PostgreSQL server from the binaries on this machine, for the tests and `make bench`.

The server refuses to run as root, so as root it runs as the `postgres` system user, with its data in a temporary
directory that user owns.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


class PostgresMissing(RuntimeError):
    pass


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
        raise PostgresMissing("PostgreSQL binaries (initdb, pg_ctl) not found: run .ci/run, which installs them")
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
        result = subprocess.run(command, capture_output=True, text=True, check=False, timeout=120)  # noqa: S603 - fixed argv
        if result.returncode != 0:
            raise RuntimeError(f"{tool} failed ({result.returncode}): {result.stderr or result.stdout}")

    def start(self, *settings: str) -> None:
        """Start the server; `settings` are extra `name=value` server settings (postgres -c)."""
        options = " ".join([f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off",
                            *(f"-c {setting}" for setting in settings)])  # fmt: skip
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.root / "log"), "-w", "start")

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def pid(self) -> int:
        """The running server's postmaster (the first line of its postmaster.pid)."""
        return int((self.data / "postmaster.pid").read_text().split()[0])

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg2://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        with self._cursor("postgres") as cursor:
            # A session fixture set up again (a parallel worker's modules switch backends) starts from scratch.
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            cursor.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def analyze(self, database: str) -> None:
        """Statistics for every table of `database`, as a database in service has them. Left to autovacuum, a table
        is analyzed once 50 of its rows changed, a minute or so later: a handful of seeded rows never get any."""
        with self._cursor(database) as cursor:
            cursor.execute("ANALYZE")

    @contextmanager
    def _cursor(self, database: str) -> Iterator[Any]:
        """A superuser's cursor on `database`, in autocommit (CREATE DATABASE refuses a transaction)."""
        import psycopg2

        connection = psycopg2.connect(host="127.0.0.1", port=self.port, user="postgres", dbname=database)
        connection.autocommit = True
        try:
            with connection.cursor() as cursor:
                yield cursor
        finally:
            connection.close()

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
