"""`make cluster-values ENV=<env>` (tools/cluster_values.py) against an in-memory AWS (moto): after `eksctl create`,
it writes the cluster's VPC, private subnets and CIDR into the database claim and the Ingress host's DNS-validated
certificate into the overlay, and the result still builds."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
import yaml
from moto import mock_aws

from tools import cluster_values
from tools.manifests import kustomize_overlay
from tools.repository import REPO_ROOT

REGION = "eu-west-1"
HOST = "notejam.dev.example.com"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        yield


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """The parts of the repository the tool reads and writes, copied so the real overlay stays untouched."""
    for folder in ("base", "overlays/dev", "clusters/dev", "components"):
        shutil.copytree(REPO_ROOT / folder, tmp_path / folder)
    return tmp_path


def eksctl_cluster() -> dict[str, object]:
    """What `eksctl create cluster -f clusters/dev/eksctl.yaml` leaves: a VPC, public and private subnets, EKS."""
    ec2 = boto3.client("ec2", region_name=REGION)
    vpc = ec2.create_vpc(CidrBlock="10.10.0.0/16")["Vpc"]["VpcId"]
    public, private = [], []
    for index, zone in enumerate(("a", "b", "c")):
        for role, found, offset in (("elb", public, 0), ("internal-elb", private, 100)):
            subnet = ec2.create_subnet(
                VpcId=vpc, CidrBlock=f"10.10.{offset + index}.0/24", AvailabilityZone=f"{REGION}{zone}"
            )["Subnet"]["SubnetId"]
            ec2.create_tags(Resources=[subnet], Tags=[{"Key": f"kubernetes.io/role/{role}", "Value": "1"}])
            found.append(subnet)
    boto3.client("eks", region_name=REGION).create_cluster(
        name="notejam-dev",
        roleArn="arn:aws:iam::111111111111:role/eksctl-notejam-dev-cluster-ServiceRole",
        resourcesVpcConfig={"subnetIds": public + private},
    )
    zone_id = boto3.client("route53").create_hosted_zone(Name="dev.example.com", CallerReference="zone")
    public_cidrs = [f"10.10.{index}.0/24" for index in range(3)]
    return {"vpc": vpc, "private": sorted(private), "public_cidrs": public_cidrs, "zone": zone_id["HostedZone"]["Id"]}


def run(checkout: Path) -> int:
    return cluster_values.main(["--env", "dev", "--repo", str(checkout), "--region", REGION])


def test_writes_the_network_and_a_dns_validated_certificate(aws, checkout: Path) -> None:
    created = eksctl_cluster()
    assert run(checkout) == 0
    claim = yaml.safe_load((checkout / "overlays/dev/database-claim.yaml").read_text())
    network = claim["spec"]["parameters"]["network"]
    assert network == {"vpcId": created["vpc"], "subnetIds": created["private"], "clientCidrBlocks": ["10.10.0.0/16"]}
    assert "# the cluster's VPC" in (checkout / "overlays/dev/database-claim.yaml").read_text(), "comments stay"

    documents = kustomize_overlay("dev", checkout)
    (policy,) = [doc for doc in documents if doc["metadata"]["name"] == "notejam-web-from-load-balancer"]
    assert policy["spec"]["ingress"][0]["from"] == [{"ipBlock": {"cidr": cidr}} for cidr in created["public_cidrs"]]
    (ingress,) = [doc for doc in documents if doc["kind"] == "Ingress"]
    arn = ingress["metadata"]["annotations"]["alb.ingress.kubernetes.io/certificate-arn"]
    certificate = boto3.client("acm", region_name=REGION).describe_certificate(CertificateArn=arn)["Certificate"]
    assert certificate["DomainName"] == HOST == ingress["spec"]["tls"][0]["hosts"][0]
    assert certificate["DomainValidationOptions"][0]["ValidationMethod"] == "DNS"
    # The validation record is in the host's zone, so ACM can issue the certificate without anyone.
    record = certificate["DomainValidationOptions"][0]["ResourceRecord"]
    records = boto3.client("route53").list_resource_record_sets(HostedZoneId=created["zone"])["ResourceRecordSets"]
    assert any(r["Name"] == record["Name"] and r["Type"] == "CNAME" for r in records)


def test_a_second_run_reuses_the_certificate_and_changes_nothing(aws, checkout: Path) -> None:
    eksctl_cluster()
    assert run(checkout) == 0
    first = {
        p: (checkout / p).read_text() for p in ("overlays/dev/database-claim.yaml", "overlays/dev/kustomization.yaml")
    }
    assert run(checkout) == 0
    assert {p: (checkout / p).read_text() for p in first} == first
    assert len(boto3.client("acm", region_name=REGION).list_certificates()["CertificateSummaryList"]) == 1


def test_before_eksctl_create_it_says_so(aws, checkout: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = (checkout / "overlays/dev/database-claim.yaml").read_text()
    assert run(checkout) == 1
    assert "no EKS cluster notejam-dev" in capsys.readouterr().err
    assert (checkout / "overlays/dev/database-claim.yaml").read_text() == before


def test_without_a_hosted_zone_it_says_so(aws, checkout: Path, capsys: pytest.CaptureFixture[str]) -> None:
    eksctl_cluster()
    boto3.client("route53").delete_hosted_zone(Id=boto3.client("route53").list_hosted_zones()["HostedZones"][0]["Id"])
    assert run(checkout) == 1
    assert f"no public hosted zone for {HOST}" in capsys.readouterr().err
