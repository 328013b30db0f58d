"""The render CLI's output read back: every composed resource with its environment and claim.

`python -m tools.render --assume-created` prints, per claim, a `# environment: <env>; <Kind> <ns>/<name>` line and
then the composite and its managed resources as YAML documents. Code that reasons about what our claims compose
(tools/provider_policy.py, the deletion and permission tests) reads that output, not the rendering engine, so it
keeps working whatever engine renders.
"""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import dataclass
from functools import cache
from typing import Any

import yaml

from tools.repository import PLATFORM_GROUP, REPO_ROOT

HEADER = re.compile(r"^# environment: (\S+); (\S+) (\S+)$")


@dataclass(frozen=True)
class Composed:
    """One managed resource of one claim in one environment, as the render CLI prints it."""

    environment: str
    claim: str
    resource: dict[str, Any]

    @property
    def kind(self) -> str:
        return f"{self.resource['apiVersion'].split('/')[0]}/{self.resource['kind']}"

    @property
    def orphaned(self) -> bool:
        return self.resource.get("spec", {}).get("deletionPolicy") == "Orphan"


def parse_rendering(text: str) -> tuple[list[Composed], list[Composed]]:
    """The render CLI's output -> (composites, managed resources), each tagged with its environment and claim."""
    composites: list[Composed] = []
    resources: list[Composed] = []
    chunks: list[tuple[str, str, list[str]]] = []
    for line in text.splitlines():
        header = HEADER.match(line)
        if header:
            chunks.append((header.group(1), f"{header.group(2)} {header.group(3)}", []))
        elif chunks:
            chunks[-1][2].append(line)
    for environment, claim, lines in chunks:
        for document in yaml.safe_load_all("\n".join(lines)):
            if not isinstance(document, dict):
                continue
            item = Composed(environment, claim, document)
            is_composite = document["apiVersion"].startswith(f"{PLATFORM_GROUP}/")
            (composites if is_composite else resources).append(item)
    return composites, resources


@cache
def rendered() -> tuple[tuple[Composed, ...], tuple[Composed, ...]]:
    """Every environment's claims rendered by the CLI (`make render`)."""
    result = subprocess.run(
        [sys.executable, "-m", "tools.render", "--assume-created"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"python -m tools.render failed: {result.stderr or result.stdout}")
    composites, resources = parse_rendering(result.stdout)
    return tuple(composites), tuple(resources)
