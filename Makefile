# The verbs of this repository. Each target is a line or two; the work lives in tools/ and tests/.
# Every pin of an external CLI is here, once.
KUBERNETES_VERSION := 1.34.0
KUBECONFORM_VERSION := v0.7.0
KUSTOMIZE_VERSION := v5.8.1
ACTIONLINT_VERSION := v1.7.12
# promtool of Prometheus v3.16.0 (Go module versions are v0.<minor>.<patch>): evaluates the alert rules in tests.
PROMTOOL_VERSION := v0.316.0
# The local control plane (make cluster, the live tests): the clusters' Kubernetes minor, the Argo CD they install.
CLUSTER_KUBERNETES_VERSION := v1.35.4
CLUSTER_ETCD_VERSION := v3.6.16
CLUSTER_KWOK_VERSION := v0.7.0
CLUSTER_ARGOCD_VERSION := v3.6.1
# One Go toolchain for every control-plane build (Argo CD v3.6 needs Go 1.27), so they share the build cache.
CLUSTER_GOTOOLCHAIN := go1.27.3
ENV ?= dev

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
TOOLS := $(CURDIR)/.tools/bin
# Read-only data that is never copied into git: CRD JSON schemas and upstream CRDs (see docs/validation.md).
SHARED_DIR ?= $(abspath $(CURDIR)/../shared)
export NOTEJAM_SCHEMAS_DIR ?= $(SHARED_DIR)/kubeconform-schemas
export NOTEJAM_CRDS_DIR ?= $(SHARED_DIR)/crds
export NOTEJAM_KUBERNETES_VERSION := $(KUBERNETES_VERSION)
export PATH := $(TOOLS):$(PATH)
export PYTHONPATH := $(CURDIR)/src:$(CURDIR)

.PHONY: run test validate render diff bench lambda-package tools lint clean cluster cluster-down cluster-build

run: $(VENV)/.installed ## the app on SQLite at http://127.0.0.1:5000
	$(PY) -m tools.run_local

test: $(VENV)/.installed tools cluster-build ## every test: app, manifests, Crossplane, backup, Argo CD
	$(PY) -m pytest

validate: $(VENV)/.installed tools ## build every kustomization and kubeconform everything
	$(PY) -m tools.validate

render: $(VENV)/.installed ## composed AWS resources of every environment's claims
	$(PY) -m tools.render --assume-created

diff: $(VENV)/.installed tools ## make diff BASE=<git ref>: rendered overlays at BASE vs the working tree
	$(PY) -m tools.diff --base $(or $(BASE),origin/main)

bench: $(VENV)/.installed ## performance figures (printed, never asserted)
	$(PY) -m bench.requests

lambda-package: $(VENV)/.installed ## dist/backup-lambda.zip, byte-for-byte reproducible
	$(PY) -m tools.lambda_package --output dist/backup-lambda.zip

cluster: $(VENV)/.installed tools cluster-build ## make cluster ENV=dev: a local control plane syncing ENV (see README)
	$(PY) -m tools.cluster.up --env $(ENV)

cluster-down: $(VENV)/.installed ## stop everything `make cluster` started, by PID
	$(PY) -m tools.cluster.down

cluster-build: $(VENV)/.installed ## etcd, Kubernetes, kwok and Argo CD into .tools/cluster/<component>-<version>/
	GOTOOLCHAIN=$(CLUSTER_GOTOOLCHAIN) CGO_ENABLED=0 $(PY) -m tools.cluster.build --kubernetes $(CLUSTER_KUBERNETES_VERSION) --etcd $(CLUSTER_ETCD_VERSION) \
	  --kwok $(CLUSTER_KWOK_VERSION) --argocd $(CLUSTER_ARGOCD_VERSION)

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

tools: $(TOOLS)/kubeconform $(TOOLS)/kustomize $(TOOLS)/actionlint $(TOOLS)/promtool

$(VENV)/.installed: requirements/app.txt requirements/backup.txt requirements/dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements/dev.txt
	touch $@

$(TOOLS)/kubeconform:
	GOBIN=$(TOOLS) go install github.com/yannh/kubeconform/cmd/kubeconform@$(KUBECONFORM_VERSION)

$(TOOLS)/kustomize:
	GOBIN=$(TOOLS) go install sigs.k8s.io/kustomize/kustomize/v5@$(KUSTOMIZE_VERSION)

$(TOOLS)/actionlint:
	GOBIN=$(TOOLS) go install github.com/rhysd/actionlint/cmd/actionlint@$(ACTIONLINT_VERSION)

$(TOOLS)/promtool:
	GOBIN=$(TOOLS) go install github.com/prometheus/prometheus/cmd/promtool@$(PROMTOOL_VERSION)

clean:
	rm -rf $(VENV) .tools .cache dist
