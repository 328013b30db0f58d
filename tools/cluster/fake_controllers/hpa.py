"""Stand-in for the metrics pipeline (metrics-server, Prometheus, prometheus-adapter) as the HPA controller sees it.
The HPA controller itself is off here: nothing serves the metrics APIs (see controlplane.py).

What kube-controller-manager's HPA controller writes (pkg/controller/podautoscaler/horizontal.go): it gets the
target's scale (`AbleToScale=True SucceededGetScale`); until the metrics APIs return values for the new pods (the
pods ready, then scraped twice) it fails `ScalingActive=False FailedGetResourceMetric` (FailedGetPodsMetric for a
Pods metric) and sets no `ScalingLimited`: that condition appears only with the first replica count it computes. Then
`ScalingActive=True ValidMetricFound`, `AbleToScale=True ReadyForNewScale`, and `ScalingLimited` (True TooFewReplicas
at the minimum, else False DesiredWithinRange). The replicas stay where the Deployment is (no load here). An injected
failure is a metrics outage: `FailedGetResourceMetric` with the message, the earlier conditions kept.
"""

from __future__ import annotations

from tools.cluster.fake_controllers.status import Reporter, condition, conditions_of, injected_failure, now, parse_time
from tools.cluster.kube import Kube, Object

API = "/apis/autoscaling/v2"
# Scaled down: metrics-server scrapes every 15 s (60 s by the chart's default), the adapter relists every 30 s.
FIRST_METRICS_SECONDS = 10


def ready_since(deployment: Object) -> float | None:
    """Seconds since every replica of the Deployment became available, None while they are not."""
    status = deployment.get("status") or {}
    if status.get("updatedReplicas", 0) < deployment["spec"].get("replicas", 1) or status.get("unavailableReplicas"):
        return None
    available = conditions_of(deployment).get("Available") or {}
    if available.get("status") != "True":
        return None
    return (now() - parse_time(available["lastTransitionTime"])).total_seconds()


def failed_metric_reason(hpa: Object) -> str:
    kinds = {metric.get("type") for metric in hpa["spec"].get("metrics") or []}
    return "FailedGetResourceMetric" if "Resource" in kinds or not kinds else "FailedGetPodsMetric"


class MetricsPipeline:
    def __init__(self, kube: Kube) -> None:
        self.kube = kube
        self.report = Reporter(kube, "metrics-pipeline", "horizontal-pod-autoscaler")

    def reconcile(self) -> None:
        for hpa in self.kube.items(f"{API}/horizontalpodautoscalers"):
            self.hpa(hpa)

    def hpa(self, hpa: Object) -> None:
        namespace, name = hpa["metadata"]["namespace"], hpa["metadata"]["name"]
        path = f"{API}/namespaces/{namespace}/horizontalpodautoscalers/{name}"
        target = hpa["spec"]["scaleTargetRef"]["name"]
        deployment = self.kube.get(f"/apis/apps/v1/namespaces/{namespace}/deployments/{target}")
        if deployment is None:
            return
        replicas = (deployment.get("status") or {}).get("replicas") or deployment["spec"].get("replicas", 1)
        counts = {"currentReplicas": replicas, "desiredReplicas": replicas}
        failure = injected_failure(hpa)
        computed_before = "ScalingLimited" in conditions_of(hpa)
        since = ready_since(deployment)
        if failure or (not computed_before and (since is None or since < FIRST_METRICS_SECONDS)):
            message = (
                failure
                or "the HPA was unable to compute the replica count: failed to get cpu utilization: "
                "unable to get metrics for resource cpu: no metrics returned from resource metrics API"
            )
            self.report.status(
                path,
                hpa,
                [
                    condition(
                        "AbleToScale",
                        "True",
                        "SucceededGetScale",
                        "the HPA controller was able to get the target's current scale",
                    ),
                    condition("ScalingActive", "False", failed_metric_reason(hpa), message),
                ],
                counts,
                say=f"HPA {namespace}/{name}: ScalingActive=False, no metrics yet",
            )
            return
        at_minimum = replicas <= hpa["spec"].get("minReplicas", 1)
        limited = (
            condition(
                "ScalingLimited",
                "True",
                "TooFewReplicas",
                "the desired replica count is less than the minimum replica count",
            )
            if at_minimum
            else condition(
                "ScalingLimited", "False", "DesiredWithinRange", "the desired count is within the acceptable range"
            )
        )
        self.report.status(
            path,
            hpa,
            [
                condition("AbleToScale", "True", "ReadyForNewScale", "recommended size matches current size"),
                condition(
                    "ScalingActive",
                    "True",
                    "ValidMetricFound",
                    "the HPA was able to successfully calculate a replica count from cpu resource utilization",
                ),
                limited,
            ],
            counts,
            say=f"HPA {namespace}/{name}: ScalingActive at {replicas} replicas",
        )
