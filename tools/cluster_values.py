"""Write into git the AWS values a new cluster's first sync needs that only exist after `eksctl create`.

`make cluster-values ENV=<env>` runs this.

Run once per cluster, after `eksctl create cluster` and before applying the root Application (docs/bootstrap.md):

    python -m tools.cluster_values --env dev

It reads, with the caller's AWS credentials:

* the EKS cluster `notejam-<env>`: its VPC, the VPC's CIDR and its private subnets (eksctl tags them
  `kubernetes.io/role/internal-elb`), which the database claim (`overlays/<env>/database-claim.yaml`) needs, and
  its public subnets' ranges (tagged `kubernetes.io/role/elb`), where the ALB lives: the web pods' NetworkPolicy
  admits only those (`notejam-web-from-load-balancer`, patched in `overlays/<env>/kustomization.yaml`);
* the ACM certificate of the environment's Ingress host (notejam.<domain>, the domain of its facts in
  `clusters/<env>/environment/`): an existing one, or a new DNS-validated one whose validation record it writes
  into the public hosted zone of the host. Its ARN goes into the Ingress (`alb.ingress.kubernetes.io/certificate-arn`,
  a patch of `overlays/<env>/kustomization.yaml`), so the ALB never depends on a certificate search.

It edits those lines in place (comments stay) and prints what changed; commit and push the result. The DNS record of
the host itself is external-dns's job (apps/addons/external-dns.yaml).
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass
from ipaddress import ip_network
from pathlib import Path
from typing import Any

import boto3
import yaml
from botocore.exceptions import BotoCoreError, ClientError

from tools.environment_facts import FactsError, facts
from tools.repository import ENVIRONMENTS, REPO_ROOT

DEFAULT_REGION = "eu-west-1"
PRIVATE_SUBNET_TAG = "kubernetes.io/role/internal-elb"  # eksctl's tag on the private subnets
PUBLIC_SUBNET_TAG = "kubernetes.io/role/elb"  # and on the public ones, where an internet-facing ALB lives
LOAD_BALANCER_POLICY = "notejam-web-from-load-balancer"
CERTIFICATE_ANNOTATION = "alb.ingress.kubernetes.io/certificate-arn"
USABLE_CERTIFICATE_STATES = ("ISSUED", "PENDING_VALIDATION")


class ClusterValuesError(Exception):
    """A value cannot be found in AWS or in git: the message says which and why."""


@dataclass(frozen=True)
class Network:
    vpc_id: str
    cidr: str
    private_subnet_ids: list[str]
    public_cidrs: list[str]


def cluster_name(root: Path, environment: str) -> str:
    return yaml.safe_load((root / "clusters" / environment / "eksctl.yaml").read_text())["metadata"]["name"]


def network(session: Any, cluster: str) -> Network:
    """The cluster's VPC, its CIDR and its private subnets, sorted."""
    eks = session.client("eks")
    try:
        config = eks.describe_cluster(name=cluster)["cluster"]["resourcesVpcConfig"]
    except eks.exceptions.ResourceNotFoundException as error:
        raise ClusterValuesError(f"no EKS cluster {cluster}: run `eksctl create cluster` first") from error
    ec2 = session.client("ec2")
    subnets = ec2.describe_subnets(SubnetIds=config["subnetIds"])["Subnets"]
    vpc_id = config.get("vpcId") or subnets[0]["VpcId"]
    cidr = ec2.describe_vpcs(VpcIds=[vpc_id])["Vpcs"][0]["CidrBlock"]
    private = sorted(s["SubnetId"] for s in subnets if _tagged(s, PRIVATE_SUBNET_TAG))
    if len(private) < 2:
        raise ClusterValuesError(f"{cluster}: {len(private)} private subnets tagged {PRIVATE_SUBNET_TAG}; RDS needs 2+")
    public = sorted((s["CidrBlock"] for s in subnets if _tagged(s, PUBLIC_SUBNET_TAG)), key=ip_network)
    if not public:
        raise ClusterValuesError(f"{cluster}: no public subnet tagged {PUBLIC_SUBNET_TAG}: where would the ALB live?")
    return Network(vpc_id, cidr, private, public)


def _tagged(subnet: dict[str, Any], key: str) -> bool:
    return any(tag["Key"] == key for tag in subnet.get("Tags") or [])


def hosted_zone_id(session: Any, host: str) -> str:
    """The public hosted zone whose name is the longest suffix of `host`."""
    route53 = session.client("route53")
    zones = [
        zone
        for page in route53.get_paginator("list_hosted_zones").paginate()
        for zone in page["HostedZones"]
        if not zone.get("Config", {}).get("PrivateZone")
    ]
    matching = [z for z in zones if f"{host}.".endswith("." + z["Name"]) or f"{host}." == z["Name"]]
    if not matching:
        raise ClusterValuesError(f"no public hosted zone for {host}: create the zone of its domain first")
    return max(matching, key=lambda z: len(z["Name"]))["Id"].rsplit("/", 1)[-1]


def certificate(session: Any, host: str) -> tuple[str, str]:
    """(ARN, status) of the host's certificate: the existing one, else a new DNS-validated one being validated."""
    acm = session.client("acm")
    for page in acm.get_paginator("list_certificates").paginate(CertificateStatuses=list(USABLE_CERTIFICATE_STATES)):
        for summary in page["CertificateSummaryList"]:
            if summary["DomainName"] == host:
                arn = summary["CertificateArn"]
                return arn, acm.describe_certificate(CertificateArn=arn)["Certificate"]["Status"]
    token = re.sub(r"\W", "", host)[:32]  # one request per host, however often this runs within the hour
    arn = acm.request_certificate(DomainName=host, ValidationMethod="DNS", IdempotencyToken=token)["CertificateArn"]
    options = acm.describe_certificate(CertificateArn=arn)["Certificate"]["DomainValidationOptions"]
    record = next((o["ResourceRecord"] for o in options if "ResourceRecord" in o), None)
    if record is None:  # ACM fills the record in a few seconds after the request
        raise ClusterValuesError(f"ACM has no validation record for {arn} yet: run again in a minute")
    change = {
        "Action": "UPSERT",
        "ResourceRecordSet": {
            "Name": record["Name"],
            "Type": record["Type"],
            "TTL": 300,
            "ResourceRecords": [{"Value": record["Value"]}],
        },
    }
    session.client("route53").change_resource_record_sets(
        HostedZoneId=hosted_zone_id(session, host), ChangeBatch={"Changes": [change]}
    )
    return arn, "PENDING_VALIDATION"


def write_network(path: Path, values: Network) -> str:
    """The database claim with the cluster's VPC, private subnets and CIDR (comments kept)."""
    text = path.read_text()
    replacements = {
        r"^(\s+vpcId: )\S+": rf"\g<1>{values.vpc_id}",
        r"^(\s+subnetIds: )\[[^\]]*\]": rf"\g<1>[{', '.join(values.private_subnet_ids)}]",
        r"^(\s+clientCidrBlocks: )\[[^\]]*\]": rf"\g<1>[{values.cidr}]",
    }
    for pattern, replacement in replacements.items():
        text, count = re.subn(pattern, replacement, text, count=1, flags=re.MULTILINE)
        if count != 1:
            raise ClusterValuesError(f"{path}: no line matching {pattern!r}")
    return text


def write_certificate(path: Path, arn: str) -> str:
    """The overlay with its Ingress patch setting the certificate annotation to `arn` (added once, then replaced)."""
    text = path.read_text()
    annotation_path = f"/metadata/annotations/{CERTIFICATE_ANNOTATION.replace('/', '~1')}"
    line = f"      - {{op: add, path: {annotation_path}, value: {arn}}}"
    existing = re.compile(rf"^      - \{{op: add, path: {re.escape(annotation_path)}, .*$", re.MULTILINE)
    if existing.search(text):
        return existing.sub(line, text, count=1)
    anchor = re.search(r"^patches:\n", text, flags=re.MULTILINE)
    if not anchor:
        raise ClusterValuesError(f"{path}: no `patches:` to add the Ingress certificate to")
    block = (
        "  # The ACM certificate of the Ingress host (`make cluster-values` wrote it).\n"
        "  - target: {kind: Ingress, name: notejam}\n"
        "    patch: |-\n"
        f"{line}\n"
    )
    return text[: anchor.end()] + block + text[anchor.end() :]


def write_load_balancer_sources(path: Path, text: str, cidrs: list[str]) -> str:
    """`text` (the overlay's kustomization.yaml at `path`) with its load balancer NetworkPolicy patch admitting
    exactly `cidrs`."""
    blocks = ", ".join(f"{{ipBlock: {{cidr: {cidr}}}}}" for cidr in cidrs)
    pattern = (
        rf"(metadata: \{{name: {LOAD_BALANCER_POLICY}\}}\n      spec:\n        ingress:\n          - from: )\[.*\]$"
    )
    text, count = re.subn(pattern, rf"\g<1>[{blocks}]", text, count=1, flags=re.MULTILINE)
    if count != 1:
        raise ClusterValuesError(f"{path}: no patch of NetworkPolicy {LOAD_BALANCER_POLICY}'s sources")
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.cluster_values", description=__doc__.splitlines()[0])
    parser.add_argument("--env", required=True, choices=ENVIRONMENTS, help="the environment")
    parser.add_argument("--region", default=DEFAULT_REGION, help=f"AWS region (default {DEFAULT_REGION})")
    parser.add_argument("--repo", type=Path, default=REPO_ROOT, help="the checkout to write into (default: this one)")
    args = parser.parse_args(argv)
    session = boto3.session.Session(region_name=args.region)
    overlay = args.repo / "overlays" / args.env
    try:
        values = network(session, cluster_name(args.repo, args.env))
        host = facts(args.env, args.repo).host
        arn, status = certificate(session, host)
        claim, kustomization = overlay / "database-claim.yaml", overlay / "kustomization.yaml"
        new_claim, new_kustomization = write_network(claim, values), write_certificate(kustomization, arn)
        new_kustomization = write_load_balancer_sources(kustomization, new_kustomization, values.public_cidrs)
    except (ClusterValuesError, FactsError, BotoCoreError, ClientError) as error:
        print(f"cluster-values: {error}", file=sys.stderr)
        return 1
    claim.write_text(new_claim)
    kustomization.write_text(new_kustomization)
    print(f"{claim.relative_to(args.repo)}: vpc {values.vpc_id}, subnets {', '.join(values.private_subnet_ids)}")
    print(f"{kustomization.relative_to(args.repo)}: certificate {arn} for {host} ({status})")
    print(f"{kustomization.relative_to(args.repo)}: the load balancer's subnets {', '.join(values.public_cidrs)}")
    print("Commit and push these files before applying the root Application.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
