"""`make bench` runs end to end with tiny numbers: PostgreSQL, three gunicorns (this tree, a git ref, bare Flask),
vegeta, query counts, the table and the JSON. The figures themselves are never asserted."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import create_engine

REPO = Path(__file__).resolve().parents[2]


def run_module(command: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *command],
        cwd=REPO,
        env=os.environ | {"PYTHONPATH": f"{REPO / 'src'}:{REPO}"},
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )


def test_bench_prints_and_writes_rates_latencies_queries_and_ratios(tmp_path):
    output = tmp_path / "bench.json"
    command = ["bench.pages", "--duration", "300ms", "--connections", "2", "--rounds", "2"]
    command += ["--notes", "4", "--pads", "2", "--workers", "1", "--base", "HEAD", "--output", str(output)]
    command += ["--in-process-requests", "50"]
    result = run_module(command)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[1].split()[:4] == ["app", "page", "req/s", "p50"]
    rows = {tuple(line.split()[:2]) for line in lines[2:] if line.split()[:1] in (["head"], ["HEAD"], ["hello"])}
    assert rows == {("hello", "hello")} | {(app, page) for app in ("head", "HEAD") for page in ("all", "pad", "note")}

    figures = json.loads(output.read_text())
    assert figures["base_refs"] == ["HEAD"] and figures["gunicorn"]["workers"] == 1
    # The base ref is committed code, the head this working tree: only the head's counts are this code's.
    assert figures["apps"]["head"]["queries"] == {"all notes": 2, "pad": 2, "note": 1}
    assert set(figures["apps"]["HEAD"]["queries"]) == {"all notes", "pad", "note"}
    for app in ("head", "HEAD"):
        for page in figures["apps"][app]["pages"].values():
            for load in ("peak", "half_peak"):
                assert page[load]["success"] == 1, page[load]["errors"]
                assert page[load]["requests_per_second"] > 0 and page[load]["p99_ms"] >= page[load]["p50_ms"] > 0
            assert page["peak"]["cpu_ms_per_request"] > 0
            assert len(page["rounds"]["requests_per_second"]) == 2  # interleaved rounds, the median one kept
            assert page["peak"]["requests_per_second"] in page["rounds"]["requests_per_second"]
    # Each app's CPU per request in one process, without gunicorn, and PostgreSQL's over the same requests.
    assert figures["apps"]["hello"]["in_process"]["hello"]["app_ms"] > 0
    assert figures["apps"]["hello"]["in_process"]["hello"]["postgres_ms"] is None
    for app in ("head", "HEAD"):
        assert set(figures["apps"][app]["in_process"]) == {"all notes", "pad", "note"}
        for page in figures["apps"][app]["in_process"].values():
            assert page["app_ms"] > 0 and page["postgres_ms"] >= 0
    in_process = {f"{kind} CPU per request in one process / HEAD" for kind in ("app", "PostgreSQL")}
    assert (
        set(figures["ratios"])
        == {f"{page} / {other}" for page in ("all notes", "pad", "note") for other in ("bare Flask", "HEAD")}
        | {"CPU per request / HEAD"}
        | in_process
    )
    assert figures["ratios"]["CPU per request / HEAD"] > 0
    assert figures["ratios"]["app CPU per request in one process / HEAD"] > 0
    assert "requests/s ratios: all notes / bare Flask" in result.stdout
    assert "CPU ms per request, mean of the pages: head " in result.stdout
    assert "in one process: app CPU per request in one process / HEAD " in result.stdout


def test_the_profile_shows_a_whole_request_in_a_gunicorn_worker(tmp_path):
    saved = tmp_path / "note.prof"
    command = ["bench.request_profile", "--page", "note", "--requests", "60", "--rate", "60"]
    command += ["--notes", "3", "--pads", "1", "--top", "400", "--save", str(saved)]
    result = run_module(command)
    assert result.returncode == 0, result.stdout + result.stderr
    first, header, *rows = result.stdout.splitlines()
    handled = int(first.split(": ")[1].split()[0])
    assert 60 <= handled <= 62, first  # vegeta's requests (and nothing of the seeding, served by another gunicorn)
    assert header.split() == ["cumulative", "own", "calls", "function"]
    functions = "\n".join(rows)
    # Beyond the view: gunicorn's parsing and access log, the session cookie, the user's query.
    for part in ("gunicorn/http/message.py", "gunicorn_conf.py", "open_session", "notejam/queries.py"):
        assert part in functions, part
    assert saved.stat().st_size > 0


def test_bench_imports_neither_test_fixtures_nor_a_module_named_like_a_library():
    # `bench/requests.py` once shadowed the `requests` library for anything run from bench/; the PostgreSQL server
    # it starts lives in tools/postgres.py, which the tests' fixtures use too.
    modules = {path.stem for path in (REPO / "bench").glob("*.py")}
    assert not modules & {"requests", "json", "logging", "gunicorn", "flask"}
    for path in (REPO / "bench").glob("*.py"):
        assert "from tests" not in path.read_text() and "import tests" not in path.read_text(), path


def test_in_process_measures_the_app_without_a_server_and_refuses_a_page_that_errs():
    measured = run_module(
        ["bench.in_process", "--app", "bench.hello:app", "--requests", "20", "--repeats", "1", "hello=/"]
    )
    assert measured.returncode == 0, measured.stderr
    figures = json.loads(measured.stdout)
    assert figures["hello"]["app_ms"] > 0 and figures["hello"]["postgres_ms"] is None

    missing = run_module(["bench.in_process", "--app", "bench.hello:app", "--requests", "20", "gone=/missing"])
    assert missing.returncode != 0
    assert "GET /missing answered 404 NOT FOUND" in missing.stderr  # not a figure for the wrong page


def test_analyze_gives_every_table_statistics_even_below_autovacuums_threshold(postgres):
    engine = create_engine(postgres.create_database("bench_analyze"))
    try:
        with engine.begin() as connection:
            # Fewer rows than autovacuum's threshold of 50: it would never analyze this table.
            connection.exec_driver_sql("CREATE TABLE pads (id integer PRIMARY KEY, user_id integer NOT NULL)")
            connection.exec_driver_sql("INSERT INTO pads SELECT n, mod(n, 3) FROM generate_series(1, 30) AS n")
        postgres.analyze("bench_analyze")
        with engine.connect() as connection:
            assert connection.exec_driver_sql("SELECT reltuples FROM pg_class WHERE relname = 'pads'").scalar() == 30
            columns = connection.exec_driver_sql("SELECT attname FROM pg_stats WHERE tablename = 'pads'").scalars()
            assert sorted(columns) == ["id", "user_id"]
    finally:
        engine.dispose()
