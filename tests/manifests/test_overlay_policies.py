"""Policies every environment's rendered output must follow: one test per rule, run for dev, staging and prod.

Each test reads the objects `kustomize build overlays/<env>` renders, exactly what Argo CD applies.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

import notejam.gunicorn_conf
from tools.bootstrap_account import secret_names
from tools.manifests import Document, object_id
from tools.repository import ENVIRONMENTS, PLATFORM_GROUP, RELEASE_TAG, REPO_ROOT

Rendered = dict[str, list[Document]]
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob")
IMAGE = "ghcr.io/notejam/notejam"
REQUIRED_LABELS = ("app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/part-of")
# The last one is a switch the AWS Load Balancer Controller reads on the namespace, not a label of ours.
ALLOWED_LABEL_PREFIXES = (
    "app.kubernetes.io/",
    "pod-security.kubernetes.io/",
    "elbv2.k8s.aws/pod-readiness-gate-inject",
)

per_env = pytest.mark.parametrize("env", ENVIRONMENTS)


def of_kind(docs: list[Document], kind: str) -> list[Document]:
    return [doc for doc in docs if doc["kind"] == kind]


def one(docs: list[Document], kind: str, name: str | None = None) -> Document:
    found = [d for d in of_kind(docs, kind) if name is None or d["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {[object_id(d) for d in found]}"
    return found[0]


def pod_spec(doc: Document) -> dict:
    spec = doc["spec"]["jobTemplate"]["spec"] if doc["kind"] == "CronJob" else doc["spec"]
    return spec["template"]["spec"]


def workloads(docs: list[Document]) -> Iterator[tuple[Document, dict]]:
    for doc in docs:
        if doc["kind"] in WORKLOAD_KINDS:
            yield doc, pod_spec(doc)


def containers(docs: list[Document]) -> Iterator[tuple[Document, dict]]:
    for doc, spec in workloads(docs):
        for container in spec.get("initContainers", []) + spec["containers"]:
            yield doc, container


def annotation(doc: Document, key: str) -> str | None:
    return (doc["metadata"].get("annotations") or {}).get(key)


def wave(doc: Document) -> int:
    return int(annotation(doc, "argocd.argoproj.io/sync-wave") or 0)


@per_env
def test_no_replicas_on_hpa_targets(rendered: Rendered, env: str) -> None:
    for hpa in of_kind(rendered[env], "HorizontalPodAutoscaler"):
        target = hpa["spec"]["scaleTargetRef"]
        workload = one(rendered[env], target["kind"], target["name"])
        assert "replicas" not in workload["spec"], f"{object_id(workload)} sets replicas; its HPA owns them"


@per_env
def test_every_container_has_cpu_and_memory_requests_and_limits(rendered: Rendered, env: str) -> None:
    for doc, container in containers(rendered[env]):
        resources = container.get("resources", {})
        for kind in ("requests", "limits"):
            missing = {"cpu", "memory"} - set(resources.get(kind, {}))
            assert not missing, f"{object_id(doc)} container {container['name']}: no {kind} for {missing}"


@per_env
def test_web_containers_have_readiness_liveness_and_startup_probes(rendered: Rendered, env: str) -> None:
    for doc, container in containers(of_kind(rendered[env], "Deployment")):
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz", object_id(doc)
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz", object_id(doc)
        assert "httpGet" in container["startupProbe"], object_id(doc)


@per_env
def test_every_pod_meets_the_restricted_pod_security_profile(rendered: Rendered, env: str) -> None:
    for doc, spec in workloads(rendered[env]):
        pod = spec.get("securityContext", {})
        assert pod.get("runAsNonRoot") is True, object_id(doc)
        assert pod.get("seccompProfile", {}).get("type") == "RuntimeDefault", object_id(doc)
        assert not spec.get("hostNetwork") and not spec.get("hostPID") and not spec.get("hostIPC"), object_id(doc)
        assert all("hostPath" not in volume for volume in spec.get("volumes", [])), object_id(doc)
        for container in spec["containers"]:
            context = container.get("securityContext", {})
            where = f"{object_id(doc)} container {container['name']}"
            assert context.get("allowPrivilegeEscalation") is False, where
            assert context.get("capabilities", {}).get("drop") == ["ALL"], where
            assert context.get("readOnlyRootFilesystem") is True, where
            assert not context.get("privileged"), where
            tmp = [m for m in container.get("volumeMounts", []) if m["mountPath"] == "/tmp"]
            assert tmp, f"{where}: read-only root filesystem needs a writable /tmp"
            volume = next(v for v in spec["volumes"] if v["name"] == tmp[0]["name"])
            assert "emptyDir" in volume, where


@per_env
def test_the_namespace_enforces_the_restricted_profile(rendered: Rendered, env: str) -> None:
    namespace = one(rendered[env], "Namespace")
    assert namespace["metadata"]["name"] == f"notejam-{env}"
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    namespaced = [d for d in rendered[env] if d["kind"] != "Namespace"]
    assert {d["metadata"]["namespace"] for d in namespaced} == {f"notejam-{env}"}


@per_env
def test_images_are_pinned_to_a_git_sha_never_latest_or_untagged(rendered: Rendered, env: str) -> None:
    for doc, container in containers(rendered[env]):
        name, _, tag = container["image"].rpartition(":")
        assert name == IMAGE, f"{object_id(doc)}: unexpected image {container['image']}"
        assert RELEASE_TAG.fullmatch(tag), f"{object_id(doc)}: tag {tag!r} is not a pinned git SHA"


@per_env
def test_all_workloads_of_an_environment_run_the_same_image(rendered: Rendered, env: str) -> None:
    assert len({container["image"] for _, container in containers(rendered[env])}) == 1


@pytest.mark.parametrize(("env", "minimum", "maximum"), [("dev", 1, 2), ("staging", 2, 4), ("prod", 3, 10)])
def test_hpa_bounds_per_environment(rendered: Rendered, env: str, minimum: int, maximum: int) -> None:
    spec = one(rendered[env], "HorizontalPodAutoscaler")["spec"]
    assert (spec["minReplicas"], spec["maxReplicas"]) == (minimum, maximum)


@per_env
def test_hpa_scales_on_cpu_at_50_percent_and_on_requests_per_second(rendered: Rendered, env: str) -> None:
    metrics = one(rendered[env], "HorizontalPodAutoscaler")["spec"]["metrics"]
    cpu = [m for m in metrics if m["type"] == "Resource" and m["resource"]["name"] == "cpu"]
    assert cpu[0]["resource"]["target"] == {"type": "Utilization", "averageUtilization": 50}
    interfaces = (REPO_ROOT / "docs" / "interfaces.md").read_text()
    metric_name = re.search(r"HPA Pods metric \| `([a-z_]+)`", interfaces).group(1)
    pods = [m for m in metrics if m["type"] == "Pods"]
    assert pods[0]["pods"]["metric"]["name"] == metric_name


@per_env
def test_hpa_metrics_are_in_the_order_the_hpa_controller_writes_back(rendered: Rendered, env: str) -> None:
    metrics = one(rendered[env], "HorizontalPodAutoscaler")["spec"]["metrics"]
    # CPU utilization last (kubernetes/kubernetes#74099), or Argo CD shows a diff forever.
    assert metrics[-1]["type"] == "Resource" and metrics[-1]["resource"]["name"] == "cpu"


@per_env
def test_hpa_scales_up_fast_enough_for_a_4x_spike_and_down_slowly(rendered: Rendered, env: str) -> None:
    behavior = one(rendered[env], "HorizontalPodAutoscaler")["spec"]["behavior"]
    up, down = behavior["scaleUp"], behavior["scaleDown"]
    assert up["stabilizationWindowSeconds"] == 0
    assert any(p["type"] == "Percent" and p["value"] >= 300 and p["periodSeconds"] <= 60 for p in up["policies"])
    assert down["stabilizationWindowSeconds"] >= 300
    assert all(p["type"] == "Pods" and p["value"] == 1 for p in down["policies"])


@pytest.mark.parametrize("env", ["staging", "prod"])
def test_a_pdb_protects_the_web_pods(rendered: Rendered, env: str) -> None:
    pdb = one(rendered[env], "PodDisruptionBudget")
    deployment = one(rendered[env], "Deployment", "notejam")
    assert pdb["spec"]["selector"] == deployment["spec"]["selector"]


def test_prod_keeps_at_least_two_pods_during_disruptions(rendered: Rendered) -> None:
    pdb = one(rendered["prod"], "PodDisruptionBudget")["spec"]
    assert pdb["minAvailable"] == 2 and "maxUnavailable" not in pdb


def test_prod_spreads_over_zones_as_a_hard_rule(rendered: Rendered) -> None:
    constraints = pod_spec(one(rendered["prod"], "Deployment"))["topologySpreadConstraints"]
    zone = next(c for c in constraints if c["topologyKey"] == "topology.kubernetes.io/zone")
    assert zone["whenUnsatisfiable"] == "DoNotSchedule"


@per_env
def test_network_policies_deny_by_default(rendered: Rendered, env: str) -> None:
    deny = [
        p
        for p in of_kind(rendered[env], "NetworkPolicy")
        if p["spec"]["podSelector"] == {}
        and set(p["spec"]["policyTypes"]) == {"Ingress", "Egress"}
        and not p["spec"].get("ingress")
        and not p["spec"].get("egress")
    ]
    assert deny, "no default-deny NetworkPolicy"


@per_env
def test_egress_is_dns_postgresql_the_web_pods_and_mail_only(rendered: Rendered, env: str) -> None:
    ports = set()
    for policy in of_kind(rendered[env], "NetworkPolicy"):
        for rule in policy["spec"].get("egress", []):
            ports |= {(p.get("protocol", "TCP"), p["port"]) for p in rule["ports"]}
    (config,) = of_kind(rendered[env], "ConfigMap")
    smtp_port = int(config["data"]["SMTP_PORT"])
    assert ports == {("UDP", 53), ("TCP", 53), ("TCP", 5432), ("TCP", "http"), ("TCP", smtp_port)}


@per_env
def test_only_the_web_pods_may_send_mail(rendered: Rendered, env: str) -> None:
    (config,) = of_kind(rendered[env], "ConfigMap")
    smtp_port = int(config["data"]["SMTP_PORT"])
    for policy in of_kind(rendered[env], "NetworkPolicy"):
        for rule in policy["spec"].get("egress", []):
            if any(p["port"] == smtp_port for p in rule["ports"]):
                assert policy["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "web"
                assert all("10.0.0.0/8" in peer["ipBlock"]["except"] for peer in rule["to"])


def produced_secrets(docs: list[Document]) -> dict[str, set[str]]:
    """Secret name -> keys, for every Secret the render creates directly or through an operator."""
    secrets: dict[str, set[str]] = {}
    for doc in docs:
        if doc["kind"] == "Secret":
            secrets[doc["metadata"]["name"]] = set(doc.get("data", {})) | set(doc.get("stringData", {}))
        elif doc["kind"] == "ExternalSecret":
            keys = {d["secretKey"] for d in doc["spec"].get("data", [])}
            # dataFrom extract: every property of the JSON secret, which the account bootstrap creates.
            created = {name: props for env in ENVIRONMENTS for name, props in secret_names(env).items()}
            for source in doc["spec"].get("dataFrom", []):
                keys |= created[source["extract"]["key"]]
            secrets[doc["spec"]["target"]["name"]] = keys
        elif doc["apiVersion"].startswith(f"{PLATFORM_GROUP}/") and "writeConnectionSecretToRef" in doc["spec"]:
            secrets[doc["spec"]["writeConnectionSecretToRef"]["name"]] = connection_secret_keys(doc["kind"])
    return secrets


def connection_secret_keys(claim_kind: str) -> set[str]:
    for path in (REPO_ROOT / "crossplane" / "apis").glob("*/definition.yaml"):
        xrd = yaml.safe_load(path.read_text())
        if xrd["spec"].get("claimNames", {}).get("kind") == claim_kind:
            return set(xrd["spec"].get("connectionSecretKeys", []))
    raise AssertionError(f"no XRD offers claim kind {claim_kind}")


@per_env
def test_every_secret_reference_resolves_to_a_secret_the_render_produces(rendered: Rendered, env: str) -> None:
    secrets = produced_secrets(rendered[env])
    for doc, container in containers(rendered[env]):
        for env_var in container.get("env", []):
            ref = env_var.get("valueFrom", {}).get("secretKeyRef")
            if ref:
                where = f"{object_id(doc)} {env_var['name']}"
                assert ref["name"] in secrets, f"{where}: nothing produces Secret {ref['name']}"
                assert ref["key"] in secrets[ref["name"]], f"{where}: Secret {ref['name']} has no key {ref['key']}"
        for source in container.get("envFrom", []):
            if "secretRef" in source:
                assert source["secretRef"]["name"] in secrets, object_id(doc)
    for doc, spec in workloads(rendered[env]):
        for volume in spec.get("volumes", []):
            if "secret" in volume:
                assert volume["secret"]["secretName"] in secrets, object_id(doc)


@per_env
@pytest.mark.parametrize(("name", "entry"), [("notejam-app", "app"), ("notejam-smoke", "smoke")])
def test_the_app_secrets_come_from_this_environments_secrets_manager_entry(
    rendered: Rendered, env: str, name: str, entry: str
) -> None:
    external = one(rendered[env], "ExternalSecret", name)
    keys = [d["remoteRef"]["key"] for d in external["spec"].get("data", [])]
    keys += [d["extract"]["key"] for d in external["spec"].get("dataFrom", [])]
    assert keys and set(keys) == {f"notejam/{env}/{entry}"}
    store = one(rendered[env], "SecretStore", external["spec"]["secretStoreRef"]["name"])
    account = one(
        rendered[env], "ServiceAccount", store["spec"]["provider"]["aws"]["auth"]["jwt"]["serviceAccountRef"]["name"]
    )
    assert re.fullmatch(
        rf"arn:aws:iam::\d{{12}}:role/notejam-{env}-app-secrets", annotation(account, "eks.amazonaws.com/role-arn")
    )


@per_env
def test_config_verifies_postgresqls_certificate_and_holds_no_secret(rendered: Rendered, env: str) -> None:
    config = one(rendered[env], "ConfigMap")["data"]
    assert config["PGSSLMODE"] == "verify-full" and config["PGSSLROOTCERT"] == "/opt/rds/global-bundle.pem"
    assert not {"SECRET_KEY", "SMTP_USERNAME", "SMTP_PASSWORD", "PGPASSWORD", "DB_URI"} & set(config)


@per_env
def test_labels_follow_app_kubernetes_io(rendered: Rendered, env: str) -> None:
    for doc in rendered[env]:
        labels = doc["metadata"].get("labels", {})
        for key in REQUIRED_LABELS:
            assert key in labels, f"{object_id(doc)}: no {key}"
        assert labels["app.kubernetes.io/instance"] == f"notejam-{env}"
        if doc["kind"] != "Namespace":
            assert "app.kubernetes.io/component" in labels, object_id(doc)
        template_labels = doc.get("spec", {}).get("template", {}).get("metadata", {}).get("labels", {})
        for key in [*labels, *template_labels]:
            assert key.startswith(ALLOWED_LABEL_PREFIXES), f"{object_id(doc)}: ad-hoc label {key}"


@per_env
def test_claims_come_before_the_migration_which_comes_before_the_deployment(rendered: Rendered, env: str) -> None:
    docs = rendered[env]
    migrate = one(docs, "Job", "notejam-migrate")
    # A Sync hook, not PreSync: PreSync would run before the database claim exists on the first sync.
    assert annotation(migrate, "argocd.argoproj.io/hook") == "Sync"
    claims = [d for d in docs if d["apiVersion"].startswith(f"{PLATFORM_GROUP}/")]
    assert {c["kind"] for c in claims} == {"PostgreSQLInstance", "DatabaseBackup"}
    assert max(wave(c) for c in claims) < wave(migrate) < wave(one(docs, "Deployment", "notejam"))
    secret_sources = [*of_kind(docs, "ExternalSecret"), *of_kind(docs, "SecretStore"), *of_kind(docs, "ServiceAccount")]
    assert all(wave(s) < wave(migrate) for s in secret_sources)


@per_env
def test_the_smoke_test_runs_after_the_sync(rendered: Rendered, env: str) -> None:
    smoke = one(rendered[env], "Job", "notejam-smoke-test")
    assert annotation(smoke, "argocd.argoproj.io/hook") == "PostSync"
    assert pod_spec(smoke)["containers"][0]["args"][-1] == "http://notejam"
    # One account from a Secret, not a new user per sync (tests/app/test_smoke.py).
    credentials = {e["name"]: e["valueFrom"]["secretKeyRef"]["name"] for e in pod_spec(smoke)["containers"][0]["env"]}
    assert credentials == {"SMOKE_EMAIL": "notejam-smoke", "SMOKE_PASSWORD": "notejam-smoke"}


@pytest.mark.parametrize(
    ("env", "high_availability", "deletion_protection"),
    [("dev", False, False), ("staging", False, True), ("prod", True, True)],
)
def test_database_claim_per_environment(
    rendered: Rendered, env: str, high_availability: bool, deletion_protection: bool
) -> None:
    claim = one(rendered[env], "PostgreSQLInstance", "notejam-db")
    parameters = claim["spec"]["parameters"]
    assert parameters["highAvailability"] is high_availability
    assert parameters["deletionProtection"] is deletion_protection
    assert parameters["backupRetentionDays"] >= 7
    assert claim["spec"]["writeConnectionSecretToRef"] == {"name": "notejam-db"}
    backup = one(rendered[env], "DatabaseBackup")
    assert backup["spec"]["parameters"]["databaseIdentifier"] == f"notejam-{env}-notejam-db"
    assert backup["spec"]["parameters"]["archiveDays"] == 1095


@per_env
def test_argo_cd_never_deletes_or_prunes_the_database(rendered: Rendered, env: str) -> None:
    claim = one(rendered[env], "PostgreSQLInstance", "notejam-db")
    options = set(annotation(claim, "argocd.argoproj.io/sync-options").split(","))
    assert {"Delete=false", "Prune=false"} <= options


@per_env
def test_ingress_is_an_https_alb_for_the_environment_host(rendered: Rendered, env: str) -> None:
    ingress = one(rendered[env], "Ingress")
    annotations = ingress["metadata"]["annotations"]
    host = f"notejam.{env}.example.com"
    assert ingress["spec"]["ingressClassName"] == "alb"
    assert [r["host"] for r in ingress["spec"]["rules"]] == [host]
    assert ingress["spec"]["tls"] == [{"hosts": [host]}]  # the ALB discovers the ACM certificate from it
    assert "alb.ingress.kubernetes.io/certificate-arn" not in annotations
    assert annotations["alb.ingress.kubernetes.io/target-type"] == "ip"
    assert annotations["alb.ingress.kubernetes.io/healthcheck-path"] == "/readyz"
    assert annotations["alb.ingress.kubernetes.io/ssl-redirect"] == "443"
    assert '{"HTTPS": 443}' in annotations["alb.ingress.kubernetes.io/listen-ports"]
    # A new pod passes the readiness gate within half a minute of answering /readyz.
    interval = int(annotations["alb.ingress.kubernetes.io/healthcheck-interval-seconds"])
    assert interval * int(annotations["alb.ingress.kubernetes.io/healthy-threshold-count"]) <= 30


@per_env
def test_links_in_mail_point_at_the_ingress_host(rendered: Rendered, env: str) -> None:
    (host,) = [rule["host"] for rule in one(rendered[env], "Ingress")["spec"]["rules"]]
    (config,) = of_kind(rendered[env], "ConfigMap")
    assert config["data"]["PUBLIC_URL"] == f"https://{host}"


@per_env
def test_the_service_reaches_the_app_port_named_http(rendered: Rendered, env: str) -> None:
    service = one(rendered[env], "Service", "notejam")
    assert service["spec"]["ports"] == [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}]
    container = pod_spec(one(rendered[env], "Deployment", "notejam"))["containers"][0]
    assert {"name": "http", "containerPort": 8000, "protocol": "TCP"} in container["ports"]


@per_env
def test_shutdown_outlasts_the_prestop_delay_and_gunicorns_graceful_timeout(rendered: Rendered, env: str) -> None:
    spec = pod_spec(one(rendered[env], "Deployment", "notejam"))
    pre_stop = spec["containers"][0]["lifecycle"]["preStop"]["sleep"]["seconds"]
    assert spec["terminationGracePeriodSeconds"] > pre_stop + notejam.gunicorn_conf.graceful_timeout


def test_the_overlay_tags_are_what_the_promotion_tool_reads(rendered: Rendered) -> None:
    from tools.promote import read_tag

    for env in ENVIRONMENTS:
        image = pod_spec(one(rendered[env], "Deployment", "notejam"))["containers"][0]["image"]
        assert image == f"{IMAGE}:{read_tag(env)}"


@per_env
def test_the_app_accepts_the_environment_the_deployment_gives_it(rendered: Rendered, env: str, tmp_path: Path) -> None:
    """ConfigMap values plus stand-ins for the Secret values, through the app's own settings loader; a file stands
    in for the image's RDS certificate bundle."""
    from sqlalchemy.engine import make_url

    from notejam.config import RDS_CA_BUNDLE, load_settings

    config = one(rendered[env], "ConfigMap")["data"]
    container = pod_spec(one(rendered[env], "Deployment", "notejam"))["containers"][0]
    environ = {**config, **{e["name"]: f"stand-in-{e['name']}" for e in container["env"]}}
    environ["PGPORT"] = "5432"
    assert environ["PGSSLROOTCERT"] == RDS_CA_BUNDLE
    environ["PGSSLROOTCERT"] = str(tmp_path / "global-bundle.pem")
    Path(environ["PGSSLROOTCERT"]).write_text("stand-in for the image's bundle")
    settings = load_settings("/tmp/instance", environ=environ)
    url = make_url(str(settings["DATABASE_URL"]))
    assert (url.host, url.username, url.database) == ("stand-in-PGHOST", "stand-in-PGUSER", "stand-in-PGDATABASE")
    assert url.query == {"sslmode": "verify-full", "sslrootcert": environ["PGSSLROOTCERT"]}
    config_py = (REPO_ROOT / "src" / "notejam" / "config.py").read_text()
    unread = [name for name in environ if f'"{name}"' not in config_py]
    assert not unread, f"the app never reads {unread}"


# What a real EKS cluster, Argo CD and the AWS controllers do with the render: each rule below guards a way the
# manifests, although valid, would fail there.


@per_env
def test_the_hpa_is_synced_no_earlier_than_the_workload_it_scales(rendered: Rendered, env: str) -> None:
    """An HPA without its target is Degraded (FailedGetScale) for Argo CD, which fails the sync of its wave."""
    for hpa in of_kind(rendered[env], "HorizontalPodAutoscaler"):
        target = hpa["spec"]["scaleTargetRef"]
        assert wave(hpa) >= wave(one(rendered[env], target["kind"], target["name"])), object_id(hpa)


@per_env
@pytest.mark.parametrize("name", ["notejam-app", "notejam-smoke"])
def test_the_external_secret_comes_after_its_store_and_before_the_migration(
    rendered: Rendered, env: str, name: str
) -> None:
    """External Secrets fails an ExternalSecret whose store is not Ready yet, and Argo CD fails the sync on it."""
    docs = rendered[env]
    external = one(docs, "ExternalSecret", name)
    store = one(docs, "SecretStore", external["spec"]["secretStoreRef"]["name"])
    account = one(docs, "ServiceAccount", store["spec"]["provider"]["aws"]["auth"]["jwt"]["serviceAccountRef"]["name"])
    assert wave(account) <= wave(store) < wave(external) < wave(one(docs, "Job", "notejam-migrate"))


@per_env
def test_the_pdb_lets_unready_pods_go_so_drains_survive_a_database_outage(rendered: Rendered, env: str) -> None:
    pdb = one(rendered[env], "PodDisruptionBudget")
    assert pdb["spec"]["unhealthyPodEvictionPolicy"] == "AlwaysAllow"


@per_env
def test_the_pdb_allows_a_drain_at_the_hpa_minimum(rendered: Rendered, env: str) -> None:
    """A PDB that allows no disruption at the minimum pod count blocks every node drain and scale-down."""
    pdb = one(rendered[env], "PodDisruptionBudget")["spec"]
    minimum = one(rendered[env], "HorizontalPodAutoscaler")["spec"]["minReplicas"]
    allowed = minimum - pdb["minAvailable"] if "minAvailable" in pdb else pdb["maxUnavailable"]
    assert isinstance(allowed, int) and allowed >= 1, f"{env}: {pdb} with minReplicas {minimum}"


@per_env
def test_rollouts_wait_until_the_alb_reports_new_pods_healthy(rendered: Rendered, env: str) -> None:
    """Without the readiness gate a rollout can leave the ALB with only initial and draining targets."""
    namespace = one(rendered[env], "Namespace")
    assert namespace["metadata"]["labels"]["elbv2.k8s.aws/pod-readiness-gate-inject"] == "enabled"
    # The gate exists only for targets that are pods.
    assert annotation(one(rendered[env], "Ingress"), "alb.ingress.kubernetes.io/target-type") == "ip"


@per_env
def test_liveness_outlasts_gunicorns_worker_timeout(rendered: Rendered, env: str) -> None:
    """The arbiter handles stuck workers (gunicorn's timeout); liveness only a dead arbiter."""
    probe = pod_spec(one(rendered[env], "Deployment", "notejam"))["containers"][0]["livenessProbe"]
    gives_up_after = probe["periodSeconds"] * probe["failureThreshold"]
    assert gives_up_after > notejam.gunicorn_conf.timeout
    assert probe["timeoutSeconds"] >= 5


@per_env
def test_the_kubelet_and_the_alb_probe_the_probe_port_which_the_network_policy_admits(
    rendered: Rendered, env: str
) -> None:
    """The probe port is answered outside the request workers (src/notejam/probes.py, tests/app/test_probes.py)."""
    container = pod_spec(one(rendered[env], "Deployment", "notejam"))["containers"][0]
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    for kind in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert container[kind]["httpGet"]["port"] == "probes", kind
    ingress = one(rendered[env], "Ingress")
    assert annotation(ingress, "alb.ingress.kubernetes.io/healthcheck-port") == str(ports["probes"])
    web = one(rendered[env], "Deployment", "notejam")["spec"]["template"]["metadata"]["labels"]
    policies = [p for p in of_kind(rendered[env], "NetworkPolicy") if selects(p["spec"]["podSelector"], web)]
    assert any(
        {"port": "probes", "protocol": "TCP"} in rule["ports"] and all("ipBlock" in peer for peer in rule["from"])
        for policy in policies
        for rule in policy["spec"].get("ingress", [])
    ), "the ALB may not reach the probe port (the kubelet's probes come from the node, which the VPC CNI admits)"


@per_env
def test_only_the_load_balancers_subnets_reach_the_web_pods_by_address(rendered: Rendered, env: str) -> None:
    """With the VPC CNI every pod has a VPC address: an ipBlock covering the VPC (or 10.0.0.0/8) would admit every
    pod of the cluster. The address ranges admitted are exactly the public subnets eksctl makes from the cluster's
    CIDR (eksctl v0.215.0 pkg/vpc/vpc.go SetSubnets: a /16 in eight /19s, public first, one per zone)."""
    import ipaddress

    config = yaml.safe_load((REPO_ROOT / "clusters" / env / "eksctl.yaml").read_text())
    vpc = ipaddress.ip_network(config["vpc"]["cidr"])
    public = {str(n) for n in list(vpc.subnets(new_prefix=vpc.prefixlen + 3))[: len(config["availabilityZones"])]}
    web = one(rendered[env], "Deployment", "notejam")["spec"]["template"]["metadata"]["labels"]
    admitted = {
        peer["ipBlock"]["cidr"]
        for policy in of_kind(rendered[env], "NetworkPolicy")
        if selects(policy["spec"]["podSelector"], web)
        for rule in policy["spec"].get("ingress", [])
        for peer in rule.get("from", [])
        if "ipBlock" in peer
    }
    assert admitted == public
    claim = one(rendered[env], "PostgreSQLInstance", "notejam-db")
    assert claim["spec"]["parameters"]["network"]["clientCidrBlocks"] == [str(vpc)]


@per_env
def test_the_public_alb_does_not_serve_metrics(rendered: Rendered, env: str) -> None:
    ingress = one(rendered[env], "Ingress")
    (rule,) = ingress["spec"]["rules"]
    first = rule["http"]["paths"][0]  # the ALB evaluates the paths in order
    assert (first["path"], first["pathType"]) == ("/metrics", "Exact")
    backend = first["backend"]["service"]
    assert backend["port"] == {"name": "use-annotation"}
    action = json.loads(annotation(ingress, f"alb.ingress.kubernetes.io/actions.{backend['name']}"))
    assert action["type"] == "fixed-response"
    assert action["fixedResponseConfig"]["statusCode"] == "404"


@per_env
def test_every_ingress_backend_is_a_rendered_service_or_an_alb_action(rendered: Rendered, env: str) -> None:
    ingress = one(rendered[env], "Ingress")
    services = {s["metadata"]["name"]: s for s in of_kind(rendered[env], "Service")}
    for rule in ingress["spec"]["rules"]:
        for path in rule["http"]["paths"]:
            backend = path["backend"]["service"]
            if backend["port"] == {"name": "use-annotation"}:
                assert annotation(ingress, f"alb.ingress.kubernetes.io/actions.{backend['name']}"), backend
            else:
                ports = {p["name"] for p in services[backend["name"]]["spec"]["ports"]}
                assert backend["port"]["name"] in ports, backend


def selects(selector: dict, labels: dict) -> bool:
    """matchLabels only: the policies here use nothing else (a matchExpressions would make this fail loudly)."""
    assert set(selector) <= {"matchLabels"}, selector
    return all(labels.get(key) == value for key, value in selector.get("matchLabels", {}).items())


@per_env
def test_the_smoke_test_reaches_the_service_through_the_network_policies(rendered: Rendered, env: str) -> None:
    """DNS, then the Service. On EKS the VPC CNI filters egress before the ClusterIP is translated, so its policy
    controller admits a Service's ClusterIP only when the egress podSelector matches the Service's selector."""
    docs = rendered[env]
    smoke = one(docs, "Job", "notejam-smoke-test")["spec"]["template"]["metadata"]["labels"]
    service = one(docs, "Service", "notejam")
    web = one(docs, "Deployment", "notejam")["spec"]["template"]["metadata"]["labels"]
    policies = of_kind(docs, "NetworkPolicy")
    egress = [r for p in policies if selects(p["spec"]["podSelector"], smoke) for r in p["spec"].get("egress", [])]
    dns = [r for r in egress if {"port": 53, "protocol": "UDP"} in r["ports"]]
    assert any(peer["podSelector"] == {"matchLabels": {"k8s-app": "kube-dns"}} for r in dns for peer in r["to"])
    to_service = [
        r
        for r in egress
        if any("podSelector" in peer and selects(peer["podSelector"], service["spec"]["selector"]) for peer in r["to"])
        and any(p["port"] in ("http", 80) for p in r["ports"])
    ]
    assert to_service, "no egress rule admits the Service's ClusterIP"
    ingress = [r for p in policies if selects(p["spec"]["podSelector"], web) for r in p["spec"].get("ingress", [])]
    assert any(
        "podSelector" in peer and "namespaceSelector" not in peer and selects(peer["podSelector"], smoke)
        for r in ingress
        if any(p["port"] == "http" for p in r["ports"])
        for peer in r["from"]
    ), "the web pods do not admit the smoke test"
