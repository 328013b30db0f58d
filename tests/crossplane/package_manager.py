"""Two rules of Crossplane's package manager that decide whether our packages install, written down to test against.

* Dependency names: when a provider's dependency is missing, the resolver creates it as a package named
  `xpkg.ToDNSLabel(ref.Context().RepositoryStr())`: the repository path without registry and tag, `.`, `/`, `:`
  and `-` as `-`, other characters dropped, cut at 63 (crossplane internal/xpkg/name.go, ToDNSLabel).
* Runtime ServiceAccount: the provider Deployment runs as the pod template's `serviceAccountName` if the
  DeploymentRuntimeConfig sets one, else as the ServiceAccount Crossplane builds (the serviceAccountTemplate's name,
  or the revision's name). Crossplane applies its ServiceAccount, with the revision as controller owner, only when
  that is the one the Deployment uses (internal/controller/pkg/revision/runtime_provider.go, Post; runtime.go).
"""

from __future__ import annotations

from typing import Any

REVISION_NAME = "<revision name>"


def package_repository(reference: str) -> str:
    """`registry/org/name:tag` or `@digest` -> `org/name` (go-containerregistry's RepositoryStr)."""
    without_digest = reference.split("@", 1)[0]
    name, _, tag = without_digest.rpartition(":")
    repository = name if name and "/" not in tag else without_digest
    first, _, rest = repository.partition("/")
    registry = "." in first or ":" in first or first == "localhost"
    return rest if registry and rest else repository


def to_dns_label(text: str) -> str:
    """crossplane internal/xpkg ToDNSLabel, character for character."""
    cut = []
    for i, char in enumerate(text):
        if "a" <= char <= "z" or "0" <= char <= "9":
            cut.append(char)
        if char in "./:-" and i not in (0, 62, len(text) - 1):
            cut.append("-")
        if i == 62:
            break
    return "".join(cut).strip("-")


def dependency_name(reference: str) -> str:
    """The name the dependency resolver gives the package it installs for `reference`."""
    return to_dns_label(package_repository(reference))


def _template_service_account(runtime_config: dict[str, Any]) -> str | None:
    template = runtime_config.get("spec", {}).get("serviceAccountTemplate") or {}
    return (template.get("metadata") or {}).get("name")


def runtime_service_account(runtime_config: dict[str, Any]) -> str:
    """The ServiceAccount the provider pods run as under this runtime config."""
    deployment = runtime_config.get("spec", {}).get("deploymentTemplate") or {}
    pod = ((deployment.get("spec") or {}).get("template") or {}).get("spec") or {}
    return pod.get("serviceAccountName") or _template_service_account(runtime_config) or REVISION_NAME


def crossplane_owns_service_account(runtime_config: dict[str, Any]) -> bool:
    """True when Crossplane applies the pods' ServiceAccount itself, owned (and so deleted) with the revision."""
    built = _template_service_account(runtime_config) or REVISION_NAME
    return built == runtime_service_account(runtime_config)
