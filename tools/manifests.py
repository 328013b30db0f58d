"""Render Kustomizations and load YAML manifests: the shared plumbing of validate, diff and the policy tests.

Everything renders with the pinned kustomize in `.tools/bin` (the Makefile installs it and puts it on PATH), never
with `kubectl kustomize`, so local runs, tests and CI produce the same bytes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

from tools.repository import REPO_ROOT

Document = dict[str, Any]


class KustomizeError(RuntimeError):
    """kustomize could not build a kustomization; the message carries its stderr."""


def tool_path(name: str) -> str:
    """The pinned CLI from `.tools/bin`, else whatever is on PATH (the Makefile puts `.tools/bin` first)."""
    pinned = REPO_ROOT / ".tools" / "bin" / name
    if pinned.is_file() and os.access(pinned, os.X_OK):
        return str(pinned)
    found = shutil.which(name)
    if found is None:
        raise FileNotFoundError(f"{name} not found: run `make tools` to install the pinned version")
    return found


def build_kustomization(directory: Path) -> str:
    """`kustomize build <directory>` as YAML text."""
    result = subprocess.run(  # noqa: S603 - fixed binary, path argument only
        [tool_path("kustomize"), "build", str(directory)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise KustomizeError(f"kustomize build {directory} failed:\n{result.stderr.strip()}")
    return result.stdout


def load_documents(text: str) -> list[Document]:
    """Every non-empty YAML document in `text` (comments-only documents are dropped)."""
    return [doc for doc in yaml.safe_load_all(text) if doc is not None]


def kustomize(directory: Path) -> list[Document]:
    """The objects a kustomization renders."""
    return load_documents(build_kustomization(directory))


def kustomize_overlay(environment: str, root: Path = REPO_ROOT) -> list[Document]:
    """The objects Argo CD applies for one environment (`overlays/<environment>`)."""
    return kustomize(root / "overlays" / environment)


def object_id(doc: Document) -> str:
    """`Kind/namespace/name`, the way people name an object in a message."""
    metadata = doc.get("metadata") or {}
    namespace = metadata.get("namespace")
    name = metadata.get("name", "<unnamed>")
    return f"{doc.get('kind', '<no kind>')}/{namespace}/{name}" if namespace else f"{doc.get('kind')}/{name}"
