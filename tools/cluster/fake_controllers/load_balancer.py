"""Stand-in for the AWS Load Balancer Controller (v2): an Ingress of class `alb` gets its load balancer's hostname.

What the real controller needs before it can build the load balancer (docs: guide/ingress/annotations.md and
guide/ingress/cert_discovery.md): an HTTPS listener needs a certificate, from `certificate-arn` or discovered in ACM
by the hosts of `spec.tls`; the scheme is `internal` unless `alb.ingress.kubernetes.io/scheme` says otherwise (a
public app that forgets it is not reachable: this stand-in treats a missing scheme as a failure); subnets come from
`alb.ingress.kubernetes.io/subnets` or from the subnets' tags, which eksctl sets and this stand-in cannot see (it
accepts them). Without what it needs the controller records a Warning Event `FailedBuildModel` and writes no address.
"""

from __future__ import annotations

import json

from tools.cluster.fake_controllers.status import Reporter, age, injected_failure, log
from tools.cluster.kube import Kube, Object

ANNOTATION = "alb.ingress.kubernetes.io/"
# Scaled down: the controller writes the hostname once the load balancer exists (seconds to a minute).
PROVISIONING_SECONDS = 3


def build_error(ingress: Object) -> str | None:
    annotations = ingress["metadata"].get("annotations") or {}
    if f"{ANNOTATION}scheme" not in annotations:
        return "no alb.ingress.kubernetes.io/scheme: the load balancer would be internal, unreachable from the internet"
    listeners = json.loads(annotations.get(f"{ANNOTATION}listen-ports", '[{"HTTP": 80}]'))
    https = any("HTTPS" in listener for listener in listeners)
    hosts = [host for tls in ingress["spec"].get("tls") or [] for host in tls.get("hosts") or []]
    if https and f"{ANNOTATION}certificate-arn" not in annotations and not hosts:
        return "ingress: no certificate found for the HTTPS listener (no certificate-arn and no spec.tls hosts)"
    return None


class LoadBalancerController:
    def __init__(self, kube: Kube) -> None:
        self.kube = kube
        self.report = Reporter(kube, "aws-load-balancer-controller", "ingress")

    def reconcile(self) -> None:
        for ingress in self.kube.items("/apis/networking.k8s.io/v1/ingresses"):
            if ingress["spec"].get("ingressClassName") != "alb":
                continue
            if ((ingress.get("status") or {}).get("loadBalancer") or {}).get("ingress"):
                continue
            namespace, name = ingress["metadata"]["namespace"], ingress["metadata"]["name"]
            error = injected_failure(ingress) or build_error(ingress)
            if error:
                self.report.event(
                    ingress,
                    "Ingress",
                    "networking.k8s.io/v1",
                    "Warning",
                    "FailedBuildModel",
                    f"Failed build model due to {error}",
                )
                continue
            if age(ingress) < PROVISIONING_SECONDS:
                continue
            hostname = f"k8s-{namespace}-{name}-standin.eu-west-1.elb.amazonaws.com"
            self.kube.merge_patch(
                f"/apis/networking.k8s.io/v1/namespaces/{namespace}/ingresses/{name}/status",
                {"status": {"loadBalancer": {"ingress": [{"hostname": hostname}]}}},
            )
            self.report.event(
                ingress,
                "Ingress",
                "networking.k8s.io/v1",
                "Normal",
                "SuccessfullyReconciled",
                "Successfully reconciled",
            )
            log("aws-load-balancer-controller", f"Ingress {namespace}/{name}: address {hostname}")
