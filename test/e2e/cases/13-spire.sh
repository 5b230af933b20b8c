# Case 13: SPIRE as cert-manager's CA client through Ember. The real spire-server (test/e2e/spire)
# with its built-in UpstreamAuthority "cert-manager" asks an Ember ClusterIssuer for its X.509 CA:
# with a TokenRequest token of its own service account (spire/spire-server, a Role with exactly
# the verbs the plugin uses: create, get, list, delete) it creates a CertificateRequest
# spiffe-ca-XXXXX in namespace spire (isCA, usages cert sign and crl sign, duration = ca_ttl,
# label cert-manager.spiffe.io/trust-domain), polls it, takes status.certificate and status.ca, and
# then deletes every terminal request of its trust domain. A kubectl watch records each version
# of every request (they are gone once SPIRE is done). The CA Secret is made from the root of
# examples/local-ca/make-ca.sh; for a ClusterIssuer it lives in Ember's cluster resource namespace.
#
# SPIRE runs as shipped (no CredentialComposer): its CA subject is C=US, O=SPIFFE and a random
# decimal serialNumber (OID 2.5.4.5), which the policy spire-upstream-ca admits with
# `serialNumber: {rule: Optional, allowed: ['[0-9]+'], max: 1}`.
#  1. SPIRE's CA request (as above, subject C=US, O=SPIFFE, serialNumber=DIGITS, URI
#     spiffe://example.org) is approved by the policy spire-upstream-ca and issued by Ember, and
#     spire-server becomes healthy.
#  2. What SPIRE got: its CA keeps the requested subject, is signed by Ember's CA, verifies to
#     make-ca.sh's root; `spire-server bundle show` is that root; `spire-server x509 mint` gives an
#     X509-SVID whose chain (leaf, SPIRE's CA signed by Ember, Ember's CA) verifies with openssl to
#     that root.
#  3. The policy gates SPIRE (each policy admits serialNumber unless the gate is about it): a
#     policy without isCA, and another trust domain, are Denied by Ember; a policy like
#     spire-upstream-ca without the serialNumber rule is Denied with "subject.serialNumber:
#     forbidden"; a CA Secret with pathlen:0 (make-ca.sh's own intermediate) fails with Ember's
#     message.
. "$(dirname "$0")/common.sh"

NS=spire
TD=example.org
CRNS=$(ember_args ember-issuer ember-issuer | sed -n 's/^--cluster-resource-namespace=//p')
CRNS=${CRNS:-ember-issuer}
SPIRE_BIN=$(e2e_build spire) || { not_ok "the spire component builds (test/e2e/spire)"; exit 0; }
D=$CASE_DIR
quiet() { "$@" >/dev/null; }

# crw CMD ARGS: the CertificateRequests the watch recorded ($D/crwatch.json, kubectl's watch
# events), each as its last version (a DELETED event holds the final one).
#   names                  names in order of first appearance
#   events NAME            the event types seen, e.g. "ADDED MODIFIED DELETED"
#   cond NAME TYPE FIELD   a condition's field (status, reason, message)
#   get NAME EXPR          prints the Python expression EXPR (cr: the object)
#   test NAME EXPR         exit 0 when the Python expression EXPR (cr: the object) is true
#   pem NAME FIELD OUT     spec.request, status.certificate or status.ca, decoded, into OUT
crw() {
  python3 - "$D/crwatch.json" "$@" <<'PY'
import base64, json, sys
path, cmd, args = sys.argv[1], sys.argv[2], sys.argv[3:]
text = open(path, errors="replace").read()
dec, pos, order, last, events = json.JSONDecoder(), 0, [], {}, {}
while True:
    i = text.find("{", pos)
    if i < 0:
        break
    try:
        ev, pos = dec.raw_decode(text, i)
    except ValueError:
        break  # an event still being written
    o = ev.get("object") or {}
    n = o.get("metadata", {}).get("name")
    if not n:
        continue
    if n not in last:
        order.append(n)
    last[n] = o
    events.setdefault(n, []).append(ev.get("type", ""))
if cmd == "names":
    print("\n".join(order))
elif cmd == "events":
    print(" ".join(events.get(args[0], [])))
elif cmd == "cond":
    for c in last.get(args[0], {}).get("status", {}).get("conditions", []):
        if c.get("type") == args[1]:
            print(c.get(args[2], ""))
            break
elif cmd == "get":
    print(eval(args[1], {"cr": last[args[0]]}) if args[0] in last else "")
elif cmd == "test":
    sys.exit(0 if args[0] in last and eval(args[1], {"cr": last[args[0]]}) else 1)
elif cmd == "pem":
    a, b = args[1].split(".")
    open(args[2], "wb").write(base64.b64decode(last.get(args[0], {}).get(a, {}).get(b, "")))
PY
}
crw_count() { crw names | grep -c .; }

# The CA: make-ca.sh's root and intermediate (pathlen:0, as its README says: it signs leaves
# only), and a second intermediate from the same root with pathlen:1, for SPIRE's CA below it.
examples/local-ca/make-ca.sh "$D/ca" "$CRNS" spire-leaf-only >/dev/null || not_ok "make-ca.sh makes the CA"
kc apply -f "$D/ca/secret.yaml" >/dev/null
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=Ember SPIRE Upstream CA" \
  -keyout "$D/upstream.key" -out "$D/upstream.csr" 2>/dev/null
printf 'basicConstraints=critical,CA:TRUE,pathlen:1\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid:always\n' >"$D/upstream.ext"
openssl x509 -req -sha384 -in "$D/upstream.csr" -CA "$D/ca/root.crt" -CAkey "$D/ca/root.key" \
  -set_serial "0x$(openssl rand -hex 16)" -days 30 -extfile "$D/upstream.ext" -out "$D/upstream.crt" 2>/dev/null
check "an intermediate with pathlen:1 under make-ca.sh's root, as Secret $CRNS/spire-upstream" \
  quiet kc -n "$CRNS" create secret generic spire-upstream --type=kubernetes.io/tls \
  --from-file=tls.crt="$D/upstream.crt" --from-file=tls.key="$D/upstream.key" --from-file=ca.crt="$D/ca/root.crt"

# The policy SPIRE's CA request needs (and one without isCA, one without the serialNumber rule),
# four ClusterIssuers, SPIRE's RBAC.
policy() { # NAME ISSUERS IS_CA SERIAL_NUMBER
  local serial=""
  [ -n "$4" ] && serial="    serialNumber: {rule: Optional, allowed: ['[0-9]+'], max: 1}"
  cat <<YAML
apiVersion: ember.issuer.dev/v1alpha1
kind: IssuancePolicy
metadata: {name: $1}
spec:
  selector:
    namespaces: [$NS]
    issuers: [$2]
    requesters: {serviceAccounts: ['$NS/spire-server']}
  validity: {max: 48h}
  keyAlgorithms: [EC_P256]
  subject:
    country: {rule: Optional, allowed: [US]}
    organization: {rule: Optional, allowed: [SPIFFE]}
$serial
  sans:
    uris: {rule: Required, allowed: ['spiffe://example\.org'], max: 1}
  usages: [cert sign, crl sign]
${3:+  isCA: true}
---
YAML
}
cissuer() { # NAME SECRET POLICY
  printf 'apiVersion: ember.issuer.dev/v1alpha1\nkind: ClusterIssuer\nmetadata: {name: %s}\nspec:\n  ca: {secretName: %s}\n  defaultPolicy: %s\n---\n' "$1" "$2" "$3"
}
kc create namespace $NS >/dev/null
{
  policy spire-upstream-ca "ClusterIssuer/spire-upstream, ClusterIssuer/spire-leaf-only" yes yes
  policy spire-no-ca "ClusterIssuer/spire-no-ca" "" yes
  policy spire-no-serial "ClusterIssuer/spire-no-serial" yes ""
  cissuer spire-upstream spire-upstream spire-upstream-ca
  cissuer spire-leaf-only spire-leaf-only spire-upstream-ca
  cissuer spire-no-ca spire-upstream spire-no-ca
  cissuer spire-no-serial spire-upstream spire-no-serial
  cat <<YAML
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: spire-server-upstream, namespace: $NS}
rules:
- apiGroups: [cert-manager.io]
  resources: [certificaterequests]
  verbs: [create, get, list, delete]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: spire-server-upstream, namespace: $NS}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: spire-server-upstream}
subjects:
- {kind: ServiceAccount, name: spire-server, namespace: $NS}
YAML
} >"$D/resources.yaml"
check "the IssuancePolicies, ClusterIssuers, and SPIRE's Role (create, get, list, delete certificaterequests in $NS) apply" \
  quiet kc apply -f "$D/resources.yaml"
for ci in spire-upstream spire-leaf-only spire-no-ca spire-no-serial; do
  check "the ClusterIssuer $ci becomes Ready" wait_cond 30 clusterissuers.ember.issuer.dev "" $ci Ready True
done
for p in spire-upstream-ca spire-no-ca spire-no-serial; do
  check "the IssuancePolicy $p becomes Ready" wait_cond 30 issuancepolicies.ember.issuer.dev "" $p Ready True
done
check "a kubeconfig with a TokenRequest token of SPIRE's own service account $NS/spire-server" \
  e2e_sa_kubeconfig $NS spire-server "$D/spire.kubeconfig"

# Every version of every CertificateRequest in $NS, as watch events; started once the watch is on.
e2e_spawn spire-crwatch "$D/crwatch.json" "$KUBE_BIN/kubectl" --kubeconfig "$ADMIN_KUBECONFIG" \
  -n $NS get certificaterequests --watch --output-watch-events -o json
watching() {
  [ "$(audit_count "verb == 'watch' and o.get('resource') == 'certificaterequests' and o.get('namespace') == '$NS' and u == 'e2e-admin'" ResponseStarted)" -gt 0 ]
}
e2e_wait 30 watching || echo "# the CertificateRequest watch did not start in 30 s"

# spire_start NAME TRUST_DOMAIN ISSUER: a spire-server as shipped (no CredentialComposer) with a
# SQLite datastore, the memory key manager, join_token node attestation and UpstreamAuthority
# "cert-manager" for ClusterIssuer ISSUER.
spire_start() {
  local name=$1 td=$2 issuer=$3 dir="$D/spire-$1" port
  mkdir -p "$dir/data"
  port=$(e2e_free_port)
  cat >"$dir/server.conf" <<CONF
server {
  bind_address = "127.0.0.1"
  bind_port = "$port"
  socket_path = "$dir/api.sock"
  trust_domain = "$td"
  data_dir = "$dir/data"
  log_level = "DEBUG"
  ca_ttl = "24h"
  default_x509_svid_ttl = "1h"
}
plugins {
  DataStore "sql" {
    plugin_data {
      database_type = "sqlite3"
      connection_string = "$dir/data/datastore.sqlite3"
    }
  }
  KeyManager "memory" {
    plugin_data {}
  }
  NodeAttestor "join_token" {
    plugin_data {}
  }
  UpstreamAuthority "cert-manager" {
    plugin_data {
      kube_config_file = "$D/spire.kubeconfig"
      namespace = "$NS"
      issuer_name = "$issuer"
      issuer_kind = "ClusterIssuer"
      issuer_group = "ember.issuer.dev"
    }
  }
}
CONF
  SPIRE_LOG="$dir/server.log"
  SPIRE_SOCK="$dir/api.sock"
  SPIRE_BEFORE=$(crw_count)
  e2e_spawn "spire-$name" "$SPIRE_LOG" "$SPIRE_BIN/spire-server" run -config "$dir/server.conf"
  SPIRE_PID=$LAST_PID
}
# spire_children: records the server's plugin processes in $E2E_DIR/pids and SPIRE_KIDS, so
# that spire_stop (and run.sh at the end) stop them by PID.
SPIRE_KIDS=()
spire_children() {
  local c comm
  for c in $(ps -o pid= --ppid "$SPIRE_PID" 2>/dev/null); do
    grep -q "^$c " "$E2E_DIR/pids" && continue
    comm=$(ps -o comm= -p "$c" 2>/dev/null) && [ -n "$comm" ] || continue
    echo "$c $comm" >>"$E2E_DIR/pids"
    SPIRE_KIDS+=("$c")
  done
}
# spire_wait: 0 once `spire-server healthcheck` passes, 1 when the server exits (or 120 s pass:
# SPIRE itself waits about 75 s for the request).
spire_wait() {
  for _ in $(seq 1 240); do
    spire_children
    "$SPIRE_BIN/spire-server" healthcheck -socketPath "$SPIRE_SOCK" >/dev/null 2>&1 && return 0
    e2e_alive "$SPIRE_PID" || return 1
    sleep 0.5
  done
  return 1
}
spire_stop() {
  e2e_kill "$SPIRE_PID"
  [ ${#SPIRE_KIDS[@]} -gt 0 ] && e2e_kill "${SPIRE_KIDS[@]}"
  SPIRE_KIDS=()
  return 0
}
# spire_cr: the (first) CertificateRequest the last spire-server created; waits for it and for
# its final version (terminal: SPIRE deletes it, or it is Ready/Denied/Failed).
spire_cr() {
  _new() { [ "$(crw_count)" -gt "$SPIRE_BEFORE" ]; }
  e2e_wait 20 _new || return 0
  local n
  n=$(crw names | sed -n "$((SPIRE_BEFORE + 1))p")
  _done() { crw events "$n" | grep -q DELETED; }
  e2e_wait 10 _done
  echo "$n"
}
fatal() { grep -m1 -oE 'msg="Fatal run error" error="[^"]*"' "$SPIRE_LOG" | sed 's/^msg="Fatal run error" error=//'; }

# ---- 1. SPIRE as shipped: its CA request ----
spire_start shipped $TD spire-upstream
spire_wait && healthy=yes || healthy=no
cr=$(spire_cr)
check "SPIRE as shipped: spire-server created its CA request in $NS ($cr: isCA, usages cert sign and crl sign, duration 24h0m0s = ca_ttl, label trust-domain $TD, issuerRef ClusterIssuer.ember.issuer.dev/spire-upstream)" \
  crw test "$cr" "cr['metadata']['name'].startswith('spiffe-ca-') and cr['spec'].get('isCA') is True and sorted(cr['spec'].get('usages', [])) == ['cert sign', 'crl sign'] and cr['spec'].get('duration') == '24h0m0s' and cr['metadata'].get('labels', {}).get('cert-manager.spiffe.io/trust-domain') == '$TD' and cr['spec']['issuerRef'] == {'group': 'ember.issuer.dev', 'kind': 'ClusterIssuer', 'name': 'spire-upstream'}"
check "... spec.username is SPIRE's service account (written by cert-manager's webhook)" \
  crw test "$cr" "cr['spec'].get('username') == 'system:serviceaccount:$NS:spire-server'"
crw pem "$cr" spec.request "$D/spire.csr" 2>/dev/null
subj=$(openssl req -in "$D/spire.csr" -noout -subject 2>/dev/null)
echo "# SPIRE's CSR: $subj, $(openssl req -in "$D/spire.csr" -noout -text 2>/dev/null | grep -o 'URI:[^ ,]*')"
check "... it carries C=US, O=SPIFFE, a decimal serialNumber and URI spiffe://$TD ($subj)" bash -c \
  'grep -qxE "subject=C = US, O = SPIFFE, serialNumber = [0-9]+" <<<"$1" && openssl req -in "$2" -noout -text | grep -qE "^ *URI:spiffe://$3\$"' _ "$subj" "$D/spire.csr" $TD
denied=""
[ "$(crw cond "$cr" Denied status)" = True ] &&
  denied="; Denied by Ember (reason $(crw cond "$cr" Denied reason)): $(crw cond "$cr" Denied message)"
check "SPIRE as shipped: Ember approves its CA request (reason ember.issuer.dev), the message names the policy spire-upstream-ca$denied" bash -c \
  '[ "$1" = ember.issuer.dev ] && [[ "$2" == *spire-upstream-ca* ]]' _ "$(crw cond "$cr" Approved reason)" "$(crw cond "$cr" Approved message)"
check "... Ready=True, reason Issued" test "$(crw cond "$cr" Ready reason)" = Issued
stopped=""
[ "$healthy" = yes ] || stopped="; spire-server stopped: $(fatal)"
check "SPIRE as shipped: spire-server gets its X.509 CA through Ember (healthcheck passes)$stopped" test "$healthy" = yes
[ "$healthy" = yes ] || tail -15 "$SPIRE_LOG" | sed 's/^/# /'
check "SPIRE deleted its request once issued (the watch saw ADDED ... DELETED)" bash -c '[[ "$1" == ADDED*DELETED ]]' _ "$(crw events "$cr")"

# ---- 2. What SPIRE got: its CA, its bundle, an X509-SVID ----
crw pem "$cr" status.certificate "$D/spire-ca-chain.pem" 2>/dev/null
crw pem "$cr" status.ca "$D/spire-ca-root.pem" 2>/dev/null
openssl x509 -in "$D/spire-ca-chain.pem" -out "$D/spire-ca.pem" 2>/dev/null
check "status.ca is make-ca.sh's root" cmp -s "$D/spire-ca-root.pem" "$D/ca/root.crt"
check "status.certificate is SPIRE's CA and then Ember's CA (2 certificates; the second is the Secret's tls.crt)" bash -c \
  '[ "$(grep -c "BEGIN CERTIFICATE" "$1")" = 2 ] && [ "$(openssl x509 -in "$1" -noout -issuer)" = "issuer=CN = Ember SPIRE Upstream CA" ] &&
   [ "$(awk "/BEGIN/{n++} n==2" "$1" | openssl x509 -noout -fingerprint -sha256)" = "$(openssl x509 -in "$2" -noout -fingerprint -sha256)" ]' \
  _ "$D/spire-ca-chain.pem" "$D/upstream.crt"
ca_subj=$(openssl x509 -in "$D/spire-ca.pem" -noout -subject 2>/dev/null)
check "SPIRE's CA keeps the requested subject, serialNumber included ($ca_subj)" bash -c \
  '[ -n "$1" ] && [ "$1" = "$2" ] && [[ "$1" == *"serialNumber = "* ]]' _ "$ca_subj" "$subj"
openssl x509 -in "$D/spire-ca.pem" -noout -text >"$D/spire-ca.txt" 2>/dev/null
check "... CA:TRUE, keyUsage Certificate Sign and CRL Sign, URI spiffe://$TD, SPIRE's key" bash -c \
  'grep -A1 "Basic Constraints: critical" "$1" | grep -q "CA:TRUE" && grep -A1 "Key Usage: critical" "$1" | grep -q "Certificate Sign, CRL Sign" &&
   grep -qE "^ *URI:spiffe://$2\$" "$1" && [ "$(openssl x509 -in "$3" -noout -pubkey)" = "$(openssl req -in "$4" -noout -pubkey)" ]' \
  _ "$D/spire-ca.txt" $TD "$D/spire-ca.pem" "$D/spire.csr"
created=$(crw get "$cr" "cr['metadata']['creationTimestamp']")
check "... valid for ca_ttl: notAfter is 24h after the request was created (within 2 min)" python3 - "$D/spire-ca.pem" "$created" <<'PY'
import datetime, subprocess, sys
na = subprocess.run(["openssl", "x509", "-in", sys.argv[1], "-noout", "-enddate"], capture_output=True, text=True).stdout
na = datetime.datetime.strptime(na.strip().split("=", 1)[1].replace("  ", " "), "%b %d %H:%M:%S %Y %Z")
cr = datetime.datetime.strptime(sys.argv[2], "%Y-%m-%dT%H:%M:%SZ")
sys.exit(0 if abs((na - cr).total_seconds() - 86400) <= 120 else 1)
PY
check "... and SPIRE's chain verifies to make-ca.sh's root (openssl verify)" \
  quiet openssl verify -x509_strict -CAfile "$D/ca/root.crt" -untrusted "$D/spire-ca-chain.pem" "$D/spire-ca.pem"
SPIRE_USER=system:serviceaccount:$NS:spire-server
verbs=$(python3 - "$AUDIT_LOG" "$SPIRE_USER" <<'PY'
import json, sys
seen = set()
for line in open(sys.argv[1]):
    try:
        e = json.loads(line)
    except ValueError:
        continue
    o = e.get("objectRef", {})
    if e.get("stage") == "ResponseComplete" and e.get("user", {}).get("username") == sys.argv[2] and o.get("resource"):
        seen.add("%s %s/%s %s" % (e["verb"], o.get("namespace", ""), o["resource"], e.get("responseStatus", {}).get("code")))
print(", ".join(sorted(seen)))
PY
)
echo "# SPIRE's API requests (verb namespace/resource code): $verbs"
check "SPIRE's service account used only create, get, list and delete of certificaterequests in $NS, none refused" \
  bash -c '[ -n "$1" ] && ! tr "," "\n" <<<"$1" | grep -vqE "^ ?(create|get|list|delete) $2/certificaterequests (200|201)$"' _ "$verbs" $NS

"$SPIRE_BIN/spire-server" bundle show -socketPath "$SPIRE_SOCK" >"$D/bundle.pem" 2>"$D/bundle.err"
check "spire-server bundle show: one X.509 authority, make-ca.sh's root" bash -c \
  '[ "$(grep -c "BEGIN CERTIFICATE" "$1")" = 1 ] && [ "$(openssl x509 -in "$1" -noout -fingerprint -sha256)" = "$(openssl x509 -in "$2" -noout -fingerprint -sha256)" ]' \
  _ "$D/bundle.pem" "$D/ca/root.crt"
mkdir -p "$D/svid"
check "spire-server x509 mint -spiffeID spiffe://$TD/workload -write DIR" \
  quiet "$SPIRE_BIN/spire-server" x509 mint -socketPath "$SPIRE_SOCK" -spiffeID "spiffe://$TD/workload" -write "$D/svid"
svid="$D/svid/svid.pem"
awk -v d="$D/svid" '/BEGIN CERTIFICATE/{n++} n{print > (d "/cert-" n ".pem")}' "$svid" 2>/dev/null
check "... the X509-SVID chain is leaf, SPIRE's CA (the certificate Ember issued), Ember's CA" bash -c \
  'fp() { openssl x509 -in "$1" -noout -fingerprint -sha256 2>/dev/null; }
   [ "$(grep -c "BEGIN CERTIFICATE" "$1/svid.pem")" = 3 ] && [ "$(fp "$1/cert-2.pem")" = "$(fp "$2")" ] && [ "$(fp "$1/cert-3.pem")" = "$(fp "$3")" ]' \
  _ "$D/svid" "$D/spire-ca.pem" "$D/upstream.crt"
check "... it verifies to make-ca.sh's root with openssl (leaf, intermediates from svid.pem)" \
  quiet openssl verify -CAfile "$D/ca/root.crt" -untrusted "$svid" "$D/svid/cert-1.pem"
check "... and to the bundle x509 mint wrote (bundle.pem = the root)" \
  quiet openssl verify -CAfile "$D/svid/bundle.pem" -untrusted "$svid" "$D/svid/cert-1.pem"
openssl x509 -in "$D/svid/cert-1.pem" -noout -text >"$D/svid/leaf.txt" 2>/dev/null
check "... the SPIFFE ID spiffe://$TD/workload is its URI SAN; CA:FALSE" bash -c \
  'grep -qE "^ *URI:spiffe://$2/workload\$" "$1" && grep -A1 "Basic Constraints" "$1" | grep -q "CA:FALSE"' _ "$D/svid/leaf.txt" $TD
check "... key.pem is the leaf's key" \
  test "$(openssl x509 -in "$D/svid/cert-1.pem" -noout -pubkey | sha256sum)" = "$(openssl pkey -in "$D/svid/key.pem" -pubout | sha256sum)"
spire_stop

# ---- 3. The policy gates SPIRE (as shipped; each policy but spire-no-serial admits serialNumber) ----
# gate NAME TRUST_DOMAIN ISSUER: runs spire-server until it stops; sets cr, and gate_serial to the
# serialNumber of its request's subject.
gate() {
  spire_start "$1" "$2" "$3"
  if spire_wait; then gate_healthy=yes; else gate_healthy=no; fi
  cr=$(spire_cr)
  spire_stop
  crw pem "$cr" spec.request "$D/gate-$1.csr" 2>/dev/null
  gate_serial=$(openssl req -in "$D/gate-$1.csr" -noout -subject -nameopt multiline 2>/dev/null | sed -n 's/^ *serialNumber *= *//p')
}
gate no-ca $TD spire-no-ca
msg=$(crw cond "$cr" Denied message)
echo "# isCA not admitted: $msg"
check "a policy without isCA: SPIRE's request ($cr, serialNumber $gate_serial) is Denied by Ember (reason ember.issuer.dev), the message says isCA and not serialNumber" bash -c \
  '[ "$1" = True ] && [ "$2" = ember.issuer.dev ] && [[ "$3" == *isCA* ]] && [[ "$3" != *serialNumber* ]] && [[ "$4" =~ ^[0-9]+$ ]]' \
  _ "$(crw cond "$cr" Denied status)" "$(crw cond "$cr" Denied reason)" "$msg" "$gate_serial"
check "... spire-server does not start (request has been denied)" bash -c \
  '[ "$1" = no ] && grep -q "request has been denied" "$2"' _ $gate_healthy "$SPIRE_LOG"

gate other-td other.example spire-upstream
msg=$(crw cond "$cr" Denied message)
echo "# another trust domain: $msg"
check "trust domain other.example: SPIRE's request ($cr, URI spiffe://other.example, serialNumber $gate_serial) is Denied by Ember, the message names the URI and not serialNumber" bash -c \
  '[ "$1" = True ] && [ "$2" = ember.issuer.dev ] && [[ "$3" == *spiffe://other.example* ]] && [[ "$3" != *serialNumber* ]] && [[ "$4" =~ ^[0-9]+$ ]]' \
  _ "$(crw cond "$cr" Denied status)" "$(crw cond "$cr" Denied reason)" "$msg" "$gate_serial"
check "... spire-server does not start" test $gate_healthy = no

gate no-serial $TD spire-no-serial
msg=$(crw cond "$cr" Denied message)
echo "# a policy without the serialNumber rule: $msg"
check "a policy like spire-upstream-ca without the serialNumber rule: SPIRE's request ($cr) is Denied by Ember (reason ember.issuer.dev) with subject.serialNumber: forbidden, its only reason, quoting the request's serialNumber" bash -c \
  '[ "$1" = True ] && [ "$2" = ember.issuer.dev ] && [[ "$4" =~ ^[0-9]+$ ]] && [ "$3" = "policy \"spire-no-serial\": subject.serialNumber: forbidden, got \"$4\"" ]' \
  _ "$(crw cond "$cr" Denied status)" "$(crw cond "$cr" Denied reason)" "$msg" "$gate_serial"
check "... spire-server does not start (request has been denied)" bash -c \
  '[ "$1" = no ] && grep -q "request has been denied" "$2"' _ $gate_healthy "$SPIRE_LOG"

gate pathlen0 $TD spire-leaf-only
msg=$(crw cond "$cr" Ready message)
echo "# make-ca.sh's intermediate (pathlen:0): $msg"
check "make-ca.sh's own intermediate (pathlen:0): SPIRE's request ($cr, serialNumber $gate_serial) is Approved but Failed with Ember's pathlen message" bash -c \
  '[ "$1" = ember.issuer.dev ] && [ "$2" = Failed ] && [[ "$3" == *"cannot issue CA certificates"*pathlen:0* ]] && [[ "$4" =~ ^[0-9]+$ ]]' \
  _ "$(crw cond "$cr" Approved reason)" "$(crw cond "$cr" Ready reason)" "$msg" "$gate_serial"
check "... spire-server does not start (request has failed)" bash -c \
  '[ "$1" = no ] && grep -q "request has failed" "$2"' _ $gate_healthy "$SPIRE_LOG"
e2e_kill "$(e2e_pid spire-crwatch)"
