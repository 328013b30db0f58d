"""`make cluster-down`: stop every process `make cluster` started, by the PIDs it recorded.

python -m tools.cluster.down
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tools.cluster.processes import Processes
from tools.cluster.up import DEFAULT_STATE


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--state", type=Path, default=DEFAULT_STATE)
    args = parser.parse_args(argv)
    stopped = Processes(args.state).stop_all()
    print("cluster: stopped " + (", ".join(stopped) if stopped else "nothing (no control plane was running)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
