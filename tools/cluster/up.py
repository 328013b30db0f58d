"""`make cluster`: start a local control plane, sync an environment from the served repository, say how to use it.

python -m tools.cluster.up --env dev
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from tools.cluster.controlplane import ControlPlane
from tools.cluster.sync import apply_root, wait_until_synced
from tools.repository import ENVIRONMENTS, REPO_ROOT

DEFAULT_STATE = REPO_ROOT / ".cache" / "cluster"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", choices=ENVIRONMENTS, default="dev")
    parser.add_argument("--state", type=Path, default=DEFAULT_STATE, help="kwokctl's workdir (clusters/<name>/)")
    parser.add_argument("--timeout", type=float, default=600, help="seconds to wait for Synced and Healthy")
    args = parser.parse_args(argv)
    plane = ControlPlane(args.state, args.env)
    try:
        plane.start()
    except Exception as error:
        plane.stop()
        print(f"cluster: could not start ({error}); stopped; logs in {plane.logs}", file=sys.stderr)
        return 1
    kube = plane.kube()
    started = time.monotonic()
    apply_root(kube, args.env, plane.info()["git_url"])
    try:
        took = wait_until_synced(kube, args.timeout)
    except TimeoutError as error:
        print(f"cluster: {error}\n  still running for inspection; logs in {plane.logs}", file=sys.stderr)
        return 1
    finally:
        # As in git: people sign in through GitHub (Dex), which is not here, and the local admin is off.
        print(
            f"\nArgo CD UI:  {plane.info()['ui_url']}  (sign in: docs/runbook.md, 'Break glass: Argo CD without SSO')"
        )
        print(f"kubeconfig: export KUBECONFIG={plane.kubeconfig}")
        print(f"  kubectl:   {plane.binary('kubernetes', 'kubectl')} get applications")
        print(f"  Argo CD:   {plane.binary('argocd', 'argocd')} app list --core")
        print(f"  served repository (commit here to see Argo CD sync it): {plane.served_copy}")
        print("  stop it:   make cluster-down")
    print(f"phases: start {plane.timings['start']:.0f} s, sync {args.env} {took:.0f} s "
          f"(total {time.monotonic() - started + plane.timings['start']:.0f} s)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
