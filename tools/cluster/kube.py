"""A small Kubernetes REST client on `requests` (client certificate from the kubeconfig), and `kubectl` for applies.

Only what the control-plane tools need: get, list, create, merge-patch (also of `/status`), delete.
"""

from __future__ import annotations

import base64
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import requests
import yaml

Object = dict[str, Any]


class KubeError(RuntimeError):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status


class Kube:
    def __init__(self, kubeconfig: Path, kubectl: Path) -> None:
        self.kubeconfig = kubeconfig
        self.kubectl_path = kubectl
        config = yaml.safe_load(kubeconfig.read_text())
        cluster = config["clusters"][0]["cluster"]
        user = config["users"][0]["user"]
        self.server = cluster["server"]
        self._files = tempfile.TemporaryDirectory(prefix="notejam-kube-")
        files = Path(self._files.name)
        for name, key in (("ca.crt", "certificate-authority-data"), ("tls.crt", "client-certificate-data"),
                          ("tls.key", "client-key-data")):  # fmt: skip
            source = cluster if key.startswith("certificate-authority") else user
            (files / name).write_bytes(base64.b64decode(source[key]))
        self.session = requests.Session()
        # Only our own CA: REQUESTS_CA_BUNDLE and proxy settings in the environment would override it.
        self.session.trust_env = False
        self.session.verify = str(files / "ca.crt")
        self.session.cert = (str(files / "tls.crt"), str(files / "tls.key"))

    def request(self, method: str, path: str, body: Any = None, content_type: str = "application/json") -> Any:
        response = self.session.request(
            method, self.server + path, json=body, headers={"Content-Type": content_type}, timeout=30
        )
        if response.status_code >= 400:
            try:
                message = response.json().get("message", response.text)
            except ValueError:
                message = response.text
            raise KubeError(response.status_code, message)
        return response.json() if response.content else None

    def get(self, path: str) -> Object | None:
        try:
            return self.request("GET", path)
        except KubeError as error:
            if error.status == 404:
                return None
            raise

    def items(self, path: str) -> list[Object]:
        found = self.get(path)
        return [] if found is None else found.get("items", [])

    def create(self, path: str, body: Object) -> Object:
        return self.request("POST", path, body)

    def merge_patch(self, path: str, body: Object) -> Object:
        return self.request("PATCH", path, body, "application/merge-patch+json")

    def delete(self, path: str) -> None:
        try:
            self.request("DELETE", path)
        except KubeError as error:
            if error.status != 404:
                raise

    def kubectl(self, *args: str, input: str | None = None) -> str:
        """Run the pinned kubectl against this control plane; raise with its stderr on failure."""
        result = subprocess.run(  # noqa: S603 - the pinned kubectl
            [str(self.kubectl_path), "--kubeconfig", str(self.kubeconfig), *args],
            input=input,
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        if result.returncode != 0:
            raise RuntimeError(f"kubectl {' '.join(args)}: {result.stderr.strip() or result.stdout.strip()}")
        return result.stdout

    def apply(self, documents: list[Object], server_side: bool = True, dry_run: bool = False) -> str:
        text = yaml.safe_dump_all(documents, sort_keys=False)
        mode = ["--server-side", "--field-manager=notejam-cluster"] if server_side else []
        if dry_run:
            mode.append("--dry-run=server")
        return self.kubectl("apply", *mode, "-f", "-", input=text)
