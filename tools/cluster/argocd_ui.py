"""The Argo CD web UI for the local control plane: the module's `ui/` built with pnpm and webpack, then embedded in
argocd-server by building it from a writable copy of the module.

The argo-cd Go module ships the UI's sources (`ui/`: package.json, the pnpm lockfile, the webpack config) but only a
placeholder in `ui/dist/app`, the folder `ui/embed.go` embeds, so a server built from the module serves no UI. Here:

1. copy the module (from the Go module cache, read-only) to `.tools/cluster/argocd-ui-<version>-<argo-ui key>/`;
2. install `ui/` with the pnpm its package.json names (`packageManager`), into `.tools/pnpm-<version>/`;
3. run the UI's production build (`pnpm run build`, NODE_ENV=production) into `ui/dist/app`;
4. `tools.cluster.build` then builds argocd through the wrapper module with a `replace` of argo-cd/v3 to the copy
   (`go build -modfile`, so the committed go.mod stays the plain release Renovate updates).

argo-ui, the UI's component library, is a GitHub tarball in the lockfile, which cannot be fetched here: the setting
NOTEJAM_ARGO_UI_TARBALL (default: `../shared/vendor/argo-ui/argo-ui-ad616de.tgz`, see its README) points
package.json at a local copy, and pnpm re-resolves the lockfile around it (every other package keeps its locked
version). Set it empty where GitHub is reachable to install exactly the lockfile, as upstream does.

REACT_COMPILER=0 is upstream's switch (ui/src/app/webpack.config.js) for a build without the React Compiler's Babel
pass: the same application, transpiled by esbuild alone, built in a fraction of the time on two cores.

The copy is built once per Argo CD version and argo-ui tarball (the folder name holds both); a half-built copy is
never taken for a built one (`ui-built.txt` is written last).

    python -m tools.cluster.argocd_ui --version v3.6.1     # build it if needed; print the copy's path
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path

from tools.cluster.versions import makefile_pins, tools_dir
from tools.repository import REPO_ROOT, shared_dir
from tools.validation_data import argocd_module_dir

ARGO_UI_TARBALL = Path("vendor") / "argo-ui" / "argo-ui-ad616de.tgz"  # in the shared folder
BUILT_MARKER = "ui-built.txt"
# argocd-server rewrites this tag of the embedded index.html for --basehref (upstream's build checks it too).
BASE_TAG = '<base href="/">'


def argo_ui_tarball() -> Path | None:
    """NOTEJAM_ARGO_UI_TARBALL: the argo-ui package to install instead of the lockfile's GitHub tarball; empty for
    none (online: the lockfile as it is)."""
    configured = os.environ.get("NOTEJAM_ARGO_UI_TARBALL", str(shared_dir() / ARGO_UI_TARBALL))
    if not configured:
        return None
    tarball = Path(configured).resolve()
    if not tarball.is_file():
        raise FileNotFoundError(
            f"NOTEJAM_ARGO_UI_TARBALL={configured}: no such file (an argo-ui package tarball; "
            "set it empty to install the lockfile's argo-ui from GitHub)"
        )
    return tarball


def argo_ui_key(tarball: Path | None) -> str:
    if tarball is None:
        return "lockfile"
    return "argo-ui-" + hashlib.sha256(tarball.read_bytes()).hexdigest()[:12]


def copy_dir(version: str, tarball: Path | None) -> Path:
    """Where the writable module copy with the built UI lives (argo-cd/v3's root: go.mod, ui/, server/...)."""
    return tools_dir() / f"argocd-ui-{version}-{argo_ui_key(tarball)}" / "argo-cd"


def is_built(copy: Path) -> bool:
    return (copy / BUILT_MARKER).is_file()


def package_json_with_argo_ui(text: str, tarball: Path) -> str:
    """package.json with its argo-ui dependency pointed at a local tarball; nothing else changes."""
    package = json.loads(text)
    dependencies = package.get("dependencies") or {}
    if "argo-ui" not in dependencies:
        raise ValueError("ui/package.json has no argo-ui dependency: the module's UI changed, review argocd_ui.py")
    dependencies["argo-ui"] = f"file:{tarball}"
    return json.dumps(package, indent=2) + "\n"


def pnpm_version(package_json: str) -> str:
    """The pnpm the UI is built with, from package.json's `packageManager` ("pnpm@12.3.4", maybe "+sha512...")."""
    manager = json.loads(package_json).get("packageManager", "")
    name, _, version = manager.partition("@")
    if name != "pnpm" or not version:
        raise ValueError(f"ui/package.json: packageManager is {manager!r}, expected pnpm@<version>")
    return version.split("+", 1)[0]


def pnpm(version: str) -> Path:
    """pnpm at that version, installed from the npm registry into `.tools/pnpm-<version>/` once."""
    prefix = REPO_ROOT / ".tools" / f"pnpm-{version}"
    binary = prefix / "node_modules" / ".bin" / "pnpm"
    if not binary.exists():
        run(["npm", "install", "--prefix", str(prefix), "--no-audit", "--no-fund", "--loglevel=error",
             f"pnpm@{version}"], REPO_ROOT)  # fmt: skip
    return binary


def run(command: list[str], cwd: Path, env: dict[str, str] | None = None) -> None:
    print(f"  $ {' '.join(command)}", flush=True)
    subprocess.run(command, cwd=cwd, env=env, check=True)  # noqa: S603 - fixed npm/pnpm commands


def writable_copy(module: Path, target: Path) -> None:
    """Copy the module (the module cache's files are read-only) and make the copy writable."""
    shutil.copytree(module, target, symlinks=True)
    for folder, _, files in os.walk(target):
        os.chmod(folder, os.stat(folder).st_mode | stat.S_IWUSR)
        for name in files:
            path = Path(folder) / name
            if not path.is_symlink():
                path.chmod(path.stat().st_mode | stat.S_IWUSR)


def build(version: str, module: Path, tarball: Path | None) -> Path:
    """The module copy with `ui/dist/app` built; built now unless it already is. Returns the copy's root."""
    copy = copy_dir(version, tarball)
    if is_built(copy):
        return copy
    started = time.monotonic()
    shutil.rmtree(copy, ignore_errors=True)
    copy.parent.mkdir(parents=True, exist_ok=True)
    print(f"argocd-ui: {version} web UI -> {copy}", flush=True)
    writable_copy(module, copy)
    ui = copy / "ui"
    package_json = ui / "package.json"
    pnpm_binary = pnpm(pnpm_version(package_json.read_text()))
    install = [str(pnpm_binary), "install", "--reporter=append-only"]
    if tarball is None:
        install.append("--frozen-lockfile")
    else:
        package_json.write_text(package_json_with_argo_ui(package_json.read_text(), tarball))
        install.append("--no-frozen-lockfile")
    run(install, ui)
    env = {**os.environ, "NODE_ENV": "production", "REACT_COMPILER": "0"}
    run([str(pnpm_binary), "run", "build"], ui, env)
    index = ui / "dist" / "app" / "index.html"
    if not index.is_file() or BASE_TAG not in index.read_text():
        raise RuntimeError(f"argocd-ui: the build wrote no usable {index}")
    (copy / BUILT_MARKER).write_text(f"Argo CD {version} web UI, argo-ui from {tarball or 'the lockfile'}\n")
    print(f"argocd-ui: built in {time.monotonic() - started:.0f} s", flush=True)
    return copy


def modfile_with_replace(gomod: Path, copy: Path, out: Path) -> Path:
    """A copy of the wrapper module's go.mod (and go.sum) with argo-cd/v3 replaced by the copy, for `-modfile`."""
    modfile = out / "build-with-ui.mod"
    text = (gomod / "go.mod").read_text()
    comment = "// Written by tools/cluster/argocd_ui.py: the module with its web UI built."
    modfile.write_text(f"{text.rstrip()}\n\n{comment}\nreplace github.com/argoproj/argo-cd/v3 => {copy}\n")
    shutil.copyfile(gomod / "go.sum", modfile.with_suffix(".sum"))
    return modfile


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--version", default=makefile_pins()["argocd"])
    args = parser.parse_args(argv)
    print(build(args.version, argocd_module_dir(args.version), argo_ui_tarball()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
