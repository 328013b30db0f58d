"""Once per AWS account, before its cluster: what the cluster and CI read but cannot create themselves.

`make bootstrap-account ENV=<env>` runs this (docs/bootstrap.md, step 0), with the account's AWS credentials:

    python -m tools.bootstrap_account --env dev --alertmanager-url URL --dead-mans-switch-url URL \
        --on-call-webhook-url URL --github-client-id ID --github-client-secret SECRET

The facts come from git: the account, region and domain from the environment's facts
(`clusters/<env>/environment/`, tools.environment_facts), the repository from the root Application
(`apps/root.yaml`). It refuses to run in another account than the environment's. In order:

1. the environment's public hosted zone (delegate it from the parent domain; external-dns and the certificate use it);
2. the permissions boundary every role Crossplane creates must carry (`crossplane/iam/role-boundary.json`);
3. mail for password reset through SES: the domain identity with Easy DKIM and its CNAME records in the zone, an
   IAM user that may only send from that domain, and its SMTP credentials (SES derives the SMTP password from the
   user's secret access key: `ses_smtp_password`, the algorithm of the SES developer guide);
4. the secrets the cluster's ExternalSecrets read (SECRETS);
5. the artifacts bucket the backup claim reads the Lambda code from: versioned, private, owned by the bucket owner,
   TLS only, and writable under `backup-lambda/` by the release upload role;
6. in the release account only (prod's): GitHub's OIDC provider and that upload role, which only main of this
   repository may assume (`.github/workflows/release-lambda.yaml`). Bootstrap that account first: S3 refuses a
   bucket policy naming a role that does not exist.

Each step creates what is missing and keeps what exists, so it can be re-run; a secret's value is never replaced.
The permissions boundary is the exception: a re-run brings it to the document in git (a new default version).
Leaving the SES sandbox (sending to any address) is a request AWS reviews; the last lines print it.
"""

from __future__ import annotations

import argparse
import base64
import json
import secrets
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import boto3
import yaml
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import BotoCoreError, ClientError

from tools.environment_facts import facts
from tools.repository import ENVIRONMENTS, REPO_ROOT

RELEASE_ENVIRONMENT = "prod"  # its account holds GitHub's OIDC provider and the upload role
UPLOAD_ROLE = "notejam-artifacts-upload"
LAMBDA_CODE_PREFIX = "backup-lambda/"  # where release-lambda writes (tools/lambda_package.py)
GITHUB_OIDC_URL = "https://token.actions.githubusercontent.com"
GITHUB_OIDC_AUDIENCE = "sts.amazonaws.com"
RELEASE_BRANCH = "main"
BOUNDARY_DOCUMENT = REPO_ROOT / "crossplane" / "iam" / "role-boundary.json"
# Secrets Manager secrets `notejam/<env>/<name>` and the JSON properties the cluster's ExternalSecrets read (base/,
# apps/addons/monitoring/, apps/argocd/secrets/). The local control plane's External Secrets stand-in serves
# exactly these.
SECRETS: dict[str, tuple[str, ...]] = {
    "app": ("SECRET_KEY", "SMTP_USERNAME", "SMTP_PASSWORD"),
    # The database's master password (base/externalsecret-database.yaml): here, no deletion in the cluster can take it.
    "database": ("password",),
    "smoke": ("email", "password"),  # the smoke test's account: created on its first run, then only signed in
    # Alertmanager's receiver, and the check-in URL of a dead-man's switch (a heartbeat check of the on-call tool
    # that pages when the always-firing Watchdog alert stops checking in, i.e. when alerting itself is down).
    "alertmanager": ("url", "dead-mans-switch-url"),
    "argocd-notifications": ("on-call-webhook-url",),  # a failed sync, a degraded Application, each deployment
    # The GitHub OAuth App people sign in to Argo CD through (Dex; apps/argocd/values.yaml, dex.config).
    "argocd-sso": ("client-id", "client-secret"),
}
# The values a person gives (an on-call tool's URLs, the SSO's OAuth App), by secret and property; the rest are
# generated.
GIVEN = {
    ("alertmanager", "url"): "alertmanager_url",
    ("alertmanager", "dead-mans-switch-url"): "dead_mans_switch_url",
    ("argocd-notifications", "on-call-webhook-url"): "on_call_webhook_url",
    ("argocd-sso", "client-id"): "github_client_id",
    ("argocd-sso", "client-secret"): "github_client_secret",
}


class BootstrapError(Exception):
    """Something in git or in the account stops the bootstrap: the message says what and what to do."""


@dataclass(frozen=True)
class Account:
    environment: str
    account_id: str
    region: str
    domain: str
    artifacts_bucket: str
    release_account_id: str
    repository: str  # owner/name on GitHub

    @property
    def is_release_account(self) -> bool:
        return self.account_id == self.release_account_id

    @property
    def upload_role_arn(self) -> str:
        return f"arn:aws:iam::{self.release_account_id}:role/{UPLOAD_ROLE}"

    def secret_name(self, name: str) -> str:
        return f"notejam/{self.environment}/{name}"


def secret_names(environment: str) -> dict[str, set[str]]:
    """`{secret name: JSON properties}` this bootstrap creates for an environment."""
    return {f"notejam/{environment}/{name}": set(properties) for name, properties in SECRETS.items()}


def boundary_policy_name(environment: str) -> str:
    """The permissions boundary the compositions set on every role (crossplane/apis/backup)."""
    return f"notejam-{environment}-role-boundary"


def read_account(root: Path, environment: str) -> Account:
    """The facts of an environment's account, from git."""
    if environment not in ENVIRONMENTS:
        raise BootstrapError(f"unknown environment {environment!r}: one of {', '.join(ENVIRONMENTS)}")
    environment_facts = facts(environment, root)
    root_app = yaml.safe_load((root / "apps" / "root.yaml").read_text())
    repository = root_app["spec"]["source"]["repoURL"].removeprefix("https://github.com/").removesuffix(".git")
    return Account(
        environment=environment,
        account_id=environment_facts.account,
        region=environment_facts.region,
        domain=environment_facts.domain,
        artifacts_bucket=environment_facts.artifacts_bucket,
        release_account_id=facts(RELEASE_ENVIRONMENT, root).account,
        repository=repository,
    )


def ses_smtp_password(secret_access_key: str, region: str) -> str:
    """The SES SMTP password of an IAM access key ("Obtaining Amazon SES SMTP credentials", SES developer guide):
    version byte 0x04, then botocore's Signature Version 4 of "SendRawEmail" for service `ses` in the region, on the
    fixed date 11111111."""
    signer = SigV4Auth(Credentials("unused", secret_access_key), "ses", region)
    request = AWSRequest()
    request.context["timestamp"] = "11111111T000000Z"
    return base64.b64encode(bytes([0x04]) + bytes.fromhex(signer.signature("SendRawEmail", request))).decode()


def dkim_records(domain: str, tokens: list[str]) -> list[dict[str, Any]]:
    """Route 53 changes publishing SES Easy DKIM tokens: `<token>._domainkey.<domain>` CNAME
    `<token>.dkim.amazonses.com`."""
    return [
        {
            "Action": "UPSERT",
            "ResourceRecordSet": {
                "Name": f"{token}._domainkey.{domain}",
                "Type": "CNAME",
                "TTL": 1800,
                "ResourceRecords": [{"Value": f"{token}.dkim.amazonses.com"}],
            },
        }
        for token in tokens
    ]


def smtp_user_policy(account: Account) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "SendFromTheEnvironmentDomain",
                "Effect": "Allow",
                "Action": "ses:SendRawEmail",
                "Resource": f"arn:aws:ses:{account.region}:{account.account_id}:identity/{account.domain}",
            }
        ],
    }


def artifacts_bucket_policy(account: Account) -> dict[str, Any]:
    bucket = f"arn:aws:s3:::{account.artifacts_bucket}"
    uploader = {"AWS": account.upload_role_arn}
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "ReleaseWritesLambdaCode",
                "Effect": "Allow",
                "Principal": uploader,
                "Action": ["s3:PutObject", "s3:GetObject"],
                "Resource": f"{bucket}/{LAMBDA_CODE_PREFIX}*",
            },
            {
                # head-object answers 404 for a missing key only to a caller that may list the bucket (403 otherwise)
                "Sid": "ReleaseSeesWhatIsThere",
                "Effect": "Allow",
                "Principal": uploader,
                "Action": "s3:ListBucket",
                "Resource": bucket,
            },
            {
                "Sid": "TlsOnly",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [bucket, f"{bucket}/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            },
        ],
    }


def upload_role_trust(account: Account) -> dict[str, Any]:
    provider = GITHUB_OIDC_URL.removeprefix("https://")
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "GitHubActionsOnMain",
                "Effect": "Allow",
                "Principal": {"Federated": f"arn:aws:iam::{account.account_id}:oidc-provider/{provider}"},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {
                    "StringEquals": {
                        f"{provider}:aud": GITHUB_OIDC_AUDIENCE,
                        f"{provider}:sub": f"repo:{account.repository}:ref:refs/heads/{RELEASE_BRANCH}",
                    }
                },
            }
        ],
    }


def upload_role_policy(buckets: list[str]) -> dict[str, Any]:
    """What the upload role may do itself: the same as each bucket's policy grants it, on every environment's
    bucket (a cross-account write needs both)."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "WriteLambdaCode",
                "Effect": "Allow",
                "Action": ["s3:PutObject", "s3:GetObject"],
                "Resource": [f"arn:aws:s3:::{bucket}/{LAMBDA_CODE_PREFIX}*" for bucket in buckets],
            },
            {
                "Sid": "SeeWhatIsThere",
                "Effect": "Allow",
                "Action": "s3:ListBucket",
                "Resource": [f"arn:aws:s3:::{bucket}" for bucket in buckets],
            },
        ],
    }


def _error_code(error: ClientError) -> str:
    return error.response.get("Error", {}).get("Code", "")


class Bootstrap:
    """The steps, each printing what it created or found."""

    def __init__(self, account: Account, session: Any, given: dict[str, str], root: Path = REPO_ROOT) -> None:
        self.account = account
        self.session = session
        self.given = given
        self.root = root

    def client(self, service: str) -> Any:
        return self.session.client(service, region_name=self.account.region)

    def say(self, message: str) -> None:
        print(f"{self.account.environment}: {message}", flush=True)

    def run(self) -> None:
        self.check_caller()
        self.check_given()
        zone_id = self.hosted_zone()
        self.permissions_boundary()
        smtp = self.mail(zone_id)
        self.secrets(smtp)
        if self.account.is_release_account:
            self.release_role()
        self.artifacts_bucket()
        self.say(
            "next: leave the SES sandbox so reset mail reaches any address (a request AWS reviews): aws sesv2 "
            "put-account-details --production-access-enabled --mail-type TRANSACTIONAL --website-url "
            f"https://notejam.{self.account.domain} --use-case-description 'password reset mail'"
        )

    def check_caller(self) -> None:
        caller = self.client("sts").get_caller_identity()["Account"]
        if caller != self.account.account_id:
            raise BootstrapError(
                f"these credentials are for account {caller}, but clusters/{self.account.environment}/environment "
                f"names {self.account.account_id}: use the {self.account.environment} account"
            )

    def check_given(self) -> None:
        """Before anything is created: every value a missing secret needs from a person is there."""
        missing = [
            f"--{option.replace('_', '-')}"
            for (name, _), option in GIVEN.items()
            if not self.given.get(option) and not self._secret_exists(name)
        ]
        if missing:
            raise BootstrapError(f"the first bootstrap of {self.account.environment} needs {' '.join(missing)}")

    def hosted_zone(self) -> str:
        route53 = self.client("route53")
        name = self.account.domain + "."
        for zone in route53.list_hosted_zones_by_name(DNSName=name)["HostedZones"]:
            if zone["Name"] == name and not zone["Config"].get("PrivateZone"):
                self.say(f"hosted zone {name} exists")
                return zone["Id"]
        created = route53.create_hosted_zone(Name=name, CallerReference=f"notejam-{self.account.environment}")
        servers = ", ".join(created["DelegationSet"]["NameServers"])
        self.say(f"hosted zone {name} created: delegate it from the parent domain to {servers}")
        return created["HostedZone"]["Id"]

    def permissions_boundary(self) -> None:
        """Created, or brought to git's document: unlike a secret, the boundary is ours to change, and a composed role
        whose policy grows (e.g. the backup Lambdas' logs:PutRetentionPolicy) is denied until the boundary follows."""
        iam = self.client("iam")
        name = boundary_policy_name(self.account.environment)
        document = BOUNDARY_DOCUMENT.read_text()
        try:
            iam.create_policy(PolicyName=name, PolicyDocument=document)
            self.say(f"policy {name} created")
            return
        except ClientError as error:
            if _error_code(error) != "EntityAlreadyExists":
                raise
        arn = f"arn:aws:iam::{self.account.account_id}:policy/{name}"
        default = iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
        current = iam.get_policy_version(PolicyArn=arn, VersionId=default)["PolicyVersion"]["Document"]
        if (json.loads(unquote(current)) if isinstance(current, str) else current) == json.loads(document):
            self.say(f"policy {name} exists")
            return
        # IAM keeps at most five versions of a policy: make room by deleting the oldest one that is not the default.
        versions = iam.list_policy_versions(PolicyArn=arn)["Versions"]
        if len(versions) >= 5:
            oldest = min((v for v in versions if not v["IsDefaultVersion"]), key=lambda v: v["CreateDate"])
            iam.delete_policy_version(PolicyArn=arn, VersionId=oldest["VersionId"])
        iam.create_policy_version(PolicyArn=arn, PolicyDocument=document, SetAsDefault=True)
        self.say(f"policy {name} updated to crossplane/iam/role-boundary.json")

    def mail(self, zone_id: str) -> tuple[str, str] | None:
        """The SES identity and its DKIM records; the SMTP user, and a new key only when the app secret that would
        hold it does not exist yet. Returns (SMTP user name, SMTP password), or None when the secret exists."""
        ses, iam = self.client("sesv2"), self.client("iam")
        domain = self.account.domain
        try:
            identity = ses.create_email_identity(EmailIdentity=domain)
            self.say(f"SES identity {domain} created")
        except ClientError as error:
            if _error_code(error) != "AlreadyExistsException":
                raise
            identity = ses.get_email_identity(EmailIdentity=domain)
            self.say(f"SES identity {domain} exists")
        changes = dkim_records(domain, identity.get("DkimAttributes", {}).get("Tokens") or [])
        if changes:
            self.client("route53").change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={"Changes": changes})
            self.say(f"{len(changes)} DKIM records written into {domain}")
        user = f"notejam-{self.account.environment}-smtp"
        try:
            iam.create_user(UserName=user)
            self.say(f"IAM user {user} created")
        except ClientError as error:
            if _error_code(error) != "EntityAlreadyExists":
                raise
        iam.put_user_policy(
            UserName=user, PolicyName="send-mail", PolicyDocument=json.dumps(smtp_user_policy(self.account))
        )
        if self._secret_exists("app"):
            return None
        key = iam.create_access_key(UserName=user)["AccessKey"]
        self.say(f"SMTP credentials of {user} made (access key {key['AccessKeyId']})")
        return key["AccessKeyId"], ses_smtp_password(key["SecretAccessKey"], self.account.region)

    def _secret_exists(self, name: str) -> bool:
        try:
            self.client("secretsmanager").describe_secret(SecretId=self.account.secret_name(name))
            return True
        except ClientError as error:
            if _error_code(error) != "ResourceNotFoundException":
                raise
            return False

    def secret_values(self, name: str, smtp: tuple[str, str] | None) -> dict[str, str]:
        generated = {
            ("app", "SECRET_KEY"): lambda: secrets.token_hex(64),
            ("app", "SMTP_USERNAME"): lambda: smtp[0] if smtp else "",
            ("app", "SMTP_PASSWORD"): lambda: smtp[1] if smtp else "",
            # RDS for PostgreSQL: 8 to 128 printable characters without / ' " @ or space.
            ("database", "password"): lambda: secrets.token_urlsafe(32),
            ("smoke", "email"): lambda: f"smoke@{self.account.domain}",
            ("smoke", "password"): lambda: secrets.token_urlsafe(32),
        }
        values = {}
        for prop in SECRETS[name]:
            if (name, prop) in GIVEN:
                values[prop] = self.given[GIVEN[(name, prop)]]
            else:
                values[prop] = generated[(name, prop)]()
        return values

    def secrets(self, smtp: tuple[str, str] | None) -> None:
        manager = self.client("secretsmanager")
        for name in SECRETS:
            secret = self.account.secret_name(name)
            if self._secret_exists(name):
                self.say(f"secret {secret} exists (kept as it is)")
                continue
            manager.create_secret(Name=secret, SecretString=json.dumps(self.secret_values(name, smtp)))
            self.say(f"secret {secret} created")

    def artifacts_bucket(self) -> None:
        s3, bucket = self.client("s3"), self.account.artifacts_bucket
        try:
            s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": self.account.region})
            self.say(f"bucket {bucket} created")
        except ClientError as error:
            if _error_code(error) != "BucketAlreadyOwnedByYou":
                raise
            self.say(f"bucket {bucket} exists")
        s3.put_public_access_block(
            Bucket=bucket,
            PublicAccessBlockConfiguration={
                "BlockPublicAcls": True,
                "IgnorePublicAcls": True,
                "BlockPublicPolicy": True,
                "RestrictPublicBuckets": True,
            },
        )
        s3.put_bucket_ownership_controls(
            Bucket=bucket, OwnershipControls={"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
        )
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
        try:
            s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(artifacts_bucket_policy(self.account)))
        except ClientError as error:
            if _error_code(error) == "MalformedPolicy":
                raise BootstrapError(
                    f"S3 refused the policy of {bucket} ({error}): does {self.account.upload_role_arn} exist? "
                    f"Bootstrap {RELEASE_ENVIRONMENT}'s account first"
                ) from error
            raise
        self.say(f"bucket {bucket}: versioned, private, TLS only, {self.account.upload_role_arn} writes its code")

    def release_role(self) -> None:
        iam = self.client("iam")
        try:
            iam.create_open_id_connect_provider(Url=GITHUB_OIDC_URL, ClientIDList=[GITHUB_OIDC_AUDIENCE])
            self.say(f"OIDC provider {GITHUB_OIDC_URL} created")
        except ClientError as error:
            if _error_code(error) != "EntityAlreadyExists":
                raise
            self.say(f"OIDC provider {GITHUB_OIDC_URL} exists")
        trust = json.dumps(upload_role_trust(self.account))
        try:
            iam.create_role(RoleName=UPLOAD_ROLE, AssumeRolePolicyDocument=trust, MaxSessionDuration=3600)
            self.say(f"role {UPLOAD_ROLE} created")
        except ClientError as error:
            if _error_code(error) != "EntityAlreadyExists":
                raise
            iam.update_assume_role_policy(RoleName=UPLOAD_ROLE, PolicyDocument=trust)
            self.say(f"role {UPLOAD_ROLE} exists (trust policy rewritten from git)")
        buckets = [read_account(self.root, environment).artifacts_bucket for environment in ENVIRONMENTS]
        iam.put_role_policy(
            RoleName=UPLOAD_ROLE, PolicyName="write-lambda-code", PolicyDocument=json.dumps(upload_role_policy(buckets))
        )
        self.say(f"set the repository variable ARTIFACTS_UPLOAD_ROLE_ARN to {self.account.upload_role_arn}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.bootstrap_account", description=__doc__.split("\n\n")[0])
    parser.add_argument("--env", required=True, choices=ENVIRONMENTS)
    parser.add_argument("--alertmanager-url", help="Alertmanager webhook URL of the on-call tool")
    parser.add_argument("--dead-mans-switch-url", help="heartbeat URL that pages when the Watchdog alert stops")
    parser.add_argument("--on-call-webhook-url", help="generic webhook URL of the on-call tool (Argo CD Notifications)")
    parser.add_argument("--github-client-id", help="client ID of the GitHub OAuth App for Argo CD's SSO")
    parser.add_argument("--github-client-secret", help="client secret of that OAuth App")
    args = parser.parse_args(argv)
    given = {option: getattr(args, option) for option in GIVEN.values()}
    try:
        account = read_account(REPO_ROOT, args.env)
        Bootstrap(account, boto3.Session(), given).run()
    except BootstrapError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except (BotoCoreError, ClientError) as error:
        print(f"error: AWS: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
