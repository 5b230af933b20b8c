# Case 8: Ember's CRDs in the real apiextensions server. It accepts every example (server-side
# dry run: OpenAPI schema, CEL rules, strict fields), refuses the invalid cases test_crds.sh's
# checker refuses, naming the same field, accepts those it accepts, and kubectl shows the printer
# columns.
. "$(dirname "$0")/common.sh"

# Namespaces the examples name.
for ns in demo istio-system cert-manager ember-issuer default; do
  kc get namespace $ns >/dev/null 2>&1 || kc create namespace $ns >/dev/null
done
for f in $(grep -l '^kind:' -r examples | sort); do
  case "$f" in
    examples/openshift-service-mesh/*) echo "# $f: OpenShift Service Mesh kinds, not served here"; continue ;;
  esac
  if kc apply --dry-run=server -f "$f" >"$CASE_DIR/out" 2>&1; then
    ok "the real API server accepts $f ($(wc -l <"$CASE_DIR/out") objects, server-side dry run)"
  else
    not_ok "the real API server accepts $f"; cat "$CASE_DIR/out"
  fi
done

python3 test/integration/crdcheck.py --dump-cases >"$CASE_DIR/cases.json"
python3 - "$CASE_DIR/cases.json" "$KUBE_BIN/kubectl" "$ADMIN_KUBECONFIG" <<'PY'
import json, re, subprocess, sys
cases = json.load(open(sys.argv[1]))
kubectl = [sys.argv[2], "--kubeconfig", sys.argv[3]]
bad = []
n_refuse = n_accept = 0
for c in cases:
    obj = c["object"]
    if "status" in obj:
        # The status subresource: a create drops status, so the object is created (spec only)
        # and its status written through /status, as a controller does, dry-run.
        spec_only = {k: v for k, v in obj.items() if k != "status"}
        subprocess.run(kubectl + ["create", "-f", "-"], input=json.dumps(spec_only),
                       capture_output=True, text=True, timeout=60)
        p = subprocess.run(kubectl + ["replace", "--subresource=status", "--dry-run=server", "-o", "name",
                                      "-f", "-"], input=json.dumps(obj), capture_output=True, text=True, timeout=60)
        subprocess.run(kubectl + ["delete", "--wait=false", "-f", "-"], input=json.dumps(spec_only),
                       capture_output=True, text=True, timeout=60)
    else:
        p = subprocess.run(kubectl + ["create", "--dry-run=server", "-o", "name", "-f", "-"],
                           input=json.dumps(obj), capture_output=True, text=True, timeout=60)
    accepted = p.returncode == 0
    msg = (p.stderr or p.stdout).strip()
    if c["verdict"] == "accept":
        n_accept += 1
        if not accepted:
            bad.append("%s: the checker accepts it, the API server refuses: %s" % (c["name"], msg))
        continue
    n_refuse += 1
    if accepted:
        bad.append("%s: the checker refuses it (%s), the API server accepts it" % (c["name"], c["field"]))
        continue
    # The API server names the field as "FIELD: ..." (schema, CEL) or `unknown field "FIELD"`
    # (strict decoding); list indices as [0] in both.
    field = c["field"]
    named = (re.search(r'(^|[\s,\[])' + re.escape(field) + r'(\[\d+\])?(\.[A-Za-z.\[\]0-9]+)?: ', msg)
             or re.search(r'unknown field "%s[".\[]' % re.escape(field), msg))
    if not named:
        bad.append("%s: refused, but the message does not name %s: %s" % (c["name"], field, msg))
    else:
        print("# %s -> %s" % (c["name"], msg.splitlines()[0][:200]))
for b in bad:
    print("# " + b)
print("%s - the real API server agrees with test_crds.sh's checker on %d refused and %d accepted objects%s" % (
    "not ok" if bad else "ok", n_refuse, n_accept, " (%d differ)" % len(bad) if bad else ""))
PY

# Printer columns, as kubectl prints them.
kc -n demo get issuers.ember.issuer.dev >"$CASE_DIR/issuers.txt" 2>&1
check "kubectl get issuers.ember.issuer.dev shows the printer columns ($(head -1 "$CASE_DIR/issuers.txt" | tr -s ' '))" \
  bash -c 'head -1 "$1" | grep -qE "^NAME +.*READY"' _ "$CASE_DIR/issuers.txt"
kc get issuancepolicies.ember.issuer.dev >"$CASE_DIR/pol.txt" 2>&1
check "kubectl get issuancepolicies.ember.issuer.dev shows the printer columns ($(head -1 "$CASE_DIR/pol.txt" | tr -s ' '))" \
  bash -c 'head -1 "$1" | grep -qE "^NAME +.*READY" && grep -qE "^demo-apps +.*True" "$1"' _ "$CASE_DIR/pol.txt"
kc get clusterissuers.ember.issuer.dev >"$CASE_DIR/ci.txt" 2>&1
check "kubectl get clusterissuers.ember.issuer.dev answers (no error)" absent -i error "$CASE_DIR/ci.txt"
