"""Argo CD's settings for the local control plane, from `apps/argocd/values.yaml` as the chart would write them.

The chart renders `configs.cm` into ConfigMap `argocd-cm` key for key (plus its own defaults, which our values do not
override), labelled `app.kubernetes.io/part-of: argocd` (Argo CD's settings informer selects on that label). The
`default` AppProject is normally created by argocd-server; it is created here, as the server would.

    python -m tools.cluster.argocd_settings     # print the objects
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import yaml

from tools.manifests import REPO_ROOT

VALUES_FILE = REPO_ROOT / "apps" / "argocd" / "values.yaml"
NAMESPACE = "argocd"
PART_OF = {"app.kubernetes.io/part-of": "argocd"}


def cm_data(values_file: Path = VALUES_FILE) -> dict[str, str]:
    """`argocd-cm`'s data: every `configs.cm` key of our values, as a string (how the chart writes it)."""
    values = yaml.safe_load(values_file.read_text()) or {}
    cm = (values.get("configs") or {}).get("cm") or {}
    return {key: value if isinstance(value, str) else yaml.safe_dump(value).strip() for key, value in cm.items()}


def settings_objects(values_file: Path = VALUES_FILE) -> list[dict[str, Any]]:
    def config_map(name: str, data: dict[str, str]) -> dict[str, Any]:
        labels = {**PART_OF, "app.kubernetes.io/name": name}
        return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": NAMESPACE,
                                                                      "labels": labels}, "data": data}  # fmt: skip

    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}},
        config_map("argocd-cm", cm_data(values_file)),
        config_map("argocd-cmd-params-cm", {}),
        config_map("argocd-rbac-cm", {}),
        config_map("argocd-ssh-known-hosts-cm", {}),
        config_map("argocd-tls-certs-cm", {}),
        config_map("argocd-gpg-keys-cm", {}),
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {
                "name": "argocd-secret",
                "namespace": NAMESPACE,
                "labels": {**PART_OF, "app.kubernetes.io/name": "argocd-secret"},
            },
            "type": "Opaque",
        },
        {
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "AppProject",
            "metadata": {"name": "default", "namespace": NAMESPACE},
            "spec": {
                "sourceRepos": ["*"],
                "destinations": [{"server": "*", "namespace": "*"}],
                "clusterResourceWhitelist": [{"group": "*", "kind": "*"}],
            },
        },
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--values", type=Path, default=VALUES_FILE)
    args = parser.parse_args(argv)
    print(yaml.safe_dump_all(settings_objects(args.values), sort_keys=False), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
