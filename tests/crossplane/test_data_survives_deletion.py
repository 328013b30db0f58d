"""What holds or protects data survives the deletion of its claim or of the Application.

Read from the render CLI's output (tools/render_output.py), so it holds whatever engine renders the compositions:
* every KMS key is orphaned in every environment: the final snapshot, retained backups and the three-year archive
  stay decryptable;
* the snapshot archive and the settings that protect it are orphaned in every environment;
* in staging and prod the RDS instance is orphaned too (and, in git, Argo CD never deletes prod's claims).
"""

from __future__ import annotations

import pytest

from tests.argocd.argo_objects import overlay_objects
from tests.crossplane.conftest import CROSSPLANE_DIR
from tools.manifests import kustomize
from tools.render_output import rendered
from tools.repository import ENVIRONMENTS, PLATFORM_GROUP

PROTECTED_ENVIRONMENTS = set(ENVIRONMENTS) - {"dev"}  # only dev's database may go without a trace
ALWAYS_KEPT = {
    "kms.aws.upbound.io/Key",
    "s3.aws.upbound.io/Bucket",
    "s3.aws.upbound.io/BucketVersioning",
    "s3.aws.upbound.io/BucketServerSideEncryptionConfiguration",
    "s3.aws.upbound.io/BucketPublicAccessBlock",
    "s3.aws.upbound.io/BucketPolicy",
    "s3.aws.upbound.io/BucketLifecycleConfiguration",
}
KEPT_WHEN_PROTECTED = {"rds.aws.upbound.io/Instance"}


def resources(environment: str):
    _, composed = rendered()
    found = [r for r in composed if r.environment == environment]
    assert found, f"the render CLI printed nothing for {environment}"
    return found


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_keys_and_the_archive_are_orphaned_everywhere(environment: str) -> None:
    composed = resources(environment)
    assert {r.kind for r in composed} >= ALWAYS_KEPT
    deleted = [f"{r.claim}: {r.kind}" for r in composed if r.kind in ALWAYS_KEPT and not r.orphaned]
    assert not deleted, deleted


@pytest.mark.parametrize("environment", sorted(PROTECTED_ENVIRONMENTS))
def test_the_protected_database_is_orphaned(environment: str) -> None:
    composed = resources(environment)
    instances = [r for r in composed if r.kind in KEPT_WHEN_PROTECTED]
    assert instances and all(r.orphaned for r in instances)
    assert all(r.resource["spec"]["forProvider"]["deletionProtection"] is True for r in instances)


@pytest.mark.parametrize("environment", sorted(set(ENVIRONMENTS) - PROTECTED_ENVIRONMENTS))
def test_unprotected_databases_are_cleaned_up(environment: str) -> None:
    instances = [r for r in resources(environment) if r.kind in KEPT_WHEN_PROTECTED]
    assert instances and not any(r.orphaned for r in instances)


def never_deleted_by_argo_cd(document: dict) -> bool:
    options = (document["metadata"].get("annotations") or {}).get("argocd.argoproj.io/sync-options", "")
    return {"Delete=false", "Prune=false"} <= set(options.split(","))


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_argo_cd_never_deletes_a_claim(environment: str) -> None:
    """Deleting the Application deletes what it manages unless Delete=false (Prune=false alone does not stop it);
    a claim that leaves git is pruned unless Prune=false. In every environment: a database goes only when a person
    deletes its claim (with deletion protection in prod, and its final snapshot)."""
    claims = [doc for doc in overlay_objects(environment) if doc["apiVersion"].startswith(f"{PLATFORM_GROUP}/")]
    assert {doc["kind"] for doc in claims} == {"PostgreSQLInstance", "DatabaseBackup"}
    for claim in claims:
        assert never_deleted_by_argo_cd(claim), claim["kind"]


def test_argo_cd_never_deletes_an_xrd_or_a_composition() -> None:
    """Deleting an XRD deletes every composite of its type: every database of the cluster."""
    apis = kustomize(CROSSPLANE_DIR / "apis")
    assert {doc["kind"] for doc in apis} == {"CompositeResourceDefinition", "Composition"}
    for document in apis:
        assert never_deleted_by_argo_cd(document), document["metadata"]["name"]
