"""Stand-ins for the controllers that cannot run here, acting on the API server as the real ones would, openly.

Each goes through the states its real controller reports, in the real order, with durations scaled down from minutes
to seconds; the module of each (`crossplane`, `external_secrets`, `load_balancer`, `prometheus_operator`, `traffic`,
`prometheus_adapter`) names its upstream source. What each one does is listed once, with what is real, in README.md
("A local control plane").

    python -m tools.cluster.fake_controllers --kubeconfig K --kubectl .tools/cluster/kubernetes-v1.35.4/kubectl
"""

from __future__ import annotations

import argparse
import threading
import time
import traceback
from pathlib import Path

from tools.cluster.fake_controllers.crossplane import Crossplane
from tools.cluster.fake_controllers.external_secrets import ExternalSecrets
from tools.cluster.fake_controllers.load_balancer import LoadBalancerController
from tools.cluster.fake_controllers.prometheus_adapter import Adapter, Prometheus, serve
from tools.cluster.fake_controllers.prometheus_operator import PrometheusOperator
from tools.cluster.fake_controllers.status import log
from tools.cluster.fake_controllers.traffic import RequestCounters, Traffic
from tools.cluster.kube import Kube, KubeError
from tools.validation_data import crds_dir


def run(kube: Kube, crds: Path, interval: float, counters: RequestCounters) -> None:
    controllers = [
        Crossplane(kube, crds),
        ExternalSecrets(kube),
        LoadBalancerController(kube),
        PrometheusOperator(kube),
        Traffic(kube, counters),
    ]
    log("controllers", "started: " + ", ".join(type(c).__name__ for c in controllers))
    while True:
        for controller in controllers:
            try:
                controller.reconcile()
            except (KubeError, RuntimeError, OSError) as error:
                log(type(controller).__name__, f"retrying after: {error}")
            except Exception:  # a bug in one stand-in must not stop the others; its traceback is in the log
                log(type(controller).__name__, "failed, retrying:\n" + traceback.format_exc())
        time.sleep(interval)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.cluster.fake_controllers", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--kubeconfig", type=Path, required=True)
    parser.add_argument("--kubectl", type=Path, required=True, help="the pinned kubectl, for server-side applies")
    parser.add_argument("--crds", type=Path, default=crds_dir(), help="upstream CRDs (default: NOTEJAM_CRDS_DIR)")
    parser.add_argument("--interval", type=float, default=0.5, help="seconds between reconciliations")
    parser.add_argument("--adapter-port", type=int, required=True, help="the custom metrics API's port")
    parser.add_argument("--adapter-cert", type=Path, required=True, help="its TLS certificate (PEM)")
    parser.add_argument("--adapter-key", type=Path, required=True, help="its TLS key (PEM)")
    args = parser.parse_args(argv)
    counters = RequestCounters()
    prometheus = Prometheus(counters)
    threading.Thread(target=prometheus.run, name="prometheus", daemon=True).start()
    # Its own client: a requests.Session is not shared between threads.
    serve(Adapter(Kube(args.kubeconfig, args.kubectl), prometheus), args.adapter_port, args.adapter_cert,
          args.adapter_key)  # fmt: skip
    run(Kube(args.kubeconfig, args.kubectl), args.crds, args.interval, counters)
    return 0
