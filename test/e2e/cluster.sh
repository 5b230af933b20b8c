# cluster.sh -- a real etcd and kube-apiserver on loopback, as their own processes (named etcd and
# kube-apiserver, as in a cluster), for the end-to-end tests. Source lib.sh first, then this.
#
#   e2e_cluster_up DIR        PKI, etcd and kube-apiserver under DIR; sets APISERVER_URL, ETCD_URL,
#                             ADMIN_KUBECONFIG, KUBE_BIN and defines kc (kubectl as the admin)
#   e2e_apiserver_stop        stops kube-apiserver (SIGTERM, by PID), keeps etcd
#   e2e_apiserver_start [ARG...]   starts it again, same port and PKI, ARGs appended (e.g.
#                             --watch-cache=false); waits for /readyz
#   e2e_sa_kubeconfig NS SA OUT [AUDIENCE]   a kubeconfig for service account NS/SA with a token
#                             from the TokenRequest API (created with the SA when missing)
#   e2e_stop_all              stops every process the harness started, by PID (also on EXIT)
#
# The API server runs with RBAC, a token file for the harness's admin, service-account signing
# keys (TokenRequest and TokenReview work for real), the default admission plugins and an audit
# log ($AUDIT_LOG, JSON lines; a watch also logs ResponseStarted) that the cases count writes with.

# Every process the harness starts is recorded in $E2E_DIR/pids ("PID COMM" lines) and in
# $E2E_DIR/NAME.pid, so that case scripts (separate bash processes) can stop and restart what
# run.sh started, and e2e_stop_all stops exactly those, by PID.

# e2e_spawn NAME LOG CMD...: starts CMD in the background (its output appended to LOG); sets
# LAST_PID.
e2e_spawn() {
  local name=$1 log=$2; shift 2
  setsid "$@" >>"$log" 2>&1 &
  LAST_PID=$!
  local comm
  comm=$(basename "$1" | cut -c1-15)
  echo "$LAST_PID $comm" >>"$E2E_DIR/pids"
  echo "$LAST_PID" >"$E2E_DIR/$name.pid"
}
# e2e_alive PID: the process is there and is one the harness started (not a reused PID).
e2e_alive() {
  local want
  want=$(awk -v p="$1" '$1 == p {print $2}' "$E2E_DIR/pids" 2>/dev/null | tail -1)
  [ -n "$want" ] && [ "$(ps -o comm= -p "$1" 2>/dev/null)" = "$want" ] &&
    case "$(ps -o stat= -p "$1" 2>/dev/null)" in Z*) false ;; *) true ;; esac
}
# e2e_kill PID...: SIGTERM, then SIGKILL after 10 s, for each PID the harness started.
e2e_kill() {
  local p
  for p in "$@"; do e2e_alive "$p" && kill -TERM "$p" 2>/dev/null; done
  for p in "$@"; do
    for _ in $(seq 1 100); do e2e_alive "$p" || break; sleep 0.1; done
    e2e_alive "$p" && kill -KILL "$p" 2>/dev/null
    wait "$p" 2>/dev/null
  done
  return 0
}
# e2e_pid NAME: the PID of the process last started as NAME.
e2e_pid() { cat "$E2E_DIR/$1.pid" 2>/dev/null; }
# e2e_stop_all: every process the harness started, newest first (clients before the API server
# and etcd).
e2e_stop_all() {
  [ -f "$E2E_DIR/pids" ] || return 0
  local p
  for p in $(awk '{print $1}' "$E2E_DIR/pids" | tac); do e2e_kill "$p"; done
  return 0
}

. "$E2E_ROOT/test/shlib.sh"
e2e_free_port() { free_port; }

# e2e_wait SECONDS CMD...: retries CMD every 0.25 s until it succeeds or SECONDS pass.
e2e_wait() {
  local s=$1; shift
  for _ in $(seq 1 $((s * 4))); do "$@" && return 0; sleep 0.25; done
  "$@"
}

# e2e_pki DIR: the cluster CA, the API server's serving certificate (127.0.0.1, localhost,
# kubernetes.default.svc), the service-account signing key pair.
e2e_pki() {
  local d=$1
  mkdir -p "$d"
  openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj "/CN=e2e-cluster-ca" -keyout "$d/ca.key" -out "$d/ca.crt" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign" 2>/dev/null
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=kube-apiserver" \
    -keyout "$d/apiserver.key" -out "$d/apiserver.csr" 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default.svc\nextendedKeyUsage=serverAuth\n' >"$d/apiserver.ext"
  openssl x509 -req -in "$d/apiserver.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial \
    -days 2 -extfile "$d/apiserver.ext" -out "$d/apiserver.crt" 2>/dev/null
  openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$d/sa.key" 2>/dev/null
  openssl pkey -in "$d/sa.key" -pubout -out "$d/sa.pub" 2>/dev/null
  chmod 600 "$d"/*.key
}

# e2e_kubeconfig OUT TOKEN: a kubeconfig for the API server with a bearer token.
e2e_kubeconfig() {
  cat >"$1" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: e2e
  cluster:
    server: $APISERVER_URL
    certificate-authority: $E2E_PKI/ca.crt
users:
- name: u
  user:
    token: $2
contexts:
- name: e2e
  context: {cluster: e2e, user: u}
current-context: e2e
EOF
  chmod 600 "$1"
}

e2e_cluster_up() {
  E2E_DIR=$1
  mkdir -p "$E2E_DIR"
  KUBE_BIN=$(e2e_build kube) || return 1
  E2E_PKI="$E2E_DIR/pki"
  e2e_pki "$E2E_PKI"
  local ep pp
  ep=$(e2e_free_port); pp=$(e2e_free_port)
  ETCD_URL="http://127.0.0.1:$ep"
  e2e_spawn etcd "$E2E_DIR/etcd.log" "$KUBE_BIN/etcd" --name e2e --data-dir "$E2E_DIR/etcd" \
    --listen-client-urls "$ETCD_URL" --advertise-client-urls "$ETCD_URL" \
    --listen-peer-urls "http://127.0.0.1:$pp" --initial-advertise-peer-urls "http://127.0.0.1:$pp" \
    --initial-cluster "e2e=http://127.0.0.1:$pp" --listen-metrics-urls "" \
    --quota-backend-bytes 2147483648 --log-level warn
  if ! e2e_wait 30 curl -fs "$ETCD_URL/health" -o /dev/null; then
    echo "e2e: etcd did not become healthy; its log:" >&2; tail -20 "$E2E_DIR/etcd.log" >&2; return 1
  fi
  ADMIN_TOKEN=$(openssl rand -hex 24)
  printf '%s,e2e-admin,e2e-admin,system:masters\n' "$ADMIN_TOKEN" >"$E2E_PKI/tokens.csv"
  chmod 600 "$E2E_PKI/tokens.csv"
  # Every request at Metadata level (who, verb, object, code), written once it is answered.
  cat >"$E2E_DIR/audit-policy.yaml" <<'EOF'
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
- level: Metadata
EOF
  AUDIT_LOG="$E2E_DIR/audit.log"
  APISERVER_PORT=$(e2e_free_port)
  APISERVER_URL="https://127.0.0.1:$APISERVER_PORT"
  ADMIN_KUBECONFIG="$E2E_DIR/admin.kubeconfig"
  e2e_kubeconfig "$ADMIN_KUBECONFIG" "$ADMIN_TOKEN"
  # What case scripts (separate processes) need to find this cluster: . "$E2E_DIR/env"
  declare -p E2E_DIR KUBE_BIN E2E_PKI ETCD_URL ADMIN_TOKEN AUDIT_LOG APISERVER_PORT APISERVER_URL \
    ADMIN_KUBECONFIG | sed 's/^declare -- /declare -g /' >"$E2E_DIR/env"
  # shellcheck disable=SC2119 # no extra flags at the first start
  e2e_apiserver_start
}

# shellcheck disable=SC2120 # extra kube-apiserver flags are optional (a restart with other flags)
e2e_apiserver_start() {
  e2e_spawn kube-apiserver "$E2E_DIR/kube-apiserver.log" "$KUBE_BIN/kube-apiserver" \
    --etcd-servers "$ETCD_URL" --bind-address 127.0.0.1 --advertise-address 127.0.0.1 \
    --secure-port "$APISERVER_PORT" --tls-cert-file "$E2E_PKI/apiserver.crt" \
    --tls-private-key-file "$E2E_PKI/apiserver.key" --client-ca-file "$E2E_PKI/ca.crt" \
    --token-auth-file "$E2E_PKI/tokens.csv" --authorization-mode RBAC \
    --service-account-issuer https://kubernetes.default.svc.cluster.local \
    --service-account-key-file "$E2E_PKI/sa.pub" --service-account-signing-key-file "$E2E_PKI/sa.key" \
    --api-audiences https://kubernetes.default.svc.cluster.local \
    --service-cluster-ip-range 10.96.0.0/16 \
    --enable-admission-plugins NamespaceLifecycle,LimitRanger,ServiceAccount,DefaultStorageClass,DefaultTolerationSeconds,MutatingAdmissionWebhook,ValidatingAdmissionWebhook,ValidatingAdmissionPolicy,ResourceQuota,NodeRestriction \
    --audit-policy-file "$E2E_DIR/audit-policy.yaml" --audit-log-path "$AUDIT_LOG" \
    --audit-log-format json --audit-log-maxsize 0 \
    --profiling=false --v 1 "$@"
  if ! e2e_wait 90 e2e_apiserver_ready; then
    echo "e2e: kube-apiserver did not become ready; its log:" >&2
    tail -30 "$E2E_DIR/kube-apiserver.log" >&2
    return 1
  fi
}

e2e_apiserver_ready() {
  e2e_alive "$(e2e_pid kube-apiserver)" || return 1
  [ "$(curl -s -o /dev/null -w '%{http_code}' --cacert "$E2E_PKI/ca.crt" \
    -H "Authorization: Bearer $ADMIN_TOKEN" "$APISERVER_URL/readyz")" = 200 ]
}

e2e_apiserver_stop() {
  e2e_kill "$(e2e_pid kube-apiserver)"
}

# kc ARGS...: kubectl as the cluster admin.
kc() { "$KUBE_BIN/kubectl" --kubeconfig "$ADMIN_KUBECONFIG" "$@"; }

# e2e_sa_kubeconfig NS SA OUT [AUDIENCE [DURATION]]
e2e_sa_kubeconfig() {
  local ns=$1 sa=$2 out=$3 aud=${4:-} dur=${5:-2h} tok
  kc get namespace "$ns" >/dev/null 2>&1 || kc create namespace "$ns" >/dev/null || return 1
  kc -n "$ns" get serviceaccount "$sa" >/dev/null 2>&1 || kc -n "$ns" create serviceaccount "$sa" >/dev/null || return 1
  tok=$(kc -n "$ns" create token "$sa" --duration "$dur" ${aud:+--audience "$aud"}) || return 1
  e2e_kubeconfig "$out" "$tok"
}

# audit_count FILTER [STAGE]: the number of answered requests (audit events of stage
# ResponseComplete, or STAGE: ResponseStarted for watches that are still open, in $AUDIT_LOG) for
# which the Python expression FILTER is true; it sees e (the event), o (its objectRef), u (the
# user name), verb and code.
audit_count() { audit_tally "" "$1" "${2:-ResponseComplete}"; }
# audit_count_by KEY FILTER: the same in one pass, grouped: "VALUE COUNT" lines, VALUE the Python
# expression KEY (e.g. o.get('name')) of each matching answered request.
audit_count_by() { audit_tally "$1" "$2" ResponseComplete; }
audit_tally() {
  python3 - "$AUDIT_LOG" "$1" "$2" "$3" <<'PY'
import collections, json, sys
key, f, stage = sys.argv[2], sys.argv[3], sys.argv[4]
n = collections.Counter()
for line in open(sys.argv[1]):
    try:
        e = json.loads(line)
    except ValueError:
        continue
    if e.get("stage") != stage:
        continue
    env = {"e": e, "o": e.get("objectRef", {}), "u": e.get("user", {}).get("username", ""),
           "code": e.get("responseStatus", {}).get("code", 0), "verb": e.get("verb")}
    if eval(f, env):
        n[eval(key, env) if key else ""] += 1
if key:
    for k, v in sorted(n.items()):
        print(k, v)
else:
    print(n[""])
PY
}
