# k8s.sh -- helpers for tests against the strict fake API server (fake_apiserver.py). Source it
# after lib.sh and after make_ca "$WORK/ca" (the server's TLS identity is signed by that root).
# k8s_start CONF [fake args...] starts the server; the helpers below talk to it as cert-manager
# (token tok-certmanager), as a cluster admin (the fake's admin header) or read what it holds.
# shellcheck disable=SC2034 # sets CM, WEB_POLICY, CODE... for the scripts that source it
FAKE_APISERVER=test/integration/fake_apiserver.py
ADMIN=admin-$RANDOM
IV=ember.issuer.dev/v1alpha1
CM=cert-manager.io/v1
# The usual policy of the tests: DNS names under example.com, at most 720h.
WEB_POLICY='{"validity":{"max":"720h"},"subject":{"commonName":{"rule":"Optional"}},"sans":{"dnsNames":{"rule":"Required","allowed":["([a-z0-9-]+\\.)*example\\.com"]}},"usages":["digital signature","key encipherment","server auth"]}'

# k8s_start CONF [ARGS...]: the fake on a free port with its own certificate for 127.0.0.1;
# sets URL; writes $WORK/kubeconfig for token tok-ember (ARGS may override --kubeconfig-*).
k8s_start() {
  local conf=$1; shift
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=kube-apiserver" \
    -keyout "$WORK/srv.key" -out "$WORK/srv.csr" 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >"$WORK/srv.ext"
  openssl x509 -req -in "$WORK/srv.csr" -CA "$WORK/ca/root.crt" -CAkey "$WORK/ca/root.key" \
    -CAcreateserial -days 2 -extfile "$WORK/srv.ext" -out "$WORK/srv.crt" 2>/dev/null
  local port
  port=$(free_port)
  URL="https://127.0.0.1:$port"
  rm -f "$WORK/ready"
  python3 "$FAKE_APISERVER" --config "$conf" --port "$port" --tls-cert "$WORK/srv.crt" \
    --tls-key "$WORK/srv.key" --admin-token "$ADMIN" --ready-file "$WORK/ready" \
    --kubeconfig-out "$WORK/kubeconfig" --kubeconfig-token tok-ember \
    --kubeconfig-ca "$WORK/ca/root.crt" "$@" 2>"$WORK/fake.log" &
  PIDS+=($!)
  local i
  for i in $(seq 1 100); do [ -s "$WORK/ready" ] && return 0; sleep 0.1; done
  echo "the fake API server did not start:"; cat "$WORK/fake.log"
  return 1
}

# kapi METHOD PATH [JSON-FILE [CONTENT-TYPE [TOKEN]]]: an API call (default: as cert-manager);
# sets CODE and BODY (a file).
kapi() {
  BODY="$WORK/k.$RANDOM"
  local args=(-s --cacert "$WORK/ca/root.crt" -o "$BODY" -w '%{http_code}' -X "$1"
    -H "Authorization: Bearer ${5:-tok-certmanager}" -H "Content-Type: ${4:-application/json}")
  [ $# -ge 3 ] && [ -n "$3" ] && args+=(--data-binary "@$3")
  CODE=$(curl "${args[@]}" "$URL$2")
}
# admin NAME [JSON]: a control call of the fake; the answer on stdout.
admin() {
  curl -s --cacert "$WORK/ca/root.crt" -H "X-Fake-Apiserver-Admin: $ADMIN" -X POST \
    --data-binary "${2:-{\}}" "$URL/_fake/$1"
}
# stats: the fake's counters and write log into $WORK/stats.json.
stats() { curl -s --cacert "$WORK/ca/root.crt" -H "X-Fake-Apiserver-Admin: $ADMIN" "$URL/_fake/stats" >"$WORK/stats.json"; }
# seed JSON: an object created directly (no webhook, no auth), as a cluster admin would; prints
# the HTTP code.
seed() {
  curl -s --cacert "$WORK/ca/root.crt" -o /dev/null -w '%{http_code}' -X POST \
    -H "X-Fake-Apiserver-Admin: $ADMIN" --data-binary "$1" "$URL/_fake/objects"
}
# obj APIVERSION KIND NS NAME: the object as the server holds it, into $WORK/obj.json.
obj() {
  curl -s --cacert "$WORK/ca/root.crt" -H "X-Fake-Apiserver-Admin: $ADMIN" -G \
    --data-urlencode "apiVersion=$1" --data-urlencode "kind=$2" --data-urlencode "namespace=$3" \
    --data-urlencode "name=$4" "$URL/_fake/object" >"$WORK/obj.json"
}
# cond APIVERSION KIND NS NAME TYPE FIELD: a condition's field, "" when absent, "<no object>"
# when the object itself does not exist (so "never written" checks cannot pass on it).
cond() {
  obj "$1" "$2" "$3" "$4"
  python3 - "$WORK/obj.json" "$5" "$6" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
if d.get("kind") == "Status":
    print("<no object>")
    sys.exit(0)
for c in (d.get("status") or {}).get("conditions") or []:
    if c.get("type") == sys.argv[2]:
        print(c.get(sys.argv[3], ""))
PY
}
# wait_cond APIVERSION KIND NS NAME TYPE FIELD VALUE: polls cond until it prints VALUE
# ($WAIT_S seconds at most, default 10).
wait_cond() {
  local want=${*: -1} i
  for _ in $(seq 1 $((${WAIT_S:-10} * 10))); do
    [ "$(cond "${@:1:6}")" = "$want" ] && return 0
    sleep 0.1
  done
  return 1
}
pem_json() { python3 -c 'import json,sys; print(json.dumps(open(sys.argv[1]).read()))' "$1"; }
# ca_secret NAME CADIR [NS]: the kubernetes.io/tls Secret of a CA issuer (from make_ca).
ca_secret() {
  seed "{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"type\":\"kubernetes.io/tls\",\"metadata\":{\"name\":\"$1\",\"namespace\":\"${3:-ember}\"},\"stringData\":{\"tls.crt\":$(pem_json "$2/tls.crt"),\"tls.key\":$(pem_json "$2/subca.key"),\"ca.crt\":$(pem_json "$2/root.crt")}}" >/dev/null
}
# cluster_issuer NAME SECRET: a CA ClusterIssuer; prints the HTTP code.
cluster_issuer() {
  seed "{\"apiVersion\":\"$IV\",\"kind\":\"ClusterIssuer\",\"metadata\":{\"name\":\"$1\"},\"spec\":{\"ca\":{\"secretName\":\"$2\"}}}"
}
# policy NAME SPEC-JSON: an IssuancePolicy.
policy() {
  seed "{\"apiVersion\":\"$IV\",\"kind\":\"IssuancePolicy\",\"metadata\":{\"name\":\"$1\"},\"spec\":$2}" >/dev/null
}
# kcr NAME NS ISSUER_KIND ISSUER POLICY DNS: a CertificateRequest for DNS as cert-manager
# creates it (EC P-256 CSR from openssl, server-auth usages, 2160h); sets CODE and BODY.
kcr() {
  make_csr "$WORK/$1" -subj "/CN=$6" -addext "subjectAltName=DNS:$6"
  cr_json "$1" "$2" "$WORK/$1.csr" "$3" "$4" "$5" 2160h '["digital signature","key encipherment","server auth"]' >"$WORK/$1.json"
  kapi POST "/apis/cert-manager.io/v1/namespaces/$2/certificaterequests" "$WORK/$1.json"
}
