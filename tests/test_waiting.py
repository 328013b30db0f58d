"""tools/waiting.py: a server that dies, or never answers, is an error with its log, within the time given."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from tests.conftest import free_port
from tools.waiting import listening, serving, wait_until


def test_a_process_that_exits_before_it_is_ready_is_an_error_with_its_log(tmp_path: Path) -> None:
    command = [sys.executable, "-c", "print('no such setting'); raise SystemExit(3)"]
    started = time.monotonic()
    with (
        pytest.raises(RuntimeError, match=r"exited with 3:\nno such setting"),
        serving(command, lambda: False, tmp_path / "log", timeout=30),
    ):
        pass
    assert time.monotonic() - started < 10


def test_a_process_that_never_answers_times_out_with_its_log(tmp_path: Path) -> None:
    command = [sys.executable, "-c", "import time; print('starting', flush=True); time.sleep(60)"]
    with (
        pytest.raises(TimeoutError, match=r"not after 1 s:\nstarting"),
        serving(command, lambda: False, tmp_path / "log", timeout=1),
    ):
        pass


def test_the_block_runs_while_the_server_listens_and_stops_it_after(tmp_path: Path) -> None:
    port = free_port()
    command = [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(port)]
    with serving(command, lambda: listening(port), tmp_path / "log") as process:
        assert listening(port)
    assert process.returncode is not None
    assert wait_until("the port free", lambda: not listening(port), 10)
