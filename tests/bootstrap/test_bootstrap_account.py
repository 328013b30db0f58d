"""`make bootstrap-account` (tools/bootstrap_account.py) against moto: prod's account first (the release account),
then dev's, then again, and what each account holds afterwards."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
import yaml
from moto import mock_aws
from parliament import analyze_policy_string

from tools import bootstrap_account
from tools.bootstrap_account import (
    SECRETS,
    Bootstrap,
    BootstrapError,
    read_account,
    secret_names,
    ses_smtp_password,
)
from tools.lambda_package import claimed_locations
from tools.manifests import kustomize_overlay
from tools.repository import ENVIRONMENTS, REPO_ROOT

GIVEN = {
    "alertmanager_url": "https://on-call.example/alertmanager",
    "dead_mans_switch_url": "https://on-call.example/heartbeat",
    "on_call_webhook_url": "https://on-call.example/webhook",
    "github_client_id": "Ov23liexample",
    "github_client_secret": "0123456789abcdef0123456789abcdef01234567",
}


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """In-memory AWS with one backend per account: MOTO_ACCOUNT_ID picks the account each request is made in."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        yield monkeypatch


def bootstrap(aws: pytest.MonkeyPatch, environment: str, given: dict[str, str] | None = None) -> None:
    account = read_account(REPO_ROOT, environment)
    aws.setenv("MOTO_ACCOUNT_ID", account.account_id)
    Bootstrap(account, boto3.Session(), GIVEN if given is None else given).run()


def client(aws: pytest.MonkeyPatch, environment: str, service: str) -> Any:
    account = read_account(REPO_ROOT, environment)
    aws.setenv("MOTO_ACCOUNT_ID", account.account_id)
    return boto3.client(service, region_name=account.region)


def secret(aws: pytest.MonkeyPatch, environment: str, name: str) -> dict[str, str]:
    value = client(aws, environment, "secretsmanager").get_secret_value(SecretId=f"notejam/{environment}/{name}")
    return json.loads(value["SecretString"])


@pytest.fixture
def bootstrapped(aws: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    bootstrap(aws, "prod")
    bootstrap(aws, "dev")
    return aws


def test_the_facts_come_from_git() -> None:
    for environment in ENVIRONMENTS:
        account = read_account(REPO_ROOT, environment)
        (claimed,) = [loc for loc in claimed_locations() if loc[0] == environment]
        assert account.artifacts_bucket == claimed[1]
        assert account.artifacts_bucket.endswith(account.account_id)
        assert account.repository == "notejam/notejam-gitops"
        # The app sends reset mail from the domain SES verifies.
        [config] = [d for d in kustomize_overlay(environment) if d["kind"] == "ConfigMap"]
        assert config["data"]["MAIL_FROM"] == f"notejam@{account.domain}"
    assert read_account(REPO_ROOT, "dev").release_account_id == read_account(REPO_ROOT, "prod").account_id


def test_every_secret_holds_what_the_cluster_reads(bootstrapped: pytest.MonkeyPatch) -> None:
    for name, properties in SECRETS.items():
        values = secret(bootstrapped, "dev", name)
        assert set(values) == set(properties), name
        assert all(values.values()), f"{name} has an empty value"
    assert secret(bootstrapped, "dev", "alertmanager")["dead-mans-switch-url"] == GIVEN["dead_mans_switch_url"]
    assert secret(bootstrapped, "dev", "smoke")["email"] == "smoke@dev.example.com"
    assert len(secret(bootstrapped, "dev", "app")["SECRET_KEY"]) == 128


def test_smtp_credentials_are_the_mail_users_key(bootstrapped: pytest.MonkeyPatch) -> None:
    app = secret(bootstrapped, "dev", "app")
    iam = client(bootstrapped, "dev", "iam")
    (key,) = iam.list_access_keys(UserName="notejam-dev-smtp")["AccessKeyMetadata"]
    assert app["SMTP_USERNAME"] == key["AccessKeyId"]
    password = base64.b64decode(app["SMTP_PASSWORD"])
    assert password[0] == 0x04 and len(password) == 33
    policy = iam.get_user_policy(UserName="notejam-dev-smtp", PolicyName="send-mail")["PolicyDocument"]
    (statement,) = policy["Statement"]
    assert statement["Action"] == "ses:SendRawEmail"
    assert statement["Resource"] == "arn:aws:ses:eu-west-1:111111111111:identity/dev.example.com"
    ses = client(bootstrapped, "dev", "sesv2")
    assert ses.get_email_identity(EmailIdentity="dev.example.com")["IdentityType"] == "DOMAIN"


def test_the_smtp_password_is_the_documented_derivation() -> None:
    # The SES developer guide's algorithm, written out here independently of botocore's signer that the tool uses.
    def documented(secret_key: str, region: str) -> str:
        signature = ("AWS4" + secret_key).encode()
        for part in ("11111111", region, "ses", "aws4_request", "SendRawEmail"):
            signature = hmac.new(signature, part.encode(), hashlib.sha256).digest()
        return base64.b64encode(bytes([0x04]) + signature).decode()

    key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    assert ses_smtp_password(key, "eu-west-1") == documented(key, "eu-west-1")
    assert ses_smtp_password(key, "eu-west-1") != ses_smtp_password(key, "us-east-1")


def test_dkim_tokens_become_cname_records() -> None:
    (change,) = bootstrap_account.dkim_records("dev.example.com", ["abc123"])
    record = change["ResourceRecordSet"]
    assert (record["Name"], record["Type"]) == ("abc123._domainkey.dev.example.com", "CNAME")
    assert record["ResourceRecords"] == [{"Value": "abc123.dkim.amazonses.com"}]


def test_zone_and_boundary(bootstrapped: pytest.MonkeyPatch) -> None:
    route53 = client(bootstrapped, "dev", "route53")
    zones = route53.list_hosted_zones_by_name(DNSName="dev.example.com.")["HostedZones"]
    assert [zone["Name"] for zone in zones] == ["dev.example.com."]
    iam = client(bootstrapped, "dev", "iam")
    arn = "arn:aws:iam::111111111111:policy/notejam-dev-role-boundary"
    version = iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
    document = iam.get_policy_version(PolicyArn=arn, VersionId=version)["PolicyVersion"]["Document"]
    if isinstance(document, str):
        document = json.loads(document)
    assert document == json.loads((REPO_ROOT / "crossplane" / "iam" / "role-boundary.json").read_text())


def test_a_rerun_brings_an_older_boundary_to_the_document_in_git(bootstrapped: pytest.MonkeyPatch) -> None:
    # An account bootstrapped before the boundary grew (here: before logs:PutRetentionPolicy), with IAM's five
    # versions already used up.
    iam = client(bootstrapped, "dev", "iam")
    arn = "arn:aws:iam::111111111111:policy/notejam-dev-role-boundary"
    in_git = json.loads((REPO_ROOT / "crossplane" / "iam" / "role-boundary.json").read_text())
    older = json.loads(json.dumps(in_git).replace(', "logs:PutRetentionPolicy"', ""))
    assert older != in_git
    for _ in range(4):
        iam.create_policy_version(PolicyArn=arn, PolicyDocument=json.dumps(older), SetAsDefault=True)

    bootstrap(bootstrapped, "dev")

    version = iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
    document = iam.get_policy_version(PolicyArn=arn, VersionId=version)["PolicyVersion"]["Document"]
    assert (json.loads(document) if isinstance(document, str) else document) == in_git
    assert len(iam.list_policy_versions(PolicyArn=arn)["Versions"]) == 5
    bootstrap(bootstrapped, "dev")  # up to date: no new version
    assert iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"] == version


def test_the_artifacts_bucket_is_private_versioned_and_the_release_role_writes_code(
    bootstrapped: pytest.MonkeyPatch,
) -> None:
    s3 = client(bootstrapped, "dev", "s3")
    bucket = "notejam-artifacts-111111111111"
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert all(block.values()) and len(block) == 4
    (rule,) = s3.get_bucket_ownership_controls(Bucket=bucket)["OwnershipControls"]["Rules"]
    assert rule["ObjectOwnership"] == "BucketOwnerEnforced"
    policy = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
    granted = {
        (statement["Effect"], json.dumps(statement["Principal"]), json.dumps(statement["Action"]))
        for statement in policy["Statement"]
    }
    uploader = json.dumps({"AWS": "arn:aws:iam::333333333333:role/notejam-artifacts-upload"})
    assert ("Allow", uploader, json.dumps(["s3:PutObject", "s3:GetObject"])) in granted
    writes = [s for s in policy["Statement"] if s["Effect"] == "Allow" and "s3:PutObject" in s["Action"]]
    assert [s["Resource"] for s in writes] == [f"arn:aws:s3:::{bucket}/backup-lambda/*"]
    assert any(s["Effect"] == "Deny" and "aws:SecureTransport" in json.dumps(s) for s in policy["Statement"])


def test_only_main_of_this_repository_assumes_the_upload_role(bootstrapped: pytest.MonkeyPatch) -> None:
    iam = client(bootstrapped, "prod", "iam")
    (provider,) = iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]
    described = iam.get_open_id_connect_provider(OpenIDConnectProviderArn=provider["Arn"])
    assert described["ClientIDList"] == ["sts.amazonaws.com"]
    role = iam.get_role(RoleName="notejam-artifacts-upload")["Role"]
    (statement,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Principal"]["Federated"] == provider["Arn"]
    assert statement["Condition"]["StringEquals"] == {
        "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
        "token.actions.githubusercontent.com:sub": "repo:notejam/notejam-gitops:ref:refs/heads/main",
    }
    policy = iam.get_role_policy(RoleName="notejam-artifacts-upload", PolicyName="write-lambda-code")
    written = set(policy["PolicyDocument"]["Statement"][0]["Resource"])
    assert written == {f"arn:aws:s3:::{bucket}/backup-lambda/*" for _, bucket, _ in claimed_locations()}
    # Not in the other accounts.
    assert not client(bootstrapped, "dev", "iam").list_open_id_connect_providers()["OpenIDConnectProviderList"]


def test_running_it_again_keeps_every_secret_and_makes_no_new_key(bootstrapped: pytest.MonkeyPatch) -> None:
    before = {name: secret(bootstrapped, "dev", name) for name in SECRETS}
    bootstrap(bootstrapped, "dev", given={})  # no URLs needed once their secrets exist
    assert {name: secret(bootstrapped, "dev", name) for name in SECRETS} == before
    iam = client(bootstrapped, "dev", "iam")
    assert len(iam.list_access_keys(UserName="notejam-dev-smtp")["AccessKeyMetadata"]) == 1


def test_the_wrong_account_is_refused_before_anything_is_made(aws: pytest.MonkeyPatch) -> None:
    aws.setenv("MOTO_ACCOUNT_ID", "999999999999")
    with pytest.raises(BootstrapError, match=r"credentials are for account 999999999999.*names 111111111111"):
        Bootstrap(read_account(REPO_ROOT, "dev"), boto3.Session(), GIVEN).run()
    assert not boto3.client("s3", region_name="eu-west-1").list_buckets()["Buckets"]


def test_a_first_bootstrap_without_the_given_values_makes_nothing(aws: pytest.MonkeyPatch) -> None:
    with pytest.raises(
        BootstrapError,
        match="--alertmanager-url --dead-mans-switch-url --on-call-webhook-url --github-client-id "
        "--github-client-secret",
    ):
        bootstrap(aws, "prod", given={})
    assert not client(aws, "prod", "route53").list_hosted_zones()["HostedZones"]


def test_the_command_line_reports_errors_without_a_trace(
    aws: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    aws.setenv("MOTO_ACCOUNT_ID", "999999999999")
    assert bootstrap_account.main(["--env", "dev"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: these credentials are for account 999999999999") and "Traceback" not in err


def test_the_external_secrets_read_only_what_the_bootstrap_creates() -> None:
    from tools.cluster.fake_controllers.external_secrets import documented_secrets

    for environment in ENVIRONMENTS:
        assert {k: v for k, v in documented_secrets().items() if f"/{environment}/" in k} == secret_names(environment)


# The trust policy is not for parliament (it reads identity and resource policies); its test above checks it.
@pytest.mark.parametrize("policy", ["artifacts_bucket_policy", "smtp_user_policy"])
def test_parliament_finds_nothing_in_the_bootstrap_policies(policy: str) -> None:
    document = getattr(bootstrap_account, policy)(read_account(REPO_ROOT, "dev"))
    findings = analyze_policy_string(json.dumps(document), include_community_auditors=True).findings
    assert not findings, [str(finding) for finding in findings]


def test_parliament_finds_nothing_in_the_upload_role_policy() -> None:
    document = bootstrap_account.upload_role_policy([bucket for _, bucket, _ in claimed_locations()])
    findings = analyze_policy_string(json.dumps(document), include_community_auditors=True).findings
    assert not findings, [str(finding) for finding in findings]


def test_the_bootstrap_document_runs_it_with_every_value_it_needs_once() -> None:
    text = (REPO_ROOT / "docs" / "bootstrap.md").read_text()
    (command,) = re.findall(r"^make bootstrap-account ENV=(\w+) ARGS=\"([^\"]*)\"$", text, flags=re.MULTILINE)
    assert command[0] == bootstrap_account.RELEASE_ENVIRONMENT, "the release account comes first"
    options = {f"--{option.replace('_', '-')}" for option in bootstrap_account.GIVEN.values()}
    assert set(re.findall(r"--[\w-]+", command[1])) == options
    makefile = (REPO_ROOT / "Makefile").read_text()
    assert "$(PY) -m tools.bootstrap_account --env $(ENV) $(ARGS)" in makefile


def test_the_documented_repository_credential_is_for_the_url_every_application_uses() -> None:
    text = (REPO_ROOT / "docs" / "bootstrap.md").read_text().replace("\\\n", " ")
    (secret,) = re.findall(r"^kubectl -n argocd create secret generic (\S+) (.*)$", text, flags=re.MULTILINE)
    literals = dict(re.findall(r"--from-literal=(\w+)=(\S+)", secret[1]))
    root = yaml.safe_load((REPO_ROOT / "apps" / "root.yaml").read_text())
    assert literals["type"] == "git" and literals["url"] == root["spec"]["source"]["repoURL"]
    assert {"githubAppID", "githubAppInstallationID"} <= set(literals) and "--from-file=githubAppPrivateKey=" in secret[
        1
    ]
    label = f"kubectl -n argocd label secret {secret[0]} argocd.argoproj.io/secret-type=repository"
    assert label in text
