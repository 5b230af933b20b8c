// Package gates turns on the cert-manager feature gates Ember's tests rely on, for both mains of
// this harness (the controller and the webhook register their own gates of these names).
package gates

import (
	"fmt"

	utilfeature "github.com/cert-manager/cert-manager/pkg/util/feature"
)

// Defaults are on unless the command line's --feature-gates says otherwise.
var Defaults = map[string]bool{
	"OtherNames":                true,
	"LiteralCertificateSubject": true,
	"NameConstraints":           true,
}

// Apply sets Defaults, then overrides, on cert-manager's global feature gate.
func Apply(overrides map[string]bool) error {
	m := make(map[string]bool, len(Defaults)+len(overrides))
	for k, v := range Defaults {
		m[k] = v
	}
	for k, v := range overrides {
		m[k] = v
	}
	if err := utilfeature.DefaultMutableFeatureGate.SetFromMap(m); err != nil {
		return fmt.Errorf("--feature-gates: %w", err)
	}
	return nil
}
