"""Stand-in for Crossplane v2 (core, package manager, XRD and claim controllers), as the pinned release behaves.

- Core: installs Crossplane's CRDs when its release creates `crossplane-system` (Crossplane's init container,
  `crossplane core init`, installs them as the pod starts).
- Packages (crossplane/crossplane internal/controller/pkg/manager, conditions in apis/pkg/v1/conditions.go): a
  Provider or Function whose package resolves is `Installed=True ActivePackageRevision` with
  `Healthy=Unknown UnknownPackageRevisionHealth` while its revision's runtime starts, then
  `Healthy=True HealthyPackageRevision`; a provider's CRDs are installed when its revision is, before it is Healthy.
  A package that cannot be resolved stays `Installed=False UnpackingPackage` with the error.
- XRDs: the composite and claim CRDs are generated from the XRD (its schema and CEL rules, plus Crossplane's machinery
  fields); then `Established=True WatchingCompositeResource`, `Offered=True WatchingClaim`.
- Claims (internal/controller/apiextensions/claim and composite): the claim binds a composite named
  `<claim>-<5 characters>` and labelled as Crossplane does (built by `claim_to_composite`, as `make render` builds
  it: the suffix derived, not random), and records it in `spec.resourceRef`. The composite is
  `Synced=True ReconcileSuccess` and `Ready=False Creating` while its composed resources are created, then
  `Ready=True Available` (after COMPOSITE_CREATING_SECONDS, or what the claim's `standin.notejam.io/creating-seconds`
  annotation asks: the negative controls make the wait long enough that no sync can win the race by luck); only then
  are
  the connection details published (the claim's connection Secret written). A claim whose master-password Secret
  (`spec.parameters.masterPasswordSecretRef`) does not exist in its namespace stays `Ready=False Creating` with
  "Unready resources: rds-instance" (Crossplane's composite message, internal/controller/apiextensions/composite):
  the provider cannot create the instance without the password it reads from that Secret. No Composition for the
  composite's type, or a pipeline Function that is not Healthy: `Synced=False ReconcileError`, never Ready.
Nothing is composed and no AWS API is called.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from tools.cluster.fake_controllers.status import Reporter, age, condition, injected_failure, is_true, log
from tools.cluster.kube import Kube, KubeError, Object
from tools.crossplane_composite import PlatformAPI, claim_to_composite
from tools.xrd_schemas import claim_spec_machinery, composite_spec_machinery

# Crossplane's release creates this namespace (CreateNamespace) and, as its pod starts, installs the CRDs.
NAMESPACE = "crossplane-system"
# Scaled down: a provider's runtime Deployment pulls its image and starts in one to a few minutes; RDS takes 5 to 15.
PACKAGE_STARTING_SECONDS = 20
COMPOSITE_CREATING_SECONDS = 15
CREATING_SECONDS_ANNOTATION = "standin.notejam.io/creating-seconds"
PACKAGES = "/apis/pkg.crossplane.io/v1"
COMPOSITIONS = "/apis/apiextensions.crossplane.io/v1/compositions"
XRDS = "/apis/apiextensions.crossplane.io/v1/compositeresourcedefinitions"


def creating_seconds(claim: Object) -> float:
    """How long the claim's composite stays Creating: COMPOSITE_CREATING_SECONDS unless annotated otherwise."""
    value = (claim["metadata"].get("annotations") or {}).get(CREATING_SECONDS_ANNOTATION)
    try:
        return float(value) if value is not None else COMPOSITE_CREATING_SECONDS
    except ValueError:
        log(f"ignoring {CREATING_SECONDS_ANNOTATION}={value!r}: not a number of seconds")
        return COMPOSITE_CREATING_SECONDS


def unready_resources(claim: Object, secret_exists: Callable[[str, str], bool]) -> list[str]:
    """The composed resources that cannot become ready yet for lack of something in the cluster: the RDS instance
    without its master-password Secret."""
    secret = (claim["spec"].get("parameters") or {}).get("masterPasswordSecretRef")
    if secret and not secret_exists(claim["metadata"]["namespace"], secret["name"]):
        return ["rds-instance"]
    return []


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
        crd_versions.append(
            {
                "name": entry["name"],
                "served": entry.get("served", True),
                "storage": entry.get("referenceable", False),
                "schema": {"openAPIV3Schema": schema},
                "subresources": {"status": {}},
                "additionalPrinterColumns": entry.get("additionalPrinterColumns", []),
            }
        )
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


def package_error(package: Object, providers: Path) -> str | None:
    """Why the package cannot be resolved, or None: a provider this machine has no CRDs for, no tag or digest."""
    reference = package["spec"]["package"]
    name, tagged = reference.rsplit("/", 1)[-1], ":" in reference.rsplit("/", 1)[-1] or "@" in reference
    if not tagged:
        return f"cannot resolve package {reference}: a package reference needs a tag or a digest"
    if package["kind"] == "Provider" and not provider_crd_files(reference, providers):
        return (
            f"failed to fetch package digest from remote: {reference}: MANIFEST_UNKNOWN ({name} is not a known package)"
        )
    return None


class Crossplane:
    def __init__(self, kube: Kube, crds: Path) -> None:
        self.kube = kube
        self.report = Reporter(kube, "crossplane", "crossplane")
        self.crds = crds
        self.providers = crds / "provider-upjet-aws"
        self.installed = False
        self.provider_crds_installed: set[str] = set()

    def reconcile(self) -> None:
        if not self.installed:
            self.install_core()
        if self.installed:
            self.packages()
            xrds = self.xrds()
            self.claims(xrds)

    def install_core(self) -> None:
        if self.kube.get(f"/api/v1/namespaces/{NAMESPACE}") is None:
            return
        self.kube.apply(load_crds(sorted((self.crds / "crossplane").glob("*.yaml"))))
        self.installed = True
        log("crossplane", "installed Crossplane's CRDs (as `crossplane core init` does)")

    def packages(self) -> None:
        for plural in ("providers", "functions"):
            for package in self.kube.items(f"{PACKAGES}/{plural}"):
                self.package(plural, package)

    def package(self, plural: str, package: Object) -> None:
        name = package["metadata"]["name"]
        path = f"{PACKAGES}/{plural}/{name}"
        error = injected_failure(package) or package_error(package, self.providers)
        if error:
            self.report.status(
                path,
                package,
                [condition("Installed", "False", "UnpackingPackage", error)],
                say=f"{plural[:-1]} {name}: Installed=False UnpackingPackage: {error}",
            )
            return
        reference = package["spec"]["package"]
        if plural == "providers" and reference not in self.provider_crds_installed:
            files = provider_crd_files(reference, self.providers)
            self.kube.apply(load_crds(files))
            self.provider_crds_installed.add(reference)
            log("crossplane", f"provider {name}: installed the {len(files)} CRDs of its package revision")
        installed = condition("Installed", "True", "ActivePackageRevision")
        if age(package) < PACKAGE_STARTING_SECONDS:
            self.report.status(
                path,
                package,
                [installed, condition("Healthy", "Unknown", "UnknownPackageRevisionHealth")],
                say=f"{plural[:-1]} {name}: Installed, Healthy=Unknown (runtime starting)",
            )
        else:
            self.report.status(
                path,
                package,
                [installed, condition("Healthy", "True", "HealthyPackageRevision")],
                say=f"{plural[:-1]} {name}: Installed, Healthy",
            )

    def xrds(self) -> list[Object]:
        xrds = self.kube.items(XRDS)
        for xrd in xrds:
            if is_true(xrd, "Established", "Offered"):
                continue
            self.kube.apply(crds_from_xrd(xrd))
            name = xrd["metadata"]["name"]
            self.report.status(
                f"{XRDS}/{name}",
                xrd,
                [
                    condition("Established", "True", "WatchingCompositeResource"),
                    condition("Offered", "True", "WatchingClaim"),
                ],
                say=f"XRD {name}: generated its CRDs, Established, Offered",
            )
        return [xrd for xrd in xrds if xrd["spec"].get("claimNames") and is_true(xrd, "Established")]

    def claims(self, xrds: list[Object]) -> None:
        compositions = self.kube.items(COMPOSITIONS)
        functions = {f["metadata"]["name"]: f for f in self.kube.items(f"{PACKAGES}/functions")}
        for xrd in xrds:
            spec = xrd["spec"]
            version = next(v["name"] for v in spec["versions"] if v.get("referenceable"))
            prefix = f"/apis/{spec['group']}/{version}"
            try:
                claims = self.kube.items(f"{prefix}/{spec['claimNames']['plural']}")
            except KubeError:
                continue  # the CRD is being established
            for claim in claims:
                self.claim(xrd, prefix, claim, compositions, functions)

    def claim(
        self, xrd: Object, prefix: str, claim: Object, compositions: list[Object], functions: dict[str, Object]
    ) -> None:
        spec = xrd["spec"]
        namespace, name = claim["metadata"]["namespace"], claim["metadata"]["name"]
        claim_path = f"{prefix}/namespaces/{namespace}/{spec['claimNames']['plural']}/{name}"
        composition = self.composition_for(xrd, claim, compositions, functions)
        if isinstance(composition, str) or injected_failure(claim):
            problem = injected_failure(claim) or composition
            self.report.status(
                claim_path,
                claim,
                [condition("Synced", "False", "ReconcileError", problem)],
                say=f"{spec['claimNames']['kind']} {namespace}/{name}: Synced=False: {problem}",
            )
            return
        composite = self.bind_composite(xrd, prefix, claim, composition)
        composite_path = f"{prefix}/{spec['names']['plural']}/{composite['metadata']['name']}"
        synced = condition("Synced", "True", "ReconcileSuccess")
        unready = unready_resources(
            claim, lambda ns, secret: self.kube.get(f"/api/v1/namespaces/{ns}/secrets/{secret}") is not None
        )
        if unready or age(composite) < creating_seconds(claim):
            message = (
                f"Unready resources: {', '.join(unready)}"
                if unready
                else ("Unready resources: the composed resources are being created")
            )
            ready = condition("Ready", "False", "Creating", message)
            self.report.status(composite_path, composite, [synced, ready])
            self.report.status(
                claim_path,
                claim,
                [synced, ready],
                say=f"{spec['claimNames']['kind']} {namespace}/{name}: Synced, Ready=False Creating",
            )
            return
        secret = (claim["spec"].get("writeConnectionSecretToRef") or {}).get("name")
        if is_true(claim, "Synced", "Ready") and is_true(composite, "Ready"):
            return  # published; the connection details are not written again
        if secret:
            keys = spec.get("connectionSecretKeys") or []
            ensure_secret(self.kube, namespace, secret, {key: f"stand-in-{key}" for key in keys})
        available = condition("Ready", "True", "Available")
        self.report.status(composite_path, composite, [synced, available])
        self.report.status(
            claim_path,
            claim,
            [synced, available],
            {"connectionDetails": {"lastPublishedTime": available["lastTransitionTime"]}},
            say=f"{spec['claimNames']['kind']} {namespace}/{name}: connection Secret {secret} published, Ready",
        )

    def composition_for(
        self, xrd: Object, claim: Object, compositions: list[Object], functions: dict[str, Object]
    ) -> Object | str:
        """The Composition the claim's composite uses, or why none can make it ready (composite/reconciler.go,
        errSelectComp; the function runner)."""
        spec = xrd["spec"]
        version = next(v["name"] for v in spec["versions"] if v.get("referenceable"))
        wanted = (claim["spec"].get("compositionRef") or {}).get("name") or (
            spec.get("defaultCompositionRef") or {}
        ).get("name")
        matching = [
            c
            for c in compositions
            if c["spec"]["compositeTypeRef"]
            == {"apiVersion": f"{spec['group']}/{version}", "kind": spec["names"]["kind"]}
            and (wanted is None or c["metadata"]["name"] == wanted)
        ]
        if not matching:
            return (
                f"cannot select Composition: no Composition named {wanted!r} for {spec['names']['kind']}"
                if wanted
                else f"cannot select Composition: no compatible Compositions found for {spec['names']['kind']}"
            )
        for step in matching[0]["spec"].get("pipeline") or []:
            function = step["functionRef"]["name"]
            if function not in functions or not is_true(functions[function], "Installed", "Healthy"):
                return (
                    f"cannot compose resources: cannot run Composition pipeline step {step['step']!r}: cannot find "
                    f"an active FunctionRevision (a FunctionRevision with spec.desiredState: Active) for Function "
                    f"{function!r}"
                )
        return matching[0]

    def bind_composite(self, xrd: Object, prefix: str, claim: Object, composition: Object) -> Object:
        """The composite of `claim`, created as Crossplane's claim controller creates it (claim_to_composite, which
        `make render` uses too), unless `spec.resourceRef` already names one."""
        spec = xrd["spec"]
        plural = spec["names"]["plural"]
        reference = claim["spec"].get("resourceRef") or {}
        if reference.get("name"):
            found = self.kube.get(f"{prefix}/{plural}/{reference['name']}")
            if found is not None:
                return found
        desired = claim_to_composite(claim, PlatformAPI(xrd, composition))
        del desired["metadata"]["uid"]  # the API server assigns it
        composite = self.kube.create(f"{prefix}/{plural}", desired)
        kind, name = composite["kind"], composite["metadata"]["name"]
        namespace = claim["metadata"]["namespace"]
        self.kube.merge_patch(
            f"{prefix}/namespaces/{namespace}/{spec['claimNames']['plural']}/{claim['metadata']['name']}",
            {"spec": {"resourceRef": {"apiVersion": composite["apiVersion"], "kind": kind, "name": name}}},
        )
        log("crossplane", f"{claim['kind']} {namespace}/{claim['metadata']['name']}: bound composite {kind} {name}")
        return composite


def ensure_secret(
    kube: Kube,
    namespace: str,
    name: str,
    values: dict[str, str],
    owner: Object | None = None,
    labels: dict[str, str] | None = None,
) -> None:
    if kube.get(f"/api/v1/namespaces/{namespace}/secrets/{name}") is not None:
        return
    metadata: dict[str, Any] = {"name": name, "namespace": namespace}
    if labels:
        metadata["labels"] = labels
    if owner is not None:
        metadata["ownerReferences"] = [
            {
                "apiVersion": owner["apiVersion"],
                "kind": owner["kind"],
                "name": owner["metadata"]["name"],
                "uid": owner["metadata"]["uid"],
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ]
    kube.create(
        f"/api/v1/namespaces/{namespace}/secrets",
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": metadata,
            "type": "Opaque",
            "stringData": values,
        },
    )
