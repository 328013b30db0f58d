"""kwok Nodes for an environment: one per availability zone of `clusters/<env>/eksctl.yaml`, labelled like the EKS
managed node that the zone's node group would start (zone, region, instance type, node group, capacity type).

kwok fakes what a kubelet would do for Nodes carrying the annotation `kwok.x-k8s.io/node: fake`: they report Ready, and
the Pods scheduled onto them turn Running and Ready (and those of Jobs complete) without any container running; kwok
serves their resource metrics (the CPU the `traffic` stand-in sets on each pod) for metrics-server.
"""

from __future__ import annotations

from typing import Any

import yaml

from tools.repository import INSTANCE_TYPES, REPO_ROOT

KWOK_ANNOTATION = {"kwok.x-k8s.io/node": "fake"}
# Where metrics-server scrapes a Node's resource metrics (metrics-server pkg/scraper/client/resource/client.go): kwok
# serves every Node's on its own port under this path (kwok kustomize/kwokctl/resource/node.yaml, the Metric of
# kustomize/metrics/resource/metrics-resource.yaml).
METRICS_PATH_ANNOTATION = "metrics.k8s.io/resource-metrics-path"


def node_for(zone: str, region: str, group: dict[str, Any], cluster: str) -> dict[str, Any]:
    instance_type = group.get("instanceType", "m6i.large")
    if instance_type not in INSTANCE_TYPES:
        raise ValueError(f"add {instance_type} (node group {group['name']}) to tools/repository.INSTANCE_TYPES")
    name = f"{cluster}-{group['name']}-{zone}"
    cpus, mib, _ = INSTANCE_TYPES[instance_type]
    # Allocatable: the instance's vCPUs and memory, minus nothing (kwok runs no kubelet).
    capacity = {"cpu": str(cpus), "memory": f"{mib}Mi", "pods": "110"}
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "annotations": {**KWOK_ANNOTATION, METRICS_PATH_ANNOTATION: f"/metrics/nodes/{name}/metrics/resource"},
            "labels": {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "topology.kubernetes.io/zone": zone,
                "topology.kubernetes.io/region": region,
                "node.kubernetes.io/instance-type": instance_type,
                "eks.amazonaws.com/nodegroup": group["name"],
                "eks.amazonaws.com/capacityType": "ON_DEMAND",
                "type": "kwok",
            },
        },
        "spec": {},
        "status": {"allocatable": capacity, "capacity": capacity},
    }


def nodes(environment: str) -> list[dict[str, Any]]:
    config = yaml.safe_load((REPO_ROOT / "clusters" / environment / "eksctl.yaml").read_text())
    region = config["metadata"]["region"]
    cluster = config["metadata"]["name"]
    found = []
    for zone in config["availabilityZones"]:
        groups = [g for g in config.get("managedNodeGroups", []) if zone in g.get("availabilityZones", [zone])]
        if not groups:
            raise ValueError(f"clusters/{environment}/eksctl.yaml: no managed node group covers {zone}")
        found.append(node_for(zone, region, groups[0], cluster))
    return found
