"""Notejam's composition function: how our platform APIs (PostgreSQLInstance, DatabaseBackup) become AWS resources.

Crossplane calls `fn.FunctionRunner.RunFunction` over gRPC (`main` serves it); `make render` and the tests call the
same method in-process. See src/function/README.md.
"""
