"""Waiting, in one place: poll a condition until it holds, and run a server process from the moment it answers.

The tools and tests use these, never a loop of their own: `wait_until` for a condition (a CRD established, a port
free, an Application synced), `serving` for a process we start and talk to (gunicorn, the composition function,
`make run`), `listening` and `answers` as its readiness checks.
"""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


def wait_until(what: str, done: Callable[[], T], timeout: float, every: float = 0.2) -> T:
    """Poll `done` until it returns something true, and return that; a TimeoutError naming `what` after `timeout` s.
    An exception `done` raises ends the wait at once (a process that exited, say)."""
    deadline = time.monotonic() + timeout
    while not (found := done()):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not after {timeout:.0f} s")
        time.sleep(every)
    return found


def listening(port: int, host: str = "127.0.0.1") -> bool:
    """Whether something accepts connections on `host:port`."""
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def answers(url: str) -> bool:
    """Whether `url` answers 200 (a 503 of a readiness probe, or no server yet, is not)."""
    try:
        with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - our own local servers
            return response.status == 200
    except OSError:
        return False


@contextmanager
def serving(
    command: Sequence[str | Path], ready: Callable[[], bool], log: Path, timeout: float = 30, **popen: Any
) -> Iterator[subprocess.Popen]:
    """Start `command` (stdout and stderr into `log`; `popen`: cwd, env), enter the block once `ready()` holds, and
    stop the process (SIGTERM, then wait) when the block ends. A process that exits before it is ready, or is not
    ready within `timeout` s, is an error carrying its log."""
    name = Path(command[0]).name
    with log.open("w") as output:
        process = subprocess.Popen([str(part) for part in command], stdout=output, stderr=subprocess.STDOUT, **popen)  # noqa: S603

    def up() -> bool:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with {process.returncode}:\n{log.read_text()}")
        return ready()

    try:
        try:
            wait_until(f"{name} ready", up, timeout)
        except TimeoutError as error:
            raise TimeoutError(f"{error}:\n{log.read_text()}") from None
        yield process
    finally:
        process.terminate()
        process.wait(timeout=40)
