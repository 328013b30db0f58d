"""An environment's facts, as Python reads them: `clusters/<env>/environment/kustomization.yaml`.

That component is where an environment's name, AWS account, region and domain are written, once; Kustomize copies
them into the objects (components/environment). The tools that talk to AWS (the account bootstrap, the cluster
values, the Lambda release) read the same literals here instead of picking them out of rendered objects.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from tools.repository import REPO_ROOT


class FactsError(ValueError):
    """The environment has no facts component, or it lacks a fact."""


@dataclass(frozen=True)
class EnvironmentFacts:
    name: str
    account: str
    region: str
    domain: str

    @property
    def cluster(self) -> str:
        """The EKS cluster (eksctl.yaml's metadata.name), also the namespace of the app."""
        return f"notejam-{self.name}"

    @property
    def host(self) -> str:
        """The app's public host name (the Ingress, the ACM certificate, external-dns)."""
        return f"notejam.{self.domain}"

    @property
    def artifacts_bucket(self) -> str:
        """The account's bucket of release artifacts (the backup Lambdas' code)."""
        return f"notejam-artifacts-{self.account}"


def facts_file(environment: str, root: Path = REPO_ROOT) -> Path:
    return root / "clusters" / environment / "environment" / "kustomization.yaml"


def facts(environment: str, root: Path = REPO_ROOT) -> EnvironmentFacts:
    path = facts_file(environment, root)
    if not path.is_file():
        raise FactsError(f"{path.relative_to(root)} does not exist: no environment {environment!r}")
    [generator] = yaml.safe_load(path.read_text())["configMapGenerator"]
    literals = dict(literal.split("=", 1) for literal in generator["literals"])
    missing = [field for field in EnvironmentFacts.__dataclass_fields__ if field not in literals]
    if missing:
        raise FactsError(f"{path.relative_to(root)} lacks {', '.join(missing)}")
    if literals["name"] != environment:
        raise FactsError(f"{path.relative_to(root)} names environment {literals['name']!r}, not {environment!r}")
    return EnvironmentFacts(**{field: literals[field] for field in EnvironmentFacts.__dataclass_fields__})
