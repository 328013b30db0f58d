"""Stand-ins for the controllers that cannot run here, acting on the API server as the real ones would, openly.

What each one does (and nothing more), so that our health checks, waves and hooks meet the conditions the real
controllers report:
- fake Crossplane: installs Crossplane's CRDs when its (stand-in) release creates its namespace, as Crossplane's init
  container does when it starts;
  for each Provider installs the CRDs of its package (from the shared CRDs folder) and reports Installed/Healthy; for
  each Function reports Installed/Healthy; for each XRD generates the composite and claim CRDs (the XRD's schema and
  CEL rules, plus Crossplane's machinery fields) and reports Established/Offered; for each claim writes its connection
  Secret and reports Synced/Ready. Nothing is composed and no AWS API is called.
- fake External Secrets: SecretStores report Ready; each ExternalSecret gets its target Secret (placeholder values)
  and reports Ready.
- fake AWS Load Balancer Controller: an Ingress of class `alb` gets a load-balancer hostname in its status.
- fake metrics pipeline: the HPA controller is off (no metrics-server or Prometheus adapter here), so each HPA's status
  reports AbleToScale/ScalingActive at the Deployment's current replicas.

    python -m tools.cluster.fake_controllers --kubeconfig K --kubectl .tools/cluster/kubernetes-v1.35.4/kubectl
"""

from __future__ import annotations

import argparse
import copy
import datetime
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from tools.cluster.kube import Kube, KubeError, Object
from tools.validation_data import crds_dir
from tools.xrd_schemas import claim_spec_machinery, composite_spec_machinery

# Crossplane's release creates this namespace (CreateNamespace) and, as its pod starts, installs the CRDs.
CROSSPLANE_NAMESPACE = "crossplane-system"


def now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def condition(type_: str, reason: str, message: str = "") -> dict[str, str]:
    return {"type": type_, "status": "True", "reason": reason, "message": message, "lastTransitionTime": now()}


def has_true(obj: Object, *types: str) -> bool:
    found = {c.get("type"): c.get("status") for c in (obj.get("status") or {}).get("conditions") or []}
    return all(found.get(t) == "True" for t in types)


def log(controller: str, message: str) -> None:
    print(f"{now()} fake {controller}: {message}", flush=True)


def load_crds(paths: list[Path]) -> list[Object]:
    documents = []
    for path in paths:
        documents += [
            d for d in yaml.safe_load_all(path.read_text()) if d and d.get("kind") == "CustomResourceDefinition"
        ]
    return documents


def provider_crd_files(package: str, folder: Path) -> list[Path]:
    """The CRDs a provider package installs: `provider-aws-rds` -> `rds.aws.upbound.io_*`, the family -> `aws.*`."""
    name = package.rsplit("/", 1)[-1].split(":", 1)[0].split("@", 1)[0]
    if name == "provider-family-aws":
        return sorted(folder.glob("aws.upbound.io_*.yaml"))
    if name.startswith("provider-aws-"):
        return sorted(folder.glob(f"{name.removeprefix('provider-aws-')}.aws.upbound.io_*.yaml"))
    return []


def generated_crd(group: str, names: dict[str, str], scope: str, versions: list[Object], machinery: dict) -> Object:
    """A CRD as Crossplane generates it from an XRD: the XRD's schema with the machinery fields added to spec."""
    crd_versions = []
    for entry in versions:
        schema = copy.deepcopy(((entry.get("schema") or {}).get("openAPIV3Schema")) or {"type": "object"})
        properties = schema.setdefault("properties", {})
        spec = properties.setdefault("spec", {"type": "object"})
        spec.setdefault("properties", {}).update(copy.deepcopy(machinery))
        properties["status"] = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
        schema["type"] = "object"
        crd_versions.append({
            "name": entry["name"],
            "served": entry.get("served", True),
            "storage": entry.get("referenceable", False),
            "schema": {"openAPIV3Schema": schema},
            "subresources": {"status": {}},
            "additionalPrinterColumns": entry.get("additionalPrinterColumns", []),
        })  # fmt: skip
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{names['plural']}.{group}"},
        "spec": {"group": group, "names": names, "scope": scope, "versions": crd_versions},
    }


def crds_from_xrd(xrd: Object) -> list[Object]:
    spec = xrd["spec"]
    group, versions = spec["group"], spec["versions"]
    composite = generated_crd(group, spec["names"], "Cluster", versions, composite_spec_machinery())
    crds = [composite]
    if spec.get("claimNames"):
        crds.append(generated_crd(group, spec["claimNames"], "Namespaced", versions, claim_spec_machinery()))
    return crds


class FakeControllers:
    def __init__(self, kube: Kube, crds: Path) -> None:
        self.kube = kube
        self.crds = crds
        self.providers = crds / "provider-upjet-aws"
        self.crossplane_installed = False
        # plural.group -> (API path prefix, plural, kind, connection secret keys)
        self.claim_kinds: dict[str, tuple[str, str, str, list[str]]] = {}

    def status(self, path: str, conditions: list[dict[str, str]], extra: dict[str, Any] | None = None) -> None:
        self.kube.merge_patch(f"{path}/status", {"status": {"conditions": conditions, **(extra or {})}})

    def once(self) -> None:
        self.crossplane_core()
        if self.crossplane_installed:
            self.crossplane_packages()
            self.crossplane_xrds()
            self.crossplane_claims()
        self.external_secrets()
        self.load_balancer_controller()
        self.metrics_pipeline()

    def crossplane_core(self) -> None:
        if self.crossplane_installed:
            return
        if self.kube.get(f"/api/v1/namespaces/{CROSSPLANE_NAMESPACE}") is None:
            return
        self.kube.apply(load_crds(sorted((self.crds / "crossplane").glob("*.yaml"))))
        self.crossplane_installed = True
        log("crossplane", "installed Crossplane's CRDs (as `crossplane core init` does)")

    def crossplane_packages(self) -> None:
        pending = {
            plural: [p for p in self.kube.items(f"/apis/pkg.crossplane.io/v1/{plural}") if not has_true(p, "Healthy")]
            for plural in ("providers", "functions")
        }
        # The CRDs of every new provider in one apply, before any of them reports Healthy.
        files = sorted(
            {f for p in pending["providers"] for f in provider_crd_files(p["spec"]["package"], self.providers)}
        )
        if files:
            self.kube.apply(load_crds(files))
            log("crossplane", f"installed {len(files)} CRDs of {len(pending['providers'])} provider packages")
        for plural, packages in pending.items():
            for package in packages:
                name = package["metadata"]["name"]
                self.status(
                    f"/apis/pkg.crossplane.io/v1/{plural}/{name}",
                    [condition("Installed", "ActivePackageRevision"), condition("Healthy", "HealthyPackageRevision")],
                )
                log("crossplane", f"{plural[:-1]} {name}: Installed, Healthy")

    def crossplane_xrds(self) -> None:
        for xrd in self.kube.items("/apis/apiextensions.crossplane.io/v1/compositeresourcedefinitions"):
            spec = xrd["spec"]
            claim = spec.get("claimNames")
            if claim:
                version = next(v["name"] for v in spec["versions"] if v.get("referenceable"))
                self.claim_kinds[f"{claim['plural']}.{spec['group']}"] = (
                    f"/apis/{spec['group']}/{version}", claim["plural"], claim["kind"],
                    spec.get("connectionSecretKeys") or [],
                )  # fmt: skip
            if has_true(xrd, "Established", "Offered"):
                continue
            self.kube.apply(crds_from_xrd(xrd))
            name = xrd["metadata"]["name"]
            self.status(
                f"/apis/apiextensions.crossplane.io/v1/compositeresourcedefinitions/{name}",
                [condition("Established", "WatchingCompositeResource"), condition("Offered", "WatchingClaim")],
            )
            log("crossplane", f"XRD {name}: generated its CRDs, Established, Offered")

    def crossplane_claims(self) -> None:
        for prefix, plural, kind, keys in self.claim_kinds.values():
            try:
                claims = self.kube.items(f"{prefix}/{plural}")
            except KubeError:
                continue  # the CRD is being established
            for claim in claims:
                if has_true(claim, "Synced", "Ready"):
                    continue
                namespace, name = claim["metadata"]["namespace"], claim["metadata"]["name"]
                secret = (claim["spec"].get("writeConnectionSecretToRef") or {}).get("name")
                if secret:
                    self.ensure_secret(namespace, secret, {key: f"stand-in-{key}" for key in keys}, owner=None)
                self.status(
                    f"{prefix}/namespaces/{namespace}/{plural}/{name}",
                    [condition("Synced", "ReconcileSuccess"), condition("Ready", "Available")],
                )
                log("crossplane", f"{kind} {namespace}/{name}: connection Secret {secret}, Synced, Ready")

    def ensure_secret(self, namespace: str, name: str, values: dict[str, str], owner: Object | None) -> None:
        if self.kube.get(f"/api/v1/namespaces/{namespace}/secrets/{name}") is not None:
            return
        metadata: dict[str, Any] = {"name": name, "namespace": namespace}
        if owner is not None:
            metadata["ownerReferences"] = [{
                "apiVersion": owner["apiVersion"], "kind": owner["kind"], "name": owner["metadata"]["name"],
                "uid": owner["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True,
            }]  # fmt: skip
        self.kube.create(f"/api/v1/namespaces/{namespace}/secrets", {
            "apiVersion": "v1", "kind": "Secret", "metadata": metadata, "type": "Opaque", "stringData": values,
        })  # fmt: skip

    def external_secrets(self) -> None:
        for store in self.kube.items("/apis/external-secrets.io/v1/secretstores"):
            if has_true(store, "Ready"):
                continue
            namespace, name = store["metadata"]["namespace"], store["metadata"]["name"]
            self.status(f"/apis/external-secrets.io/v1/namespaces/{namespace}/secretstores/{name}",
                        [condition("Ready", "Valid", "store validated")], {"capabilities": "ReadOnly"})  # fmt: skip
            log("external-secrets", f"SecretStore {namespace}/{name}: Ready")
        for external in self.kube.items("/apis/external-secrets.io/v1/externalsecrets"):
            if has_true(external, "Ready"):
                continue
            namespace, name = external["metadata"]["namespace"], external["metadata"]["name"]
            target = (external["spec"].get("target") or {}).get("name") or name
            keys = [item["secretKey"] for item in external["spec"].get("data") or []]
            self.ensure_secret(namespace, target, {key: f"stand-in-{key}" for key in keys}, owner=external)
            self.status(
                f"/apis/external-secrets.io/v1/namespaces/{namespace}/externalsecrets/{name}",
                [condition("Ready", "SecretSynced", "secret synced")],
                {"refreshTime": now(), "binding": {"name": target}},
            )
            log("external-secrets", f"ExternalSecret {namespace}/{name}: Secret {target} written, Ready")

    def load_balancer_controller(self) -> None:
        for ingress in self.kube.items("/apis/networking.k8s.io/v1/ingresses"):
            if ingress["spec"].get("ingressClassName") != "alb":
                continue
            if ((ingress.get("status") or {}).get("loadBalancer") or {}).get("ingress"):
                continue
            namespace, name = ingress["metadata"]["namespace"], ingress["metadata"]["name"]
            hostname = f"k8s-{namespace}-{name}-standin.eu-west-1.elb.amazonaws.com"
            self.kube.merge_patch(
                f"/apis/networking.k8s.io/v1/namespaces/{namespace}/ingresses/{name}/status",
                {"status": {"loadBalancer": {"ingress": [{"hostname": hostname}]}}},
            )
            log("aws-load-balancer-controller", f"Ingress {namespace}/{name}: address {hostname}")

    def metrics_pipeline(self) -> None:
        for hpa in self.kube.items("/apis/autoscaling/v2/horizontalpodautoscalers"):
            if has_true(hpa, "AbleToScale", "ScalingActive"):
                continue
            namespace, name = hpa["metadata"]["namespace"], hpa["metadata"]["name"]
            target = hpa["spec"]["scaleTargetRef"]["name"]
            deployment = self.kube.get(f"/apis/apps/v1/namespaces/{namespace}/deployments/{target}")
            if deployment is None:
                continue
            replicas = (deployment.get("status") or {}).get("replicas") or deployment["spec"].get("replicas", 1)
            self.status(
                f"/apis/autoscaling/v2/namespaces/{namespace}/horizontalpodautoscalers/{name}",
                [condition("AbleToScale", "ReadyForNewScale"), condition("ScalingActive", "ValidMetricFound")],
                {"currentReplicas": replicas, "desiredReplicas": replicas},
            )
            log("metrics-pipeline", f"HPA {namespace}/{name}: AbleToScale, ScalingActive at {replicas} replicas")

    def run(self, interval: float) -> None:
        log("controllers", "started: crossplane, external-secrets, aws-load-balancer-controller, metrics-pipeline")
        while True:
            try:
                self.once()
            except (KubeError, RuntimeError, OSError) as error:
                log("controllers", f"retrying after: {error}")
            time.sleep(interval)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kubeconfig", type=Path, required=True)
    parser.add_argument("--kubectl", type=Path, required=True, help="the pinned kubectl, for server-side applies")
    parser.add_argument("--crds", type=Path, default=crds_dir(), help="upstream CRDs (default: NOTEJAM_CRDS_DIR)")
    parser.add_argument("--interval", type=float, default=0.5, help="seconds between reconciliations")
    args = parser.parse_args(argv)
    FakeControllers(Kube(args.kubeconfig, args.kubectl), args.crds).run(args.interval)
    return 0


if __name__ == "__main__":
    sys.exit(main())
