"""A local control plane for watching this repository sync: `make cluster`, `make cluster-down`, the live tests.

Real: etcd, kube-apiserver, kube-controller-manager (its HPA controller included), kube-scheduler (built from Go
modules at the clusters' minor version), metrics-server, kwok (nodes and pods without a kubelet, their CPU), Redis,
a git daemon, and Argo CD's application controller, repo server, notifications controller and API server at the
release the clusters run. Simulated, openly (see `served_repo.py` and the `fake_controllers` package): the add-ons'
Helm charts and the controllers that do not run here (Crossplane, External Secrets, the AWS Load Balancer Controller,
Prometheus with prometheus-adapter, the users' load).
"""
