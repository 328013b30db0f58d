//go:build tools

// Package tools pins Argo CD's one binary; its file name selects the component
// (argocd-application-controller, argocd-repo-server, argocd-server, argocd).
package tools

import (
	_ "github.com/argoproj/argo-cd/v3/cmd"
)
