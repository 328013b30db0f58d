"""Render Kustomizations and load YAML manifests: the shared plumbing of validate, diff and the policy tests.

Everything renders with the pinned kustomize in `.tools/bin` (the Makefile installs it and puts it on PATH), never
with `kubectl kustomize`, so local runs, tests and CI produce the same bytes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
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


# What a copy of the repository for `kustomize_source` leaves out: not read by any kustomization, and large.
NOT_RENDERED = shutil.ignore_patterns(".git", ".venv", ".tools", ".cache", "node_modules", "__pycache__", "dist")


def kustomize_source(source: Document, root: Path = REPO_ROOT) -> list[Document]:
    """The objects Argo CD generates from an Application source of this repository (`path`, and `kustomize.components`
    if any). Argo CD adds the components to the kustomization in its checkout (`kustomize edit add component`, then
    `kustomize build`: util/kustomize/kustomize.go); this does the same in a copy, so the work tree is not touched."""
    components = (source.get("kustomize") or {}).get("components") or []
    if not components:
        return kustomize(root / source["path"])
    with tempfile.TemporaryDirectory(prefix="render-source-") as temporary:
        copy = Path(temporary) / "repository"
        shutil.copytree(root, copy, ignore=NOT_RENDERED, symlinks=True)
        edit = subprocess.run(  # noqa: S603 - fixed binary and subcommand, the source's own component paths
            [tool_path("kustomize"), "edit", "add", "component", *components],
            cwd=copy / source["path"],
            capture_output=True,
            text=True,
            check=False,
        )
        if edit.returncode != 0:
            raise KustomizeError(f"kustomize edit add component {' '.join(components)} failed:\n{edit.stderr.strip()}")
        return kustomize(copy / source["path"])


def kustomize_overlay(environment: str, root: Path = REPO_ROOT) -> list[Document]:
    """The objects Argo CD applies for one environment (`overlays/<environment>`)."""
    return kustomize(root / "overlays" / environment)


def object_id(doc: Document) -> str:
    """`Kind/namespace/name`, the way people name an object in a message."""
    metadata = doc.get("metadata") or {}
    namespace = metadata.get("namespace")
    name = metadata.get("name", "<unnamed>")
    return f"{doc.get('kind', '<no kind>')}/{namespace}/{name}" if namespace else f"{doc.get('kind')}/{name}"
