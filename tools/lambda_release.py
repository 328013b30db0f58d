"""Upload the backup Lambdas' zip to every artifacts bucket an environment's claim names (release-lambda's job).

    python -m tools.lambda_release dist/backup-lambda.zip

The zip's key is its sha256 (`backup-lambda/<sha256>.zip`, tools/lambda_package.py), and every claim must already
name that key: a claim naming another one is an error and nothing is uploaded. Then, per claim:
- a bucket that does not exist is an account not bootstrapped yet (`make bootstrap-account`): skipped with a
  warning, so the environments that are bootstrapped still get their code;
- a bucket the upload role may not read (403) is a bootstrap to finish (its policy): an error;
- a key already there is left (a key is its content); otherwise the zip is written.
It exits 1 on any error, after trying every bucket.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from tools.lambda_package import CLAIM, claimed_locations

MISSING = ("404", "NoSuchBucket", "NotFound", "NoSuchKey")


def _missing(error: ClientError) -> bool:
    return error.response.get("Error", {}).get("Code", "") in MISSING


def code_key(zip_path: Path) -> str:
    return f"backup-lambda/{hashlib.sha256(zip_path.read_bytes()).hexdigest()}.zip"


def upload(zip_path: Path, s3: Any, locations: list[tuple[str, str, str]]) -> list[str]:
    """Upload to each location; returns the errors (printed as GitHub Actions annotations as it goes)."""
    key = code_key(zip_path)
    stale = sorted({f"{CLAIM} names {claimed}, the build is {key}" for _, _, claimed in locations if claimed != key})
    if stale:
        for message in stale:
            print(f"::error::{message}", flush=True)
        return stale
    errors = []
    for env, bucket, _ in locations:
        try:
            s3.head_bucket(Bucket=bucket)
        except ClientError as error:
            if _missing(error):
                print(f"::warning::{env}: bucket {bucket} does not exist (account not bootstrapped yet): skipped")
            else:
                errors.append(f"{env}: cannot read bucket {bucket} ({error}): does its policy let this role in?")
                print(f"::error::{errors[-1]}", flush=True)
            continue
        try:
            s3.head_object(Bucket=bucket, Key=key)
            print(f"{env}: s3://{bucket}/{key} already uploaded", flush=True)
            continue
        except ClientError as error:
            if not _missing(error):
                errors.append(f"{env}: cannot read s3://{bucket}/{key} ({error})")
                print(f"::error::{errors[-1]}", flush=True)
                continue
        s3.put_object(Bucket=bucket, Key=key, Body=zip_path.read_bytes())
        print(f"{env}: uploaded s3://{bucket}/{key}", flush=True)
    return errors


def main(argv: list[str] | None = None) -> int:
    cli = argparse.ArgumentParser(prog="python -m tools.lambda_release", description=__doc__.split("\n\n")[0])
    cli.add_argument("zip", type=Path, help="the zip tools.lambda_package built")
    args = cli.parse_args(argv)
    if not args.zip.is_file():
        print(f"error: {args.zip} does not exist: build it with python -m tools.lambda_package", file=sys.stderr)
        return 1
    try:
        errors = upload(args.zip, boto3.client("s3"), claimed_locations())
    except (BotoCoreError, ClientError) as error:
        print(f"error: AWS: {error}", file=sys.stderr)
        return 1
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
