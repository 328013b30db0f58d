"""The facts about this repository that more than one tool or test needs, each written here once.

- where the repository is, and its environments in promotion order;
- where the read-only validation data is (`../shared` beside the repository, or `SHARED_DIR`: the Makefile's rule);
- the Makefile's pins of external tools, read back from the Makefile (the one place per pin, where Renovate bumps them);
- the shape of a release tag, our platform API group, the EC2 instance types our node groups may use, and which
  add-on chart installs which upstream CRDs.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


# The environments, in the order a release is promoted through them (.github/workflows/promote.yaml walks the same
# order; a test checks). Each is a folder of clusters/ (a test checks that too).
ENVIRONMENTS = ("dev", "staging", "prod")


def shared_dir() -> Path:
    """SHARED_DIR, else `shared/` beside the repository: the CRDs, schemas and vendored packages never put in git."""
    return Path(os.environ.get("SHARED_DIR") or REPO_ROOT.parent / "shared")


def makefile_pin(variable: str, makefile: Path = REPO_ROOT / "Makefile") -> str:
    """The value of the Makefile's `<variable> := <value>` line."""
    match = re.search(rf"^{re.escape(variable)}\s*:=\s*(\S+)\s*$", makefile.read_text(), re.MULTILINE)
    if match is None:
        raise ValueError(f"{makefile}: no `{variable} := ...` line")
    return match.group(1)


# A release is the full SHA of the commit it was built from: the app's image tag and our function's package tag.
RELEASE_TAG = re.compile(r"^[0-9a-f]{40}$")

# The group of our platform API (crossplane/apis/): the claims PostgreSQLInstance and DatabaseBackup.
PLATFORM_GROUP = "platform.notejam.io"

# fmt: off
# EC2 instance types our node groups may use: vCPUs and memory (AWS EC2 "Instance types" pages), and the pods the
# VPC CNI allows (amazon-eks-ami's eni-max-pods.txt: ENIs x (IPv4 per ENI - 1) + 2).
INSTANCE_TYPES: dict[str, tuple[int, int, int]] = {  # name: (vCPUs, MiB, max pods)
    "t3.small": (2, 2048, 11), "t3.medium": (2, 4096, 17), "t3.large": (2, 8192, 35), "m5.large": (2, 8192, 29),
    "m6i.large": (2, 8192, 29), "m6i.xlarge": (4, 16384, 58), "m6i.2xlarge": (8, 32768, 58),
    "m7i.large": (2, 8192, 29), "c6i.large": (2, 4096, 29),
}
# fmt: on

# Which add-on chart's manifests carry the CRDs of which folder of the shared CRDs (tools/validation_data.SOURCES),
# so that Argo CD applies them. The other folders are never applied by Argo CD: Crossplane's init container applies
# its own CRDs from its image (`crossplane core init`, initializer.NewCoreCRDs), its package manager the providers'.
# The local control plane's stand-in of the argo-cd chart takes the CRDs of the Argo CD release the clusters run.
CHART_CRD_FOLDERS: dict[str, str] = {
    "argo-cd": "argo-cd",
    "external-secrets": "external-secrets",
    "kube-prometheus-stack": "prometheus-operator",
}
