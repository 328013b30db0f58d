"""What notejam.gunicorn_conf resolves to for a process allowed N CPUs: worker class, workers, threads.

The config computes its worker count from the CPUs the process may use, so it is evaluated in a child Python pinned
to that many CPUs with `taskset` (util-linux), which is what `os.sched_getaffinity` reports, exactly as in a container
limited to that many CPUs. Used by `make capacity` (database connections per pod) and printed by `make bench`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tools.repository import REPO_ROOT

_PROBE = (
    "import json, notejam.gunicorn_conf as c; "
    "print(json.dumps({'workers': int(c.workers), 'threads': int(getattr(c, 'threads', 1)), "
    "'worker_class': str(getattr(c, 'worker_class', 'sync'))}))"
)


def resolve(cpus: int | None = None, src: Path = REPO_ROOT / "src") -> dict[str, int | str]:
    """The config's workers/threads/worker_class for a process allowed `cpus` CPUs (None: this process's CPUs)."""
    command = [sys.executable, "-c", _PROBE]
    if cpus is not None:
        available = sorted(os.sched_getaffinity(0))
        if not 0 < cpus <= len(available):
            raise ValueError(f"cannot evaluate the config for {cpus} CPUs on a machine that gives us {len(available)}")
        command = ["taskset", "--cpu-list", ",".join(str(cpu) for cpu in available[:cpus]), *command]
    env = os.environ | {"PYTHONPATH": str(src)}
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=False, timeout=60)  # noqa: S603
    if result.returncode != 0:
        raise RuntimeError(f"reading notejam.gunicorn_conf failed: {result.stderr.strip()}")
    return json.loads(result.stdout)
