# The verbs of this repository. Each target is a line or two; the work lives in tools/ and tests/.
# Every pin of an external CLI is here, once.
# Each `# renovate:` comment tells Renovate where to look for newer versions of the line below it (renovate.json5).
# The one Go toolchain of every Go command here (the CLIs below, the control plane, the module downloads of Argo CD
# and eksctl):
# Argo CD v3.6 declares go 1.27, and the machine's Go (1.26) fetches this toolchain from the Go module proxy.
# Exported, so nothing depends on what a module cache already holds. The workflows run Go only through make.
# renovate: datasource=golang-version depName=go
GO_TOOLCHAIN_VERSION := 1.27.3
export GOTOOLCHAIN := go$(GO_TOOLCHAIN_VERSION)
# renovate: datasource=github-tags depName=kubernetes/kubernetes extractVersion=^v(?<version>.+)$
KUBERNETES_VERSION := 1.35.0
# renovate: datasource=go depName=github.com/yannh/kubeconform
KUBECONFORM_VERSION := v0.7.0
# renovate: datasource=go depName=sigs.k8s.io/kustomize/kustomize/v5
KUSTOMIZE_VERSION := v5.8.1
# renovate: datasource=go depName=github.com/rhysd/actionlint
ACTIONLINT_VERSION := v1.7.12
# promtool of Prometheus v3.16.0 (Go module versions are v0.<minor>.<patch>): evaluates the alert rules in tests.
# renovate: datasource=go depName=github.com/prometheus/prometheus
PROMTOOL_VERSION := v0.316.0
# amtool of Alertmanager v0.34.0, the release kube-prometheus-stack runs: checks the Alertmanager configuration and
# routes a test alert through it (tests/argocd/test_alert_routing.py).
# renovate: datasource=go depName=github.com/prometheus/alertmanager
AMTOOL_VERSION := v0.34.0
# vegeta: the load generator of `make bench` (constant-rate attacks, so latency at half peak is measured open-loop).
# renovate: datasource=go depName=github.com/tsenart/vegeta/v12
VEGETA_VERSION := v12.13.0
# The Crossplane CLI (`crossplane render`, `crossplane xpkg`) at the version dev runs (clusters/dev/versions/addons).
# Only CI downloads it: releases.crossplane.io, not a Go module.
# renovate: datasource=github-releases depName=crossplane/crossplane
CROSSPLANE_VERSION := v2.3.4
# eksctl, which creates the EKS clusters from clusters/<env>/eksctl.yaml (docs/bootstrap.md installs this release;
# what wellKnownPolicies grants depends on it). Here only its ClusterConfig JSON schema, from the module's source
# (never built), which tests/argocd/test_eksctl_configs.py validates every eksctl.yaml against.
# renovate: datasource=github-releases depName=eksctl-io/eksctl
EKSCTL_VERSION := v0.215.0
# Renovate itself, run offline by tests/renovate (39.x is the newest line that runs on Node.js 20).
# renovate: datasource=npm depName=renovate
RENOVATE_VERSION := 39.264.1
# The local control plane (make cluster, the live tests): the clusters' Kubernetes minor, the Argo CD they install.
# renovate: datasource=go depName=k8s.io/kubernetes
CLUSTER_KUBERNETES_VERSION := v1.35.4
# renovate: datasource=go depName=go.etcd.io/etcd/server/v3
CLUSTER_ETCD_VERSION := v3.6.16
# renovate: datasource=go depName=sigs.k8s.io/kwok
CLUSTER_KWOK_VERSION := v0.7.0
# renovate: datasource=go depName=github.com/argoproj/argo-cd/v3
CLUSTER_ARGOCD_VERSION := v3.6.1
# The app version of the metrics-server chart the clusters pin (clusters/<env>/versions/addons/metrics-server.yaml,
# chart 3.13.0 ships metrics-server v0.8.0): the HPA controller reads CPU from it. Bump both together.
# renovate: datasource=go depName=sigs.k8s.io/metrics-server
CLUSTER_METRICS_SERVER_VERSION := v0.8.0
ENV ?= dev

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
TOOLS := $(CURDIR)/.tools/bin
# One folder per Renovate version, so that a bump installs afresh.
export NOTEJAM_RENOVATE := $(CURDIR)/.tools/renovate-$(RENOVATE_VERSION)/node_modules/.bin/renovate
# One folder per eksctl version, so that a bump fetches afresh.
EKSCTL_SCHEMA := $(CURDIR)/.tools/eksctl-$(EKSCTL_VERSION)/schema.json
# Read-only data that is never copied into git (CRDs, their JSON schemas, the argo-ui package): ../shared, or
# SHARED_DIR=<folder>, or NOTEJAM_CRDS_DIR, NOTEJAM_SCHEMAS_DIR, NOTEJAM_ARGO_UI_TARBALL one by one (tools/repository.py).
export NOTEJAM_KUBERNETES_VERSION := $(KUBERNETES_VERSION)
export PATH := $(TOOLS):$(PATH)
export PYTHONPATH := $(CURDIR)/src:$(CURDIR)

.PHONY: run check check-tools test validate render golden render-check crossplane-cli diff bench capacity lambda-package tools lint clean bootstrap-account cluster-values cluster cluster-down cluster-build cluster-cache-key argocd-ui

run: $(VENV)/.installed ## the app on SQLite at http://127.0.0.1:5000
	$(PY) -m tools.run_local

# pytest's report for both tiers: the slowest tests, and JUnit XML for CI (.cache/test-results/).
PYTEST_REPORT = --durations=15 --durations-min=2 --junitxml=.cache/test-results/$@.xml
# Parallel workers (pytest-xdist): a module per worker at a time, each environment's live tests on one worker
# (tests/conftest.py). `make test` has more workers than cores: the live ones mostly wait on Argo CD.
CHECK_WORKERS ?= 2
TEST_WORKERS ?= 5

check: $(VENV)/.installed check-tools ## the fast tier: every test that needs no control plane, browser or Node.js
	$(PY) -m pytest -m "not control_plane and not browser and not node" -n $(CHECK_WORKERS) $(PYTEST_REPORT)

test: $(VENV)/.installed tools cluster-build ## every test: app, manifests, Crossplane, backup, Argo CD, live clusters
	$(PY) -m pytest -n $(TEST_WORKERS) $(PYTEST_REPORT)

validate: $(VENV)/.installed tools ## build every kustomization and kubeconform everything
	$(PY) -m tools.validate

render: $(VENV)/.installed ## composed AWS resources of every environment's claims
	$(PY) -m tools.render --assume-created

golden: $(VENV)/.installed ## rewrite tests/crossplane/golden/ from `make render`'s cases, then review `git diff`
	$(PY) -m tests.crossplane.snapshots

render-check: $(VENV)/.installed $(TOOLS)/crossplane ## CI: make render vs the real `crossplane render` (Docker, FUNCTION_IMAGE)
	$(PY) -m tools.crossplane_render_check --crossplane $(TOOLS)/crossplane --image $(FUNCTION_IMAGE)

crossplane-cli: $(TOOLS)/crossplane

diff: $(VENV)/.installed tools ## make diff BASE=<git ref>: rendered overlays/ and clusters/ at BASE vs the working tree
	$(PY) -m tools.diff --base $(or $(BASE),origin/main)

bench: $(VENV)/.installed $(TOOLS)/vegeta ## make bench [BASE=<git ref>]: pages vs bare Flask (and BASE), JSON in .cache/
	$(PY) -m bench.pages $(if $(BASE),--base $(BASE))

capacity: $(VENV)/.installed $(TOOLS)/kustomize ## nodes and database at maxReplicas (closed form), the live 4x event plotted: docs/capacity.png
	$(PY) -m tools.capacity --plot docs/capacity.png

bootstrap-account: $(VENV)/.installed ## make bootstrap-account ENV=<env> [ARGS="--alertmanager-url ..."]: once per AWS account (docs/bootstrap.md)
	$(PY) -m tools.bootstrap_account --env $(ENV) $(ARGS)

cluster-values: $(VENV)/.installed ## make cluster-values ENV=<env>: after eksctl, write its VPC, subnets, certificate into git
	$(PY) -m tools.cluster_values --env $(ENV)

lambda-package: $(VENV)/.installed ## dist/backup-lambda.zip, byte-for-byte reproducible
	$(PY) -m tools.lambda_package --output dist/backup-lambda.zip

cluster: $(VENV)/.installed tools cluster-build ## make cluster ENV=dev: a local control plane syncing ENV (see README)
	$(PY) -m tools.cluster.up --env $(ENV)

cluster-down: $(VENV)/.installed ## stop and delete what `make cluster` started (kwokctl delete cluster)
	$(PY) -m tools.cluster.down

argocd-ui: $(VENV)/.installed ## Argo CD's web UI (pnpm, webpack) in a module copy under .tools/cluster/, once per version
	$(PY) -m tools.cluster.argocd_ui --version $(CLUSTER_ARGOCD_VERSION)

cluster-build: $(VENV)/.installed ## etcd, Kubernetes, kwok, metrics-server and Argo CD (its web UI embedded) into .tools/cluster/
	CGO_ENABLED=0 $(PY) -m tools.cluster.build --kubernetes $(CLUSTER_KUBERNETES_VERSION) --etcd $(CLUSTER_ETCD_VERSION) \
	  --kwok $(CLUSTER_KWOK_VERSION) --argocd $(CLUSTER_ARGOCD_VERSION) --metrics-server $(CLUSTER_METRICS_SERVER_VERSION)

cluster-cache-key: ## what the built control plane depends on, for CI's cache key
	@echo "$(GOTOOLCHAIN)-kubernetes-$(CLUSTER_KUBERNETES_VERSION)-etcd-$(CLUSTER_ETCD_VERSION)-kwok-$(CLUSTER_KWOK_VERSION)-argocd-$(CLUSTER_ARGOCD_VERSION)-metrics-server-$(CLUSTER_METRICS_SERVER_VERSION)"

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

check-tools: $(TOOLS)/kubeconform $(TOOLS)/kustomize $(TOOLS)/actionlint $(TOOLS)/promtool $(TOOLS)/amtool \
	$(TOOLS)/vegeta $(EKSCTL_SCHEMA)
tools: check-tools $(NOTEJAM_RENOVATE)

$(VENV)/.installed: requirements/app.txt requirements/backup.txt requirements/dev.txt src/function/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements/dev.txt
	touch $@

$(TOOLS)/kubeconform:
	GOBIN=$(TOOLS) go install github.com/yannh/kubeconform/cmd/kubeconform@$(KUBECONFORM_VERSION)

$(TOOLS)/kustomize:
	GOBIN=$(TOOLS) go install sigs.k8s.io/kustomize/kustomize/v5@$(KUSTOMIZE_VERSION)

$(TOOLS)/actionlint:
	GOBIN=$(TOOLS) go install github.com/rhysd/actionlint/cmd/actionlint@$(ACTIONLINT_VERSION)

$(TOOLS)/crossplane:
	mkdir -p $(TOOLS) && curl -sfL -o $@ https://releases.crossplane.io/stable/$(CROSSPLANE_VERSION)/bin/linux_amd64/crank && chmod +x $@

$(TOOLS)/promtool:
	GOBIN=$(TOOLS) go install github.com/prometheus/prometheus/cmd/promtool@$(PROMTOOL_VERSION)

$(TOOLS)/amtool:
	GOBIN=$(TOOLS) go install github.com/prometheus/alertmanager/cmd/amtool@$(AMTOOL_VERSION)

$(TOOLS)/vegeta:
	GOBIN=$(TOOLS) go install github.com/tsenart/vegeta/v12@$(VEGETA_VERSION)

# The module keeps its import path github.com/weaveworks/eksctl (the repository moved to eksctl-io/eksctl).
$(EKSCTL_SCHEMA):
	GOFLAGS=-mod=mod go mod download github.com/weaveworks/eksctl@$(EKSCTL_VERSION)
	install -D -m 644 "$$(go env GOMODCACHE)/github.com/weaveworks/eksctl@$(EKSCTL_VERSION)/pkg/apis/eksctl.io/v1alpha5/assets/schema.json" $@

# --omit=optional: re2 and better-sqlite3 would compile native code (their prebuilt binaries come from GitHub);
# without re2 Renovate uses JavaScript's RegExp, and extraction needs no database.
$(NOTEJAM_RENOVATE):
	npm install --prefix $(CURDIR)/.tools/renovate-$(RENOVATE_VERSION) --omit=optional --no-audit --no-fund \
		--loglevel=error renovate@$(RENOVATE_VERSION)

clean:
	rm -rf $(VENV) .tools .cache dist
