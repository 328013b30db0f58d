"""release-lambda's upload (tools/lambda_release.py) against moto: every bootstrapped environment gets the zip, one
not bootstrapped yet is skipped, and a claim naming other code uploads nothing."""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError

from tools import lambda_package, lambda_release
from tools.lambda_package import claimed_locations
from tools.repository import REPO_ROOT

REGION = "eu-west-1"


@pytest.fixture
def built(tmp_path: Path) -> Path:
    output = tmp_path / "backup-lambda.zip"
    lambda_package.build(lambda_package.DEFAULT_SOURCE, output)
    return output


def buckets() -> dict[str, str]:
    return {env: bucket for env, bucket, _ in claimed_locations()}


def make_bucket(name: str) -> None:
    boto3.client("s3", region_name=REGION).create_bucket(
        Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION}
    )


def test_bootstrapped_environments_get_the_zip_and_the_others_are_skipped(aws, built, capsys) -> None:
    s3 = boto3.client("s3", region_name=REGION)
    key = lambda_release.code_key(built)
    make_bucket(buckets()["dev"])
    make_bucket(buckets()["prod"])
    s3.put_object(Bucket=buckets()["prod"], Key=key, Body=built.read_bytes())
    # staging's account is not bootstrapped: its bucket does not exist.
    assert lambda_release.main([str(built)]) == 0
    out = capsys.readouterr().out
    assert s3.get_object(Bucket=buckets()["dev"], Key=key)["Body"].read() == built.read_bytes()
    assert f"dev: uploaded s3://{buckets()['dev']}/{key}" in out
    assert f"prod: s3://{buckets()['prod']}/{key} already uploaded" in out
    assert f"::warning::staging: bucket {buckets()['staging']} does not exist" in out


def test_a_claim_naming_other_code_uploads_nothing(aws, built, tmp_path, capsys) -> None:
    other = tmp_path / "other.zip"
    other.write_bytes(built.read_bytes() + b"changed")
    for bucket in buckets().values():
        make_bucket(bucket)
    assert lambda_release.main([str(other)]) == 1
    out = capsys.readouterr().out
    assert "::error::base/backup-claim.yaml names backup-lambda/" in out
    s3 = boto3.client("s3", region_name=REGION)
    assert all("Contents" not in s3.list_objects_v2(Bucket=bucket) for bucket in buckets().values())


def test_a_bucket_the_role_may_not_read_is_an_error_and_the_others_still_upload(aws, built, capsys) -> None:
    s3 = boto3.client("s3", region_name=REGION)
    for bucket in buckets().values():
        make_bucket(bucket)
    denied = buckets()["dev"]

    class DeniedOnDev:
        """S3 as the upload role sees it when dev's bucket policy does not name it: 403 on that bucket."""

        def __getattr__(self, name):
            return getattr(s3, name)

        def head_bucket(self, Bucket):
            if Bucket == denied:
                raise ClientError({"Error": {"Code": "403", "Message": "Forbidden"}}, "HeadBucket")
            return s3.head_bucket(Bucket=Bucket)

    errors = lambda_release.upload(built, DeniedOnDev(), claimed_locations())
    assert len(errors) == 1 and errors[0].startswith(f"dev: cannot read bucket {denied}")
    key = lambda_release.code_key(built)
    assert s3.head_object(Bucket=buckets()["staging"], Key=key)["ContentLength"] == built.stat().st_size


def test_a_missing_zip_is_a_clear_error(tmp_path, capsys) -> None:
    assert lambda_release.main([str(tmp_path / "none.zip")]) == 1
    assert "build it with python -m tools.lambda_package" in capsys.readouterr().err


def test_the_release_workflow_runs_it_after_building_the_zip() -> None:
    workflow = (REPO_ROOT / ".github/workflows/release-lambda.yaml").read_text()
    assert "python -m tools.lambda_package --output dist/backup-lambda.zip" in workflow
    assert "python -m tools.lambda_release dist/backup-lambda.zip" in workflow
