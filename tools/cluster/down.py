"""`make cluster-down`: stop and delete the control plane `make cluster` started (`kwokctl delete cluster`).

python -m tools.cluster.down --env dev
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tools.cluster.controlplane import ControlPlane
from tools.cluster.up import DEFAULT_STATE
from tools.repository import ENVIRONMENTS


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--state", type=Path, default=DEFAULT_STATE)
    args = parser.parse_args(argv)
    deleted = []
    for environment in ENVIRONMENTS:
        plane = ControlPlane(args.state, environment)
        if plane.exists():
            plane.delete()
            deleted.append(plane.name)
    print("cluster: deleted " + (", ".join(deleted) if deleted else "nothing (no control plane was running)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
