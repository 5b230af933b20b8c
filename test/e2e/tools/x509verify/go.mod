// x509verify: Go's own certificate verification (crypto/x509), for test/integration/
// test_name_constraints.sh. Standard library only; its own module so that building it loads
// none of the tools module's dependencies. Nothing here ships.
module ember.issuer.dev/e2e/tools/x509verify

go 1.26.0
