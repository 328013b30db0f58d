"""Requests per second and latency percentiles for a few Notejam pages (`make bench`).

Starts the app the way the container does (gunicorn with notejam.gunicorn_conf) on a migrated SQLite
file in a temporary directory, signs up a user with a few notes, then hits each page from several
client threads and prints a table. Figures only: nothing is asserted; compare runs on one machine.
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
CSRF_FIELD = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


@contextmanager
def served_app(workers: int) -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="notejam-bench-") as tmp:
        env = {
            "PATH": os.environ.get("PATH", ""),
            "PYTHONPATH": str(REPO / "src"),
            "HOME": tmp,
            "SECRET_KEY": "bench-secret",
            "DB_URI": f"sqlite:///{tmp}/bench.sqlite",
            "PROMETHEUS_MULTIPROC_DIR": f"{tmp}/prometheus",
            "LOG_LEVEL": "WARNING",
            "PROBE_PORT": str(_free_port()),  # the default 8001 may be taken
        }
        migrate = [BIN / "flask", "--app", "notejam", "db", "upgrade"]
        subprocess.run(migrate, env=env, check=True, capture_output=True)  # noqa: S603 - our own fixed argv
        port = _free_port()
        command = [BIN / "gunicorn", "--config", "python:notejam.gunicorn_conf", "--bind", f"127.0.0.1:{port}"]
        command += ["--workers", str(workers), "--access-logfile", "/dev/null", "notejam:create_app()"]
        server = subprocess.Popen(  # noqa: S603 - our own fixed argv
            command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        base = f"http://127.0.0.1:{port}"
        try:
            _wait_until_up(base, server)
            yield base
        finally:
            server.terminate()
            server.wait(timeout=40)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_until_up(base: str, server: subprocess.Popen) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"gunicorn exited with {server.returncode}")
        try:
            if requests.get(base + "/readyz", timeout=2).status_code == 200:
                return
        except requests.ConnectionError:
            time.sleep(0.2)
    raise SystemExit("gunicorn did not become ready in 30 s")


def _post_form(session: requests.Session, url: str, data: dict[str, str]) -> requests.Response:
    token = CSRF_FIELD.search(session.get(url).text)
    if token is None:
        raise SystemExit(f"no form at {url}")
    return session.post(url, data={**data, "csrf_token": token.group(1)}, allow_redirects=False)


def seed(base: str, notes: int) -> tuple[dict[str, str], str]:
    """A signed-in user with `notes` notes: its cookies and one note's path."""
    session = requests.Session()
    account = {"email": "bench@example.com", "password": "bench password"}
    _post_form(session, base + "/signup/", {**account, "repeat_password": account["password"]})
    _post_form(session, base + "/signin/", account)
    for number in range(notes):
        _post_form(session, base + "/notes/create/", {"name": f"Note {number}", "text": "bench " * 50, "pad": ""})
    note = re.search(r'href="(/notes/\d+/)"', session.get(base + "/").text)
    if note is None:
        raise SystemExit("seeding failed: no note in the list")
    return session.cookies.get_dict(), note.group(1)


def measure(url: str, total: int, concurrency: int, cookies: dict[str, str]) -> tuple[float, list[float]]:
    """(requests per second, latencies in ms) for `total` GETs from `concurrency` threads."""
    latencies: list[float] = []
    lock = threading.Lock()

    def client(count: int) -> None:
        session = requests.Session()
        session.cookies.update(cookies)
        mine = []
        for _ in range(count):
            started = time.perf_counter()
            response = session.get(url, allow_redirects=False)
            mine.append((time.perf_counter() - started) * 1000)
            response.raise_for_status()
        with lock:
            latencies.extend(mine)

    shares = [total // concurrency + (1 if i < total % concurrency else 0) for i in range(concurrency)]
    threads = [threading.Thread(target=client, args=(share,)) for share in shares]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return total / (time.perf_counter() - started), latencies


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.requests", description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=500, help="requests per page (default 500)")
    parser.add_argument("--concurrency", type=int, default=4, help="client threads (default 4)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (default 2)")
    parser.add_argument("--notes", type=int, default=20, help="notes in the benchmark account (default 20)")
    args = parser.parse_args(argv)

    with served_app(args.workers) as base:
        cookies, note = seed(base, args.notes)
        pages = [
            ("/healthz", {}),
            ("/readyz", {}),
            ("/signin/", {}),
            (f"/ ({args.notes} notes)", cookies),
            (note, cookies),
        ]
        print(f"gunicorn workers={args.workers}, client threads={args.concurrency}, {args.requests} requests/page")
        print(f"{'page':<22}{'req/s':>10}{'p50 ms':>10}{'p90 ms':>10}{'p99 ms':>10}")
        for label, page_cookies in pages:
            path = label.split(" ")[0]
            rate, latencies = measure(base + path, args.requests, args.concurrency, page_cookies)
            row = [percentile(latencies, q) for q in (0.5, 0.9, 0.99)]
            print(f"{label:<22}{rate:>10.1f}" + "".join(f"{value:>10.1f}" for value in row))


if __name__ == "__main__":
    main()
