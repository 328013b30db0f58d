"""Start the control plane's processes in the background and stop them by PID.

Each process runs in its own session (so it outlives `make cluster`), logs to `<state>/logs/<name>.log` and
records its PID in `<state>/pids/<name>.pid`; stopping sends SIGTERM to that PID's process group, then SIGKILL.

    python -m tools.cluster.processes --state .cache/cluster list
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

# Below Linux's ephemeral range (32768-60999): a port the kernel hands out to outgoing connections (the control
# plane makes hundreds) could be taken between choosing it and the server binding it.
PORT_RANGE = (20000, 32000)


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on, outside the ephemeral range."""
    while True:
        port = random.randrange(*PORT_RANGE)  # noqa: S311 - not a secret
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port


def wait_for(what: str, ready: Callable[[], bool], timeout: float, process: subprocess.Popen | None = None) -> None:
    """Poll `ready` until it returns True; fail early if `process` exits, with a clear message on timeout."""
    deadline = time.monotonic() + timeout
    last = "not ready"
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{what}: the process exited with {process.returncode} (see its log)")
        try:
            if ready():
                return
        except OSError as error:
            last = str(error)
        time.sleep(0.2)
    raise TimeoutError(f"{what}: not ready after {timeout:.0f} s ({last[:300]})")


def port_open(port: int) -> Callable[[], bool]:
    def check() -> bool:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True

    return check


class Processes:
    """The background processes of one control plane, recorded under `state`."""

    def __init__(self, state: Path) -> None:
        self.state = state
        self.logs = state / "logs"
        self.pids = state / "pids"

    def start(self, name: str, command: Sequence[str], env: dict[str, str] | None = None) -> subprocess.Popen:
        self.logs.mkdir(parents=True, exist_ok=True)
        self.pids.mkdir(parents=True, exist_ok=True)
        with (self.logs / f"{name}.log").open("ab") as log:
            process = subprocess.Popen(  # noqa: S603 - our own binaries
                list(command),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        (self.pids / f"{name}.pid").write_text(f"{process.pid}\n")
        return process

    def running(self) -> dict[str, int]:
        """`{name: pid}` of the recorded processes that are still alive."""
        alive = {}
        for pid_file in sorted(self.pids.glob("*.pid")) if self.pids.is_dir() else []:
            pid = int(pid_file.read_text())
            if _alive(pid):
                alive[pid_file.stem] = pid
        return alive

    def stop_all(self, timeout: float = 15) -> list[str]:
        """Stop every recorded process (newest first), by its PID's process group; return the names stopped."""
        if not self.pids.is_dir():
            return []
        pid_files = sorted(self.pids.glob("*.pid"), key=lambda p: p.stat().st_mtime_ns, reverse=True)
        stopped = []
        for pid_file in pid_files:
            pid = int(pid_file.read_text())
            if _alive(pid):
                _signal_group(pid, signal.SIGTERM)
                deadline = time.monotonic() + timeout
                while _alive(pid) and time.monotonic() < deadline:
                    time.sleep(0.1)
                if _alive(pid):
                    _signal_group(pid, signal.SIGKILL)
                stopped.append(pid_file.stem)
            pid_file.unlink()
        return stopped


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child of ours counts as gone: reap it.
    with contextlib.suppress(ChildProcessError):
        waited, _ = os.waitpid(pid, os.WNOHANG)
        if waited == pid:
            return False
    return True


def _signal_group(pid: int, sig: signal.Signals) -> None:
    # Our processes lead their own session, so the group id is the PID: this reaches their children too.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, sig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--state", type=Path, required=True, help="the control plane's state folder")
    parser.add_argument("action", choices=["list", "stop"])
    args = parser.parse_args(argv)
    processes = Processes(args.state)
    if args.action == "list":
        for name, pid in processes.running().items():
            print(f"{pid}\t{name}")
    else:
        print("stopped: " + (", ".join(processes.stop_all()) or "nothing was running"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
