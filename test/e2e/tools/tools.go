//go:build tools

// Keeps helm.sh/helm/v3/cmd/helm in this module's graph.
package tools

import _ "helm.sh/helm/v3/cmd/helm"
