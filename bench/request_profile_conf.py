"""gunicorn settings for `python -m bench.request_profile`: Notejam's own (notejam.gunicorn_conf), with cProfile
on in each worker.

The profiler starts once the worker has loaded the app and stops when the worker exits, so it sees the whole of every
request as the worker serves it: gunicorn's accept, HTTP parsing and access log, the WSGI middleware, Flask and the
view. Each worker writes `<pid>.prof` into NOTEJAM_PROFILE_DIR.
"""

from __future__ import annotations

import cProfile
import os
import time
from pathlib import Path
from typing import Any

from notejam import gunicorn_conf
from notejam.gunicorn_conf import *  # noqa: F403 - every setting of the container's config, unchanged

# CPU time, not wall time: a request waiting for PostgreSQL costs the worker nothing.
_profiler = cProfile.Profile(time.process_time)


def post_worker_init(worker: Any) -> None:
    gunicorn_conf.post_worker_init(worker)
    _profiler.enable()


def worker_exit(server: Any, worker: Any) -> None:
    _profiler.disable()
    _profiler.dump_stats(Path(os.environ["NOTEJAM_PROFILE_DIR"]) / f"{os.getpid()}.prof")
