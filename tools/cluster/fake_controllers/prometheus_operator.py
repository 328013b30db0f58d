"""Stand-in for the Prometheus Operator's status of a `Prometheus` (pkg/prometheus/server/operator.go; conditions in
pkg/apis/monitoring/v1/types.go): `Reconciled=True ReconciliationSucceeded` once its StatefulSet is written, and
`Available=False NoPodReady` until the pod (with its volume) is up, then `Available=True`. An injected failure keeps
it at NoPodReady with the message (a pod that never becomes ready)."""

from __future__ import annotations

from tools.cluster.fake_controllers.status import Reporter, age, condition, injected_failure
from tools.cluster.kube import Kube, KubeError

API = "/apis/monitoring.coreos.com/v1"
# Scaled down: the EBS volume attaches and Prometheus replays its write-ahead log in half a minute to minutes.
STARTING_SECONDS = 15


class PrometheusOperator:
    def __init__(self, kube: Kube) -> None:
        self.kube = kube
        self.report = Reporter(kube, "prometheus-operator", "prometheus-controller")

    def reconcile(self) -> None:
        try:
            found = self.kube.items(f"{API}/prometheuses")
        except KubeError:
            return  # the CRD is not installed yet
        for prometheus in found:
            namespace, name = prometheus["metadata"]["namespace"], prometheus["metadata"]["name"]
            path = f"{API}/namespaces/{namespace}/prometheuses/{name}"
            reconciled = condition("Reconciled", "True", "ReconciliationSucceeded")
            replicas = prometheus["spec"].get("replicas", 1)
            failure = injected_failure(prometheus)
            if failure or age(prometheus) < STARTING_SECONDS:
                message = (
                    failure or f"shard 0: pod prometheus-{name}-0: containers with incomplete status: [prometheus]"
                )
                self.report.status(
                    path,
                    prometheus,
                    [condition("Available", "False", "NoPodReady", message), reconciled],
                    {"replicas": replicas, "availableReplicas": 0},
                    say=f"Prometheus {namespace}/{name}: Available=False NoPodReady",
                )
            else:
                self.report.status(
                    path,
                    prometheus,
                    [condition("Available", "True", "AllPodsReady"), reconciled],
                    {"replicas": replicas, "availableReplicas": replicas},
                    say=f"Prometheus {namespace}/{name}: Available",
                )
