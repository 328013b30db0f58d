"""The Notejam backup Lambdas: a daily RDS snapshot, its export to S3, and a restore CLI.

Handlers (see docs/interfaces.md): ``backup.snapshot.handler`` and ``backup.export.handler``.
"""
