"""Build the backup Lambdas' deployment zip, byte-for-byte reproducible, and print its sha256.

    python -m tools.lambda_package --output dist/backup-lambda.zip

The same sources always give the same bytes on any machine (fixed timestamps and permissions, sorted entries,
no caches, no compression),
so the hash names the code: the release workflow uploads the zip as backup-lambda/<sha256>.zip and the
backup composition points the Lambda Functions at that key. The zip holds src/backup and the packages of ours it
imports (src/json_logs); boto3 is not bundled: the Lambda runtime has it.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import zipfile
from pathlib import Path

from tools.repository import ENVIRONMENTS, REPO_ROOT

DEFAULT_SOURCE = REPO_ROOT / "src" / "backup"
CLAIM = "base/backup-claim.yaml"  # the one DatabaseBackup claim, which names the code by its hash
# Packages of ours the Lambdas import besides their own: json_logs, the log format they share with the web app.
SHARED_PACKAGES = (REPO_ROOT / "src" / "json_logs",)
# The earliest date a zip can hold; any fixed value works, this one says "not a real time".
FIXED_DATE_TIME = (1980, 1, 1, 0, 0, 0)
# Regular file, rw-r--r--: Lambda only needs to read the code.
FILE_MODE = 0o100644
SKIPPED_PARTS = frozenset({"__pycache__"})
SKIPPED_SUFFIXES = frozenset({".pyc", ".pyo"})


def package_files(source: Path) -> list[Path]:
    """The files that go into the zip, in the order they are written."""
    files = [
        path
        for path in source.rglob("*")
        if path.is_file()
        and not SKIPPED_PARTS.intersection(path.relative_to(source).parts)
        and path.suffix not in SKIPPED_SUFFIXES
    ]
    return sorted(files, key=lambda path: path.relative_to(source).as_posix())


def build(source: Path, output: Path, shared: tuple[Path, ...] = SHARED_PACKAGES) -> str:
    """Write the zip of ``source`` and the ``shared`` packages (each as the package named after its folder) to
    ``output``; return its sha256."""
    output.parent.mkdir(parents=True, exist_ok=True)
    files = sorted(
        (f"{package.name}/{path.relative_to(package).as_posix()}", path)
        for package in (source, *shared)
        for path in package_files(package)
    )
    with zipfile.ZipFile(output, "w") as archive:
        for name, path in files:
            entry = zipfile.ZipInfo(name, FIXED_DATE_TIME)
            entry.external_attr = FILE_MODE << 16
            entry.create_system = 3  # Unix, so the mode above is honoured wherever the zip is built
            # Stored, not deflated: deflate output depends on the zlib build, so the hash would differ between a
            # laptop and CI. The package is a few tens of kilobytes either way.
            entry.compress_type = zipfile.ZIP_STORED
            archive.writestr(entry, path.read_bytes())
    return hashlib.sha256(output.read_bytes()).hexdigest()


def claimed_locations(root: Path = REPO_ROOT) -> list[tuple[str, str, str]]:
    """(environment, bucket, key) of the code each environment's DatabaseBackup claim points its Lambdas at: the key
    of base/backup-claim.yaml in the artifacts bucket of each environment's account (its facts)."""
    import yaml  # only this helper needs it; the build itself is standard library

    from tools.environment_facts import facts

    key = yaml.safe_load((root / CLAIM).read_text())["spec"]["parameters"]["lambdaCode"]["key"]
    return [(env, facts(env, root).artifacts_bucket, key) for env in ENVIRONMENTS]


def main(argv: list[str] | None = None) -> int:
    cli = argparse.ArgumentParser(prog="python -m tools.lambda_package", description=__doc__.split("\n\n")[0])
    cli.add_argument("--output", type=Path, default=Path("dist/backup-lambda.zip"), help="zip to write")
    cli.add_argument("--source", type=Path, default=DEFAULT_SOURCE, help="package folder (default: src/backup)")
    cli.add_argument(
        "--claimed",
        action="store_true",
        help="print `<environment> <bucket> <key>` for each environment's DatabaseBackup claim, and build nothing",
    )
    args = cli.parse_args(argv)
    if args.claimed:
        for location in claimed_locations():
            print(" ".join(location))
        return 0
    if not (args.source / "__init__.py").is_file():
        print(f"error: {args.source} is not a Python package", file=sys.stderr)
        return 1
    digest = build(args.source, args.output)
    # sha256sum's format, so `sha256sum -c` and shell `read` both understand it.
    print(f"{digest}  {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
