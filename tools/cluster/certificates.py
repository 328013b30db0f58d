"""Certificates of a local control plane, made with openssl: a CA, the API server's serving certificate, an admin
client certificate (group system:masters) and the service-account signing key pair; and a kubeconfig using them.

    python -m tools.cluster.certificates --dir .cache/cluster/pki --server https://127.0.0.1:6443
"""

from __future__ import annotations

import argparse
import base64
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

# Names the API server answers to: loopback, and what in-cluster clients (Argo CD's fake in-cluster mode) dial.
SERVER_NAMES = (
    "IP:127.0.0.1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc"
)


@dataclass(frozen=True)
class Pki:
    dir: Path

    def path(self, name: str) -> Path:
        return self.dir / name

    @property
    def ca(self) -> Path:
        return self.path("ca.crt")

    @property
    def admin(self) -> tuple[Path, Path]:
        return self.path("admin.crt"), self.path("admin.key")


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)  # noqa: S603, S607


def sign(cwd: Path, name: str, subject: str, extensions: str) -> None:
    openssl("genrsa", "-out", f"{name}.key", "2048", cwd=cwd)
    openssl("req", "-new", "-key", f"{name}.key", "-subj", subject, "-out", f"{name}.csr", cwd=cwd)
    (cwd / f"{name}.ext").write_text(extensions)
    openssl(
        "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
        "-days", "30", "-out", f"{name}.crt", "-extfile", f"{name}.ext",
        cwd=cwd,
    )  # fmt: skip


def make_pki(directory: Path) -> Pki:
    """Create every key and certificate in `directory` (fresh each time: a control plane lives for hours)."""
    directory.mkdir(parents=True, exist_ok=True)
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt",
            "-days", "30", "-subj", "/CN=notejam-local-ca", cwd=directory)  # fmt: skip
    sign(
        directory,
        "apiserver",
        "/CN=kube-apiserver",
        f"subjectAltName={SERVER_NAMES}\nextendedKeyUsage=serverAuth\nkeyUsage=digitalSignature,keyEncipherment\n",
    )
    sign(
        directory,
        "admin",
        "/O=system:masters/CN=notejam-admin",
        "extendedKeyUsage=clientAuth\nkeyUsage=digitalSignature,keyEncipherment\n",
    )
    openssl("genrsa", "-out", "service-account.key", "2048", cwd=directory)
    openssl("rsa", "-in", "service-account.key", "-pubout", "-out", "service-account.pub", cwd=directory)
    return Pki(directory)


def write_kubeconfig(pki: Pki, server: str, path: Path, namespace: str = "default") -> Path:
    """A kubeconfig with the admin credentials embedded, so it can be copied anywhere on this machine."""

    def encoded(file: Path) -> str:
        return base64.b64encode(file.read_bytes()).decode()

    cert, key = pki.admin
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": "notejam-local", "cluster": {"server": server, "certificate-authority-data": encoded(pki.ca)}}
        ],
        "users": [
            {
                "name": "notejam-admin",
                "user": {"client-certificate-data": encoded(cert), "client-key-data": encoded(key)},
            }
        ],
        "contexts": [
            {
                "name": "notejam-local",
                "context": {"cluster": "notejam-local", "user": "notejam-admin", "namespace": namespace},
            }
        ],
        "current-context": "notejam-local",
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    path.chmod(0o600)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, required=True, help="folder for the keys and certificates")
    parser.add_argument("--server", help="also write <dir>/kubeconfig for this API server URL")
    args = parser.parse_args(argv)
    pki = make_pki(args.dir)
    if args.server:
        print(write_kubeconfig(pki, args.server, args.dir / "kubeconfig"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
