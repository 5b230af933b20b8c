//go:build tools

// Keeps the command build.sh builds (Vault's main, at its module root) in this module's graph.
package vault

import (
	_ "github.com/hashicorp/vault"
)
