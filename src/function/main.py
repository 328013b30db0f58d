"""Serve the function over gRPC, as Crossplane (or `crossplane render`) runs its container.

python -m function.main --insecure --address 127.0.0.1:9443
"""

from __future__ import annotations

import click
from crossplane.function import logging, runtime

from function import fn


@click.command()
@click.option("--debug", "-d", is_flag=True, help="Emit debug logs.")
@click.option("--address", default="0.0.0.0:9443", show_default=True, help="Address to serve gRPC on.")
@click.option(
    "--tls-certs-dir", envvar="TLS_SERVER_CERTS_DIR", help="Serve with the mTLS certificates Crossplane mounts."
)
@click.option("--insecure", is_flag=True, help="Serve without mTLS (crossplane render); ignores --tls-certs-dir.")
def cli(debug: bool, address: str, tls_certs_dir: str | None, insecure: bool) -> None:
    """Notejam's composition function."""
    logging.configure(level=logging.Level.DEBUG if debug else logging.Level.INFO)
    runtime.serve(
        fn.FunctionRunner(),
        address,
        creds=None if insecure else runtime.load_credentials(tls_certs_dir),
        insecure=insecure,
    )


if __name__ == "__main__":
    cli()
