"""The load balancer controller's Service webhook stays off while nothing needs it.

Chart 3.5.0 enables a mutating webhook on every Service (failurePolicy Fail) that only exists to hand
LoadBalancer Services to the controller. Until the controller is up, every Service create fails, so the other wave-0
add-ons race it and can exhaust their sync retries. The repository has no LoadBalancer Service (the app is an
Ingress); the day one appears, this test says the webhook must come back.
"""

from __future__ import annotations

import pytest

from tests.argocd.argo_objects import applications, cluster_objects, git_paths, helm_values, overlay_objects
from tools.manifests import kustomize
from tools.repository import ENVIRONMENTS, REPO_ROOT


def load_balancer_services(environment: str) -> list[str]:
    documents = [*cluster_objects(environment), *overlay_objects(environment)]
    for application in applications(environment).values():
        for path in git_paths(application):
            documents.extend(kustomize(REPO_ROOT / path))
    return [
        f"{doc['metadata'].get('namespace', '')}/{doc['metadata']['name']}"
        for doc in documents
        if doc.get("kind") == "Service" and (doc.get("spec") or {}).get("type") == "LoadBalancer"
    ]


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_service_mutator_webhook_is_off_while_no_load_balancer_service_exists(environment: str) -> None:
    values = helm_values(applications(environment)["aws-load-balancer-controller"])
    assert load_balancer_services(environment) == [], "a LoadBalancer Service needs enableServiceMutatorWebhook"
    assert values.get("enableServiceMutatorWebhook") is False
