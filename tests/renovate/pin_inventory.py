"""Every pin in the repository, found without Renovate: what tests/renovate compares Renovate's extraction with.

A pin is a line that fixes the version of something external: an Argo CD `targetRevision`, a Crossplane `package:`,
an `image:` (or a Helm values image's `tag:`), a Kustomize `newTag:`, a JSON patch that sets a version, a Dockerfile
`FROM`, a `name==version` requirement, a Makefile `*_VERSION`, an eksctl `version`, a Pod Security `*-version`
label, a GitHub Actions `uses:` or `*-version:`, a `pip install name==version` in a workflow, the validation data's
upstream tags, and the chart version and the eksctl release that the bootstrap instructions install. Each is read with
its own small pattern, line by line, so that a failure can name the file and line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from tools import validation_data
from tools.renovate_extract import working_tree_files

# Renovate's config:recommended ignores tests/ (`:ignoreModulesAndTests`): their fixtures are not pins.
IGNORED_DIRS = ("tests/",)
MANIFEST_DIRS = ("apps/", "base/", "overlays/", "clusters/", "crossplane/")


@dataclass(frozen=True)
class Pin:
    file: str
    line: int
    kind: str
    name: str | None  # what is pinned, when the line alone says it (an untagged image is matched by name)
    value: str | None  # the version text, None for an image without a tag

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.kind} {self.name or ''} {self.value or '(no tag)'}".replace("  ", " ")


def split_image(reference: str) -> tuple[str, str | None]:
    """`registry:5000/name:tag@digest` -> (`registry:5000/name`, `tag`); the tag is None when there is none."""
    reference = reference.split("@", 1)[0]
    name, _, tag = reference.rpartition(":")
    if not name or "/" in tag:
        return reference, None
    return name, tag


def _unquote(text: str) -> str:
    return text.strip().strip("\"'")


def yaml_pins(file: str, lines: list[str]) -> list[Pin]:
    pins = []
    manifest = file.startswith(MANIFEST_DIRS)
    is_eksctl = any(line.strip() == "kind: ClusterConfig" for line in lines)
    for number, line in enumerate(lines, start=1):
        text = line.split(" #", 1)[0].rstrip()
        if match := re.match(r"^\s*-?\s*targetRevision:\s*(\S+)$", text):
            pins.append(Pin(file, number, "targetRevision", None, _unquote(match.group(1))))
        if manifest and (match := re.match(r"^\s*package:\s*(\S+)$", text)):
            name, tag = split_image(_unquote(match.group(1)))
            pins.append(Pin(file, number, "package", name, tag))
        if manifest and (match := re.match(r"^\s*-?\s*image:\s*(\S+)$", text)):
            name, tag = split_image(_unquote(match.group(1)))
            pins.append(Pin(file, number, "image", name, tag))
        if manifest and re.match(r"^\s*image:$", text):
            indent = len(line) - len(line.lstrip())
            for offset, inner in enumerate(lines[number:], start=number + 1):
                if inner.strip() and len(inner) - len(inner.lstrip()) <= indent:
                    break
                if tag := re.match(r"^\s*tag:\s*(\S+)", inner.split(" #", 1)[0]):
                    pins.append(Pin(file, offset, "image tag", None, _unquote(tag.group(1))))
        if match := re.search(r"\{op: \w+, path: \S+/(?:targetRevision|package|image), value: ([^}\s]+)\}", text):
            pins.append(Pin(file, number, "JSON patch", None, _unquote(match.group(1))))
        if match := re.match(r"^\s*-?\s*newTag:\s*(\S+)$", text):
            pins.append(Pin(file, number, "newTag", None, _unquote(match.group(1))))
        if is_eksctl and (match := re.match(r"^  version:\s*(\S+)$", text)):
            pins.append(Pin(file, number, "eksctl version", None, _unquote(match.group(1))))
        if match := re.match(r"^\s*pod-security\.kubernetes\.io/[a-z]+-version:\s*(\S+)$", text):
            pins.append(Pin(file, number, "pod security version", None, _unquote(match.group(1))))
        if file.startswith(".github/workflows/"):
            if match := re.match(r"^\s*-?\s*uses:\s*([^\s@]+)@(\S+)$", text):
                pins.append(Pin(file, number, "action", match.group(1), _unquote(match.group(2))))
            if match := re.match(r"^\s*(?:go|python|node)-version:\s*(\S+)$", text):
                pins.append(Pin(file, number, "toolchain", None, _unquote(match.group(1))))
            for match in re.finditer(r"pip install ([A-Za-z0-9_.-]+)==([^\s\"']+)", text):
                pins.append(Pin(file, number, "pip install", match.group(1), match.group(2)))
    return pins


def dockerfile_pins(file: str, lines: list[str]) -> list[Pin]:
    pins = []
    for number, line in enumerate(lines, start=1):
        if match := re.match(r"^FROM\s+(?:--\S+\s+)*(\S+)", line, flags=re.IGNORECASE):
            name, tag = split_image(match.group(1))
            pins.append(Pin(file, number, "FROM", name, tag))
    return pins


def requirements_pins(file: str, lines: list[str]) -> list[Pin]:
    pins = []
    for number, line in enumerate(lines, start=1):
        if match := re.match(r"^([A-Za-z0-9_.-]+)(\[[^\]]*\])?\s*==\s*(\S+)", line):
            pins.append(Pin(file, number, "requirement", match.group(1), match.group(3)))
    return pins


def makefile_pins(file: str, lines: list[str]) -> list[Pin]:
    pins = []
    for number, line in enumerate(lines, start=1):
        if match := re.match(r"^([A-Z0-9_]+_VERSION)\s*:?=\s*(\S+)", line):
            pins.append(Pin(file, number, "Makefile", match.group(1), match.group(2)))
    return pins


def validation_data_pins(file: str, lines: list[str]) -> list[Pin]:
    """The upstream tags in tools/validation_data.SOURCES, at the line that holds each."""
    pins = []
    for repository, tag, _, _ in validation_data.SOURCES.values():
        numbers = [n for n, line in enumerate(lines, start=1) if f'"{tag}"' in line]
        pins.append(Pin(file, numbers[0] if numbers else 0, "validation data", repository, tag))
    return pins


def python_default_pins(file: str, lines: list[str]) -> list[Pin]:
    pins = []
    for number, line in enumerate(lines, start=1):
        if match := re.match(r'^DEFAULT_[A-Z_]*VERSION = "([^"]+)"', line):
            pins.append(Pin(file, number, "default version", None, match.group(1)))
    return pins


def markdown_pins(file: str, lines: list[str]) -> list[Pin]:
    pins = []
    for number, line in enumerate(lines, start=1):
        if match := re.search(r"helm install \S+ (\S+) .*--version (\S+)", line):
            pins.append(Pin(file, number, "helm install", match.group(1), match.group(2)))
        for match in re.finditer(r"https://github\.com/(eksctl-io/eksctl)/releases/download/([^/\s]+)/", line):
            pins.append(Pin(file, number, "release download", match.group(1), match.group(2)))
    return pins


def pins_in(file: str, text: str) -> list[Pin]:
    """The pins of one file, by what kind of file it is."""
    lines = text.splitlines()
    name = Path(file).name
    if file.endswith((".yaml", ".yml")):
        return yaml_pins(file, lines)
    if name == "Dockerfile" or name.endswith(".Dockerfile"):
        return dockerfile_pins(file, lines)
    if file.endswith(".txt") and (file.startswith("requirements/") or "requirements" in name):
        return requirements_pins(file, lines)
    if name == "Makefile":
        return makefile_pins(file, lines)
    if file == "tools/validation_data.py":
        return validation_data_pins(file, lines)
    if file.endswith(".py"):
        return python_default_pins(file, lines)
    if file.endswith(".md"):
        return markdown_pins(file, lines)
    return []


def inventory(root: Path, extra_files: dict[str, str] | None = None) -> list[Pin]:
    """Every pin of the working tree at `root`, plus those of `extra_files` (path -> text)."""
    texts = {name: (root / name).read_text(errors="replace") for name in working_tree_files(root)}
    texts.update(extra_files or {})
    return [
        pin for name, text in sorted(texts.items()) if not name.startswith(IGNORED_DIRS) for pin in pins_in(name, text)
    ]
