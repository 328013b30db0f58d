"""Where a request's CPU goes, in a gunicorn worker: the whole request, not only the view.

Starts what `make bench` starts (a throwaway PostgreSQL, Notejam migrated, seeded through its forms, analyzed), but
with one gunicorn worker under cProfile (bench/request_profile_conf.py), sends `--requests` requests to one page with
vegeta, stops gunicorn and prints the functions that took the most time, per request. cProfile slows every Python
call, so the figures are for finding the cost, not for quoting: `make bench` measures.

    python -m bench.request_profile --page note --requests 2000
"""

from __future__ import annotations

import argparse
import pstats
import tempfile
from pathlib import Path

from bench.pages import REPO, attack, gunicorn, seed
from tools.postgres import PostgresServer

# Functions whose time is the request's, not the worker's idle wait.
REQUEST_ENTRY = ("gunicorn/workers/sync.py", "handle")


def profile(
    page: str, requests: int, notes: int, pads: int, rate: int, sort: str, top: int, save: Path | None = None
) -> None:
    database = PostgresServer()
    database.start()
    try:
        with tempfile.TemporaryDirectory(prefix="notejam-profile-") as out:
            url = database.create_database("profile")
            with gunicorn("seed", "notejam:create_app()", REPO / "src", url, 1) as seeded:
                seed(seeded, notes, pads)
            database.analyze("profile")
            env = {"NOTEJAM_PROFILE_DIR": out}
            conf = "bench.request_profile_conf"
            with gunicorn("head", "notejam:create_app()", REPO / "src", url, 1, conf, env) as served:
                served.cookie, path = seeded.cookie, seeded.pages[page]
                # One-time work (template compilation, the pool's first connections) is in the profile too, spread
                # over thousands of requests. One connection at a time: a single worker.
                attack(served, path, f"{requests / rate:.3f}s", rate, 1)
            stats = pstats.Stats(*map(str, Path(out).glob("*.prof")))
            if save:
                stats.dump_stats(save)
    finally:
        database.destroy()
    handled = _request_calls(stats)
    print(f"{page} ({path}): {handled} requests through gunicorn's sync worker; times per request, in µs")
    stats.sort_stats(sort)
    width = max(1, handled)
    rows = []
    for function in stats.fcn_list[:top]:  # type: ignore[attr-defined]
        calls, _, own, cumulative, _ = stats.stats[function]  # type: ignore[attr-defined]
        rows.append((cumulative, own, calls, function))
    print(f"{'cumulative':>11}{'own':>9}{'calls':>8}  function")
    for cumulative, own, calls, (filename, line, name) in rows:
        where = _short(filename)
        print(
            f"{cumulative * 1e6 / width:>11.1f}{own * 1e6 / width:>9.1f}{calls / width:>8.2f}  {where}:{line}({name})"
        )


def _request_calls(stats: pstats.Stats) -> int:
    for (filename, _, name), (calls, *_) in stats.stats.items():  # type: ignore[attr-defined]
        if filename.endswith(REQUEST_ENTRY[0]) and name == REQUEST_ENTRY[1]:
            return calls
    raise SystemExit("no request reached gunicorn's sync worker")


def _short(filename: str) -> str:
    for marker in ("site-packages/", "/src/", "lib/python3"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    return filename


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.request_profile", description=__doc__.splitlines()[0])
    parser.add_argument("--page", choices=("all notes", "pad", "note"), default="note")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rate", type=int, default=200, help="requests per second (default 200)")
    parser.add_argument("--notes", type=int, default=100)
    parser.add_argument("--pads", type=int, default=5)
    parser.add_argument("--sort", default="cumulative", choices=("cumulative", "tottime"))
    parser.add_argument("--top", type=int, default=60)
    parser.add_argument("--save", type=Path, help="also write the merged profile here (for pstats or snakeviz)")
    args = parser.parse_args(argv)
    profile(args.page, args.requests, args.notes, args.pads, args.rate, args.sort, args.top, args.save)


if __name__ == "__main__":
    main()
