"""Requests per second, latency and SQL queries of Notejam's main pages, against a bare Flask app (`make bench`).

One run, one machine, so the ratios hold anywhere:
1. a throwaway PostgreSQL (tools/postgres.py, as the tests use), one database per app version;
2. gunicorn with the repository's config (`python:notejam.gunicorn_conf`) serving this tree's Notejam, a bare Flask
   "hello" app (bench/hello.py) and, per `--base <git ref>` (repeatable), that ref's Notejam (`git archive` into a
   temp dir), named by the ref;
3. each Notejam signed up and seeded through its own forms (`--notes` notes spread over `--pads` pads), and its
   database ANALYZEd, so that every statement is planned with statistics, as in a database in service;
4. per page, with vegeta (the pinned load generator in .tools/bin): the peak (as fast as `--connections` clients
   go), then a constant rate of half that peak; requests/s, p50/p99 latency at both, and the gunicorn processes'
   CPU per request (their utime+stime over the peak run: what `make capacity` turns into per-pod capacity);
   `--rounds` rounds over every app and page, interleaved, and per page the round with the median peak is kept
   (a shared machine's speed drifts by a factor of two within minutes: interleaving moves every app alike);
5. SQL queries per page, counted in-process (bench/query_count.py) with each version's own code;
6. each app's CPU per request called in one process, without gunicorn (bench/in_process.py), and PostgreSQL's over
   the same requests: what is the app's own, apart from the server's share that every app under gunicorn pays.

vegeta reaches gunicorn over a Unix socket (gunicorn listens on 127.0.0.1 too, for seeding). Like the ALB, it opens a
connection per request (sync workers close each one). Over loopback TCP, requests stalled for whole seconds (half-peak
p99 of 2.6 s for bare Flask and 4.5 s for a page in a run of 6 Dec 2026, the kernel's SYN-retransmit delays of 1 and
3 s), most likely new connections colliding with the tens of thousands that 3,000 requests/s leave in TIME_WAIT; over
the socket they do not, and the figures measure the app rather than the loopback's port reuse.

Prints a table and the ratios, and writes everything as JSON (`--output`). Figures only: nothing is asserted.
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from bench.in_process import process_tree_cpu_seconds
from tools.gunicorn_settings import resolve
from tools.manifests import tool_path
from tools.postgres import PostgresServer, free_port

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
CSRF_FIELD = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
ACCOUNT = {"email": "bench@example.com", "password": "bench password"}
SECRET_KEY = "bench-secret"  # noqa: S105 - a throwaway server's signing key
# One browser signs in and then browses, from one address. Flask-Login marks a session seen from another browser or
# address "not fresh", and vegeta keeps no cookies, so every measured request would re-sign the session cookie.
# The address is the one the ALB would put in X-Forwarded-For (ProxyFix trusts one hop): seeding comes over TCP,
# the load over the Unix socket, where gunicorn sees no client address of its own.
CLIENT_HEADERS = {"User-Agent": "notejam-bench", "X-Forwarded-For": "192.0.2.10"}


@dataclass
class Served:
    """One gunicorn serving one app: its URL, its master pid, the pages to measure (label -> path)."""

    name: str
    base: str
    pid: int
    src: Path
    socket: Path  # what vegeta connects to (gunicorn also listens on `base`, for seeding)
    database_url: str | None = None
    cookie: str = ""
    pages: dict[str, str] = field(default_factory=dict)


def _env(src: Path, tmp: Path, database_url: str | None) -> dict[str, str]:
    env = {
        "PATH": f"{BIN}:{os.environ.get('PATH', '')}",
        "PYTHONPATH": f"{src}:{REPO}",
        "HOME": str(tmp),
        "SECRET_KEY": SECRET_KEY,
        "PROMETHEUS_MULTIPROC_DIR": str(tmp / "prometheus"),
        "LOG_LEVEL": "WARNING",
        "PROBE_PORT": str(free_port()),  # probes have a port of their own; the default 8001 may be taken
    }
    return env | ({"DB_URI": database_url} if database_url else {})


@contextmanager
def gunicorn(
    name: str,
    app: str,
    src: Path,
    database_url: str | None,
    workers: int | None,
    config: str = "notejam.gunicorn_conf",
    extra_env: dict[str, str] | None = None,
) -> Iterator[Served]:
    """`app` served by gunicorn with `src`'s `config` module; access log formatted but thrown away."""
    with tempfile.TemporaryDirectory(prefix=f"notejam-bench-{name}-") as tmp_name:
        tmp = Path(tmp_name)
        env = _env(src, tmp, database_url) | (extra_env or {})
        if database_url:
            migrate = [BIN / "flask", "--app", "notejam", "db", "upgrade"]
            subprocess.run(migrate, env=env, check=True, capture_output=True, cwd=tmp)  # noqa: S603 - fixed argv
        port, unix_socket = free_port(), tmp / "gunicorn.sock"
        while str(port) == env["PROBE_PORT"]:  # two free ports asked one after the other may be the same one
            port = free_port()
        command = [BIN / "gunicorn", "--config", f"python:{config}", "--bind", f"127.0.0.1:{port}"]
        command += ["--bind", f"unix:{unix_socket}"]
        command += ["--access-logfile", "/dev/null", *(["--workers", str(workers)] if workers else []), app]
        log = (tmp / "gunicorn.log").open("w")
        server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=tmp)  # noqa: S603
        base = f"http://127.0.0.1:{port}"
        try:
            _wait_until_up(base, server, tmp / "gunicorn.log")
            yield Served(name=name, base=base, pid=server.pid, src=src, socket=unix_socket, database_url=database_url)
        finally:
            server.terminate()
            server.wait(timeout=40)
            log.close()


def _wait_until_up(base: str, server: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"gunicorn exited with {server.returncode}:\n{log.read_text()[-2000:]}")
        try:
            if requests.get(base + "/", timeout=5, allow_redirects=False).status_code < 500:
                return
        except requests.RequestException:  # not listening yet, or no worker booted yet to answer
            time.sleep(0.2)
    raise SystemExit("gunicorn did not answer within 60 s")


@contextmanager
def base_tree(ref: str) -> Iterator[Path]:
    """`src/` of git ref `ref`, extracted with `git archive` into a temp dir."""
    with tempfile.TemporaryDirectory(prefix="notejam-bench-base-") as tmp:
        command = ["git", "archive", "--format=tar", ref, "src"]
        archive = subprocess.run(command, cwd=REPO, capture_output=True, check=False)  # noqa: S603 - fixed argv
        if archive.returncode != 0:
            raise SystemExit(f"git archive {ref} failed: {archive.stderr.decode().strip()}")
        with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
            tar.extractall(tmp, filter="data")
        yield Path(tmp) / "src"


def _post_form(session: requests.Session, url: str, data: dict[str, str]) -> requests.Response:
    token = CSRF_FIELD.search(session.get(url).text)
    if token is None:
        raise SystemExit(f"no form at {url}")
    response = session.post(url, data={**data, "csrf_token": token.group(1)}, allow_redirects=False)
    if response.status_code != 302:
        raise SystemExit(f"POST {url} answered {response.status_code}, not a redirect: seeding failed")
    return response


def seed(served: Served, notes: int, pads: int) -> None:
    """Sign up and in through the app's own forms, create `pads` pads and `notes` notes spread over them."""
    session = requests.Session()
    session.headers.update(CLIENT_HEADERS)
    base = served.base
    _post_form(session, base + "/signup/", {**ACCOUNT, "repeat_password": ACCOUNT["password"]})
    _post_form(session, base + "/signin/", ACCOUNT)
    pad_ids = []
    for number in range(pads):
        location = _post_form(session, base + "/pads/create/", {"name": f"Pad {number}"}).headers["Location"]
        pad_ids.append(re.search(r"/pads/(\d+)/", location).group(1))  # type: ignore[union-attr]
    for number in range(notes):
        pad = pad_ids[number % len(pad_ids)] if pad_ids else ""
        _post_form(session, base + "/notes/create/", {"name": f"Note {number}", "text": "bench " * 50, "pad": pad})
    note = re.search(r'href="(/notes/\d+/)"', session.get(base + "/").text)
    if note is None:
        raise SystemExit("seeding failed: no note in the list")
    served.cookie = "; ".join(f"{name}={value}" for name, value in session.cookies.get_dict().items())
    served.pages = {"all notes": "/", "pad": f"/pads/{pad_ids[0]}/" if pad_ids else "/", "note": note[1]}


def _client_headers(served: Served) -> dict[str, str]:
    return CLIENT_HEADERS | ({"Cookie": served.cookie} if served.cookie else {})


def check_no_cookie_is_set(served: Served) -> None:
    """Each page, asked over the Unix socket as vegeta asks it, must not set a cookie: a measured request that
    re-signs the session (it looked like another browser, or a flash was left unread) measures the signing."""
    for path in served.pages.values():
        connection = http.client.HTTPConnection("localhost")
        connection.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        connection.sock.connect(str(served.socket))
        connection.request("GET", path, headers=_client_headers(served))
        response = connection.getresponse()
        response.read()
        connection.close()
        if response.status != 200 or response.getheader("Set-Cookie"):
            raise SystemExit(f"{served.name} {path}: {response.status}, Set-Cookie {response.getheader('Set-Cookie')}")


def attack(served: Served, path: str, duration: str, rate: float | None, connections: int) -> dict[str, Any]:
    """vegeta against one page: `rate` requests/s, or as fast as `connections` clients go when `rate` is None."""
    with tempfile.TemporaryDirectory(prefix="notejam-vegeta-") as tmp:
        targets = Path(tmp) / "targets"
        headers = "".join(f"{name}: {value}\n" for name, value in _client_headers(served).items())
        targets.write_text(f"GET {served.base}{path}\n{headers}")
        pace = ["-rate=0", f"-max-workers={connections}"] if rate is None else [f"-rate={max(round(rate), 1)}/1s"]
        command = [tool_path("vegeta"), "attack", f"-targets={targets}", f"-duration={duration}", *pace]
        command += [f"-workers={connections}", "-keepalive=false", "-redirects=-1", "-timeout=30s"]
        command += [f"-unix-socket={served.socket}"]  # not loopback TCP: see the module's docstring
        command += [f"-output={tmp}/results.bin"]
        cpu_before = process_tree_cpu_seconds(served.pid)
        subprocess.run(command, check=True, capture_output=True)  # noqa: S603 - fixed argv
        cpu = process_tree_cpu_seconds(served.pid) - cpu_before
        report = subprocess.run(  # noqa: S603 - fixed argv
            [tool_path("vegeta"), "report", "-type=json", f"{tmp}/results.bin"], check=True, capture_output=True
        )
    figures = json.loads(report.stdout)
    ok = figures["requests"] * figures["success"]
    return {
        "requests_per_second": figures["throughput"],
        "p50_ms": figures["latencies"]["50th"] / 1e6,
        "p99_ms": figures["latencies"]["99th"] / 1e6,
        "success": figures["success"],
        "status_codes": figures["status_codes"],
        "errors": figures["errors"][:5],
        "cpu_ms_per_request": cpu * 1000 / ok if ok else None,
    }


def query_counts(served: Served) -> dict[str, int]:
    """SQL queries per page, counted in a Python that imports this version's notejam (bench/query_count.py)."""
    command = [sys.executable, "-m", "bench.query_count", "--database-url", str(served.database_url)]
    command += ["--email", ACCOUNT["email"], "--password", ACCOUNT["password"]]
    command += [f"{label}={path}" for label, path in served.pages.items()]
    env = os.environ | {"PYTHONPATH": f"{served.src}:{REPO}", "SECRET_KEY": SECRET_KEY, "LOG_LEVEL": "WARNING"}
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)  # noqa: S603
    if result.returncode != 0:
        raise SystemExit(f"counting queries of {served.name} failed:\n{result.stderr[-2000:]}")
    return json.loads(result.stdout)


def in_process_cpu(served: Served, wsgi_app: str, postgres_pid: int | None, requests: int) -> dict[str, Any]:
    """CPU per request of `wsgi_app` (gunicorn's syntax) called in one process, without gunicorn, and PostgreSQL's over
    the same requests (bench/in_process.py), in a Python that imports this version's code."""
    command = [sys.executable, "-m", "bench.in_process", "--app", wsgi_app, "--requests", str(requests)]
    command += ["--cookie", served.cookie] if served.cookie else []
    command += [f"--header={name}={value}" for name, value in CLIENT_HEADERS.items()]
    command += ["--postgres-pid", str(postgres_pid)] if postgres_pid and served.database_url else []
    command += [f"{label}={path}" for label, path in served.pages.items()]
    with tempfile.TemporaryDirectory(prefix=f"notejam-in-process-{served.name}-") as tmp:
        (Path(tmp) / "prometheus").mkdir()
        env = os.environ | _env(served.src, Path(tmp), served.database_url)
        result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)  # noqa: S603
    if result.returncode != 0:
        raise SystemExit(f"measuring {served.name} in one process failed:\n{result.stderr[-2000:]}")
    return json.loads(result.stdout)


def measure(served: Served, path: str, args: argparse.Namespace, warm_up: bool) -> dict[str, Any]:
    if warm_up:  # imports, template compilation, the pool's connections
        attack(served, path, args.duration, None, args.connections)
    peak = attack(served, path, args.duration, None, args.connections)
    half = attack(served, path, args.duration, peak["requests_per_second"] / 2, args.connections)
    return {"path": path, "peak": peak, "half_peak": half}


def median_round(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """The round whose peak requests/s is the median, with every round's peak requests/s and CPU per request."""
    ordered = sorted(rounds, key=lambda figures: figures["peak"]["requests_per_second"])
    chosen = ordered[(len(ordered) - 1) // 2]
    return chosen | {
        "rounds": {
            "requests_per_second": [r["peak"]["requests_per_second"] for r in rounds],
            "cpu_ms_per_request": [r["peak"]["cpu_ms_per_request"] for r in rounds],
        }
    }


def _ratio(numerator: float | None, denominator: float | None) -> float | None:
    return round(numerator / denominator, 3) if numerator and denominator else None


def report(results: dict[str, Any]) -> dict[str, float | None]:
    """Print the table and return the ratios the targets are stated in."""
    print(
        f"{'app':<9}{'page':<18}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'½ p50':>9}{'½ p99':>9}{'cpu ms':>8}{'SQL':>5}"
    )
    for app, pages in results["apps"].items():
        for label, page in pages["pages"].items():
            peak, half = page["peak"], page["half_peak"]
            queries = pages.get("queries", {}).get(label, "")
            cpu = peak["cpu_ms_per_request"]
            cells = [peak["requests_per_second"], peak["p50_ms"], peak["p99_ms"], half["p50_ms"], half["p99_ms"]]
            row = "".join(f"{value:>9.1f}" for value in cells) + f"{cpu or 0:>8.2f}{queries!s:>5}"
            print(f"{app:<9}{label:<18}{row}")
    apps = results["apps"]
    rate = {
        app: {label: p["peak"]["requests_per_second"] for label, p in v["pages"].items()} for app, v in apps.items()
    }
    cpu = {app: {label: p["peak"]["cpu_ms_per_request"] for label, p in v["pages"].items()} for app, v in apps.items()}
    hello = rate["hello"]["hello"]
    bases = [app for app in apps if app not in ("head", "hello")]
    ratios: dict[str, float | None] = {}
    for label, value in rate["head"].items():
        ratios[f"{label} / bare Flask"] = _ratio(value, hello)
        for base in bases:
            ratios[f"{label} / {base}"] = _ratio(value, rate[base].get(label))
    print("requests/s ratios: " + ", ".join(f"{name} {value}" for name, value in ratios.items()))
    # CPU per request, the figure `make capacity` uses: the mean over the pages, this tree's against each base's.
    means = {app: round(sum(cpu[app].values()) / len(cpu[app]), 3) for app in ("head", *bases)}
    for base in bases:
        ratios[f"CPU per request / {base}"] = _ratio(means["head"], means[base])
    print("CPU ms per request, mean of the pages: " + ", ".join(f"{app} {value}" for app, value in means.items()))
    ratios |= _in_process_report(apps, bases)
    return ratios


def _in_process_report(apps: dict[str, Any], bases: list[str]) -> dict[str, float | None]:
    """The apps' CPU per request in one process, without gunicorn (bench/in_process.py), and PostgreSQL's."""
    print(f"in one process, without gunicorn:\n{'app':<9}{'page':<18}{'app ms':>9}{'PostgreSQL ms':>15}")
    for app, pages in apps.items():
        for label, figures in pages["in_process"].items():
            postgres = "" if figures["postgres_ms"] is None else f"{figures['postgres_ms']:.3f}"
            print(f"{app:<9}{label:<18}{figures['app_ms']:>9.3f}{postgres:>15}")
    ratios: dict[str, float | None] = {}
    for kind, name in (("app_ms", "app"), ("postgres_ms", "PostgreSQL")):
        means = {app: statistics.mean(p[kind] for p in apps[app]["in_process"].values()) for app in ("head", *bases)}
        for base in bases:
            ratios[f"{name} CPU per request in one process / {base}"] = _ratio(means["head"], means[base])
    print("in one process: " + ", ".join(f"{name} {value}" for name, value in ratios.items()))
    return ratios


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.pages", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--base", action="append", default=[], help="git ref to measure side by side (repeatable; e.g. d47c589)"
    )
    parser.add_argument("--notes", type=int, default=100, help="notes in the benchmark account (default 100)")
    parser.add_argument("--pads", type=int, default=5, help="pads the notes are spread over (default 5)")
    parser.add_argument("--connections", type=int, default=8, help="concurrent clients at peak (default 8)")
    parser.add_argument("--duration", default="10s", help="per measurement, vegeta syntax (default 10s)")
    parser.add_argument("--workers", type=int, help="gunicorn workers (default: what notejam.gunicorn_conf says)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds over every app and page; the median is kept")
    parser.add_argument(
        "--in-process-requests", type=int, default=2000, help="requests per page and repeat in one process (2000)"
    )
    parser.add_argument("--output", type=Path, default=REPO / ".cache" / "bench.json", help="JSON figures")
    args = parser.parse_args(argv)

    settings = resolve()
    workers = args.workers or settings["workers"]
    print(
        f"gunicorn {settings['worker_class']} x {workers} (threads {settings['threads']}), vegeta with "
        f"{args.connections} connections, {args.duration} per figure; {args.notes} notes in {args.pads} pads"
    )
    database = PostgresServer()
    database.start()
    results: dict[str, Any] = {
        "machine_cpus": len(os.sched_getaffinity(0)),
        "gunicorn": settings | {"workers": workers},
        "connections": args.connections,
        "duration": args.duration,
        "rounds": args.rounds,
        "notes": args.notes,
        "pads": args.pads,
        "base_refs": args.base,
        "apps": {},
    }
    try:
        with ExitStack() as stack:
            apps = [("head", REPO / "src")]
            apps += [(ref, stack.enter_context(base_tree(ref))) for ref in args.base]
            servers = []
            for number, (name, src) in enumerate(apps):
                database_name = f"bench_{number}"
                url = database.create_database(database_name)
                served = stack.enter_context(gunicorn(name, "notejam:create_app()", src, url, args.workers))
                seed(served, args.notes, args.pads)
                # Statistics, as in service, before anything is measured. Without them, PostgreSQL planned this
                # tree's note page (the user, their pads and the note in one statement) to read the user's notes
                # once per pad, not the note by its key: 122 against 76 µs of the server's CPU a page (7 Dec 2026).
                database.analyze(database_name)
                check_no_cookie_is_set(served)
                servers.append(served)
            hello = stack.enter_context(gunicorn("hello", "bench.hello:app", REPO / "src", None, args.workers))
            hello.pages = {"hello": "/"}
            check_no_cookie_is_set(hello)
            rounds: dict[tuple[str, str], list[dict[str, Any]]] = {}
            for served in [hello, *servers]:
                entry = results["apps"].setdefault(served.name, {"pages": {}})
                if served.database_url:
                    entry["queries"] = query_counts(served)
                wsgi_app = "notejam:create_app()" if served.database_url else "bench.hello:app"
                entry["in_process"] = in_process_cpu(served, wsgi_app, database.pid(), args.in_process_requests)
            # Rounds interleave the apps, so that a machine whose speed drifts (a shared VM) moves every app alike.
            for number in range(args.rounds):
                for served in [hello, *servers]:
                    for label, path in served.pages.items():
                        figures = measure(served, path, args, warm_up=number == 0)
                        rounds.setdefault((served.name, label), []).append(figures)
            for (name, label), figures_by_round in rounds.items():
                results["apps"][name]["pages"][label] = median_round(figures_by_round)
    finally:
        database.destroy()
    results["ratios"] = report(results)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    print(f"figures written to {args.output}")


if __name__ == "__main__":
    main()
