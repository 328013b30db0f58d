"""Stand-in for External Secrets Operator v1 with the AWS Secrets Manager provider.

- SecretStore (pkg/controllers/secretstore/common.go): validated, `Ready=True Valid "store validated"`; a store whose
  IRSA ServiceAccount (`auth.jwt.serviceAccountRef`) does not exist is `Ready=False InvalidProviderConfig`.
- ExternalSecret (pkg/controllers/externalsecret/externalsecret_controller.go): with its store Ready and every
  `remoteRef` (secret name and JSON property) and `dataFrom` extract (secret name) one that the documented bootstrap
  creates (`tools/bootstrap_account.py`, SECRETS: this stand-in's Secrets Manager), the target Secret is written
  (with the labels of `target.template.metadata`) and the ExternalSecret is `Ready=True SecretSynced`. Otherwise
  `Ready=False SecretSyncedError` with the controller's message, and a Warning Event `UpdateFailed` carrying the
  provider's error, and no Secret.

The values are placeholders (`stand-in-<key>`), except those the control plane gives in STANDIN_SECRET_VALUES
(`{"<secret name>": {"<property>": "<value>"}}`): a URL that something local must answer, such as the on-call
webhook that Argo CD Notifications posts to.
"""

from __future__ import annotations

import json
import os

from tools.bootstrap_account import secret_names
from tools.cluster.fake_controllers.crossplane import ensure_secret
from tools.cluster.fake_controllers.status import Reporter, condition, injected_failure, is_true, timestamp
from tools.cluster.kube import Kube, Object
from tools.repository import ENVIRONMENTS

API = "/apis/external-secrets.io/v1"
VALUES_ENV = "STANDIN_SECRET_VALUES"


def documented_secrets() -> dict[str, set[str]]:
    """`{secret name: JSON properties}` the account bootstrap creates (tools/bootstrap_account.py), for every
    environment."""
    found: dict[str, set[str]] = {}
    for environment in ENVIRONMENTS:
        found.update(secret_names(environment))
    return found


def provider_error(external: Object, secrets: dict[str, set[str]]) -> str | None:
    """The error Secrets Manager would answer for the first reference it cannot serve (`data` items first, then
    `dataFrom` extracts: externalsecret_controller_secret.go, errDataFromExtract "error processing
    spec.dataFrom[%d].extract, err: %w")."""
    for index, item in enumerate(external["spec"].get("dataFrom") or []):
        key = item["extract"]["key"]
        if key not in secrets:
            return (
                f"error processing spec.dataFrom[{index}].extract, err: key: {key}: ResourceNotFoundException: "
                "Secrets Manager can't find the specified secret."
            )
    for item in external["spec"].get("data") or []:
        key, prop = item["remoteRef"]["key"], item["remoteRef"].get("property")
        if key not in secrets:
            return (
                f"error retrieving secret at .data[{item['secretKey']}], key: {key}: ResourceNotFoundException: "
                "Secrets Manager can't find the specified secret."
            )
        if prop is not None and prop not in secrets[key]:
            return f"error retrieving secret at .data[{item['secretKey']}]: key {prop} does not exist in secret {key}"
    return None


class ExternalSecrets:
    def __init__(self, kube: Kube) -> None:
        self.kube = kube
        self.report = Reporter(kube, "external-secrets", "external-secrets")
        self.secrets = documented_secrets()
        self.values: dict[str, dict[str, str]] = json.loads(os.environ.get(VALUES_ENV) or "{}")

    def reconcile(self) -> None:
        stores = {}
        for store in self.kube.items(f"{API}/secretstores"):
            stores[(store["metadata"]["namespace"], store["metadata"]["name"])] = self.store(store)
        for external in self.kube.items(f"{API}/externalsecrets"):
            self.external_secret(external, stores)

    def store(self, store: Object) -> bool:
        namespace, name = store["metadata"]["namespace"], store["metadata"]["name"]
        path = f"{API}/namespaces/{namespace}/secretstores/{name}"
        account = (
            (((store["spec"].get("provider") or {}).get("aws") or {}).get("auth") or {})
            .get("jwt", {})
            .get("serviceAccountRef", {})
            .get("name")
        )
        problem = injected_failure(store)
        if (
            problem is None
            and account
            and self.kube.get(f"/api/v1/namespaces/{namespace}/serviceaccounts/{account}") is None
        ):
            problem = f'could not fetch ServiceAccount: serviceaccounts "{account}" not found'
        if problem:
            self.report.status(
                path,
                store,
                [condition("Ready", "False", "InvalidProviderConfig", problem)],
                say=f"SecretStore {namespace}/{name}: Ready=False: {problem}",
            )
            return False
        self.report.status(
            path,
            store,
            [condition("Ready", "True", "Valid", "store validated")],
            {"capabilities": "ReadOnly"},
            say=f"SecretStore {namespace}/{name}: Ready",
        )
        return True

    def external_secret(self, external: Object, stores: dict[tuple[str, str], bool]) -> None:
        namespace, name = external["metadata"]["namespace"], external["metadata"]["name"]
        path = f"{API}/namespaces/{namespace}/externalsecrets/{name}"
        store = external["spec"]["secretStoreRef"]["name"]
        if not stores.get((namespace, store)):
            message = f"could not get provider client: SecretStore {store!r} is not ready"
            self.report.status(
                path,
                external,
                [condition("Ready", "False", "SecretSyncedError", message)],
                say=f"ExternalSecret {namespace}/{name}: Ready=False: {message}",
            )
            return
        error = injected_failure(external) or provider_error(external, self.secrets)
        if error:
            if self.report.status(
                path,
                external,
                [condition("Ready", "False", "SecretSyncedError", "could not get secret data from provider")],
                say=f"ExternalSecret {namespace}/{name}: Ready=False: {error}",
            ):
                self.report.event(
                    external, "ExternalSecret", "external-secrets.io/v1", "Warning", "UpdateFailed", error
                )
            return
        if is_true(external, "Ready"):
            return
        target = (external["spec"].get("target") or {}).get("name") or name
        # dataFrom extract: every property of the JSON secret becomes a key; `data` items come after and win.
        values = {
            prop: self.values.get(item["extract"]["key"], {}).get(prop) or f"stand-in-{prop}"
            for item in external["spec"].get("dataFrom") or []
            for prop in sorted(self.secrets[item["extract"]["key"]])
        }
        values |= {
            item["secretKey"]: self.values.get(item["remoteRef"]["key"], {}).get(item["remoteRef"].get("property", ""))
            or f"stand-in-{item['secretKey']}"
            for item in external["spec"].get("data") or []
        }
        # The target's template metadata goes onto the Secret (ESO's templating, target.template.metadata), such as
        # the label Argo CD needs to resolve `$<secret>:<key>` references.
        template = ((external["spec"].get("target") or {}).get("template") or {}).get("metadata") or {}
        ensure_secret(self.kube, namespace, target, values, owner=external, labels=template.get("labels"))
        self.report.status(
            path,
            external,
            [condition("Ready", "True", "SecretSynced", "secret synced")],
            {"refreshTime": timestamp(), "binding": {"name": target}},
            say=f"ExternalSecret {namespace}/{name}: Secret {target} written, Ready",
        )
