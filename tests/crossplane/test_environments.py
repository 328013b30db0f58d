"""Each overlay's claims compose what that environment should have: protection and high availability in prod only."""

from __future__ import annotations

import pytest

from tests.crossplane.conftest import by_name
from tools.render import overlay_claims, render_claim
from tools.repository import ENVIRONMENTS


@pytest.fixture(scope="module")
def environments() -> dict[str, dict[str, dict]]:
    """environment -> claim kind -> composed resources by composition name."""
    return {
        environment: {claim["kind"]: by_name(render_claim(claim).resources) for claim in claims}
        for environment, claims in overlay_claims().items()
    }


def instance(environments, environment):
    return environments[environment]["PostgreSQLInstance"]["rds-instance"]


def test_every_environment_has_a_database_and_its_backup(environments):
    assert set(environments) == set(ENVIRONMENTS)
    for environment, kinds in environments.items():
        assert set(kinds) == {"PostgreSQLInstance", "DatabaseBackup"}, environment
        identifier = instance(environments, environment)["spec"]["forProvider"]["identifier"]
        assert identifier == f"notejam-{environment}-notejam-db"
        function = kinds["DatabaseBackup"]["snapshot-function"]["spec"]["forProvider"]
        assert function["environment"]["variables"]["DB_INSTANCE_IDENTIFIER"] == identifier


@pytest.mark.parametrize(
    ("environment", "instance_class"), [("dev", "db.t4g.micro"), ("staging", "db.t4g.medium"), ("prod", "db.m7g.large")]
)
def test_instance_size_per_environment(environments, environment, instance_class):
    assert instance(environments, environment)["spec"]["forProvider"]["instanceClass"] == instance_class


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_multi_az_only_in_prod_deletion_protection_and_final_snapshot_everywhere_but_dev(environments, environment):
    for_provider = instance(environments, environment)["spec"]["forProvider"]
    assert for_provider["multiAz"] is (environment == "prod")
    protected = environment != "dev"
    assert for_provider["deletionProtection"] is protected
    assert for_provider["skipFinalSnapshot"] is not protected
    assert for_provider["backupRetentionPeriod"] >= 7


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_snapshot_bucket_per_environment_expires_after_three_years(environments, environment):
    backup = environments[environment]["DatabaseBackup"]
    assert backup["bucket"]["metadata"]["annotations"]["crossplane.io/external-name"].startswith(
        f"notejamsnapshot-{environment}-"
    )
    [rule] = backup["bucket-lifecycle"]["spec"]["forProvider"]["rule"]
    assert rule["expiration"] == [{"days": 1095}]
