#!/usr/bin/env bash
# e2e_bench.sh -- section 8 of `make bench`: Ember's controller through a REAL kube-apiserver,
# beside cert-manager's own CA issuer, on the same API server and the same CA.
#
#   bash test/bench/e2e_bench.sh WORKDIR RESULTS     (run.sh runs it from the repository root)
#
# Reuses test/e2e (lib.sh, cluster.sh, ember.sh, certmanager/cm.sh) with E2E_DIR=WORKDIR/e2e:
# etcd + kube-apiserver (RBAC, Priority and Fairness on, audit log), cert-manager's chart with
# its controller and webhook as its own service accounts, Ember's chart (replicaCount=1) with
# ember-issuer ($BIN) as its service account. One EC P-256 intermediate (make-ca.sh) is the CA
# of an Ember Issuer (namespace bench-ember) and of two cert-manager CA Issuers (bench-cm,
# bench-cm-default), from the same Secret content. A requester service account (bench/requester,
# TokenRequest token) creates E2E_BENCH_REQUESTS CertificateRequests per run with crbench.py and
# watches them to Ready. Runs, one controller at a time (the other is stopped; cert-manager's
# webhook admits every create and status write in all three):
#   ember     Ember
#   cm        cert-manager, --kube-api-qps=10000 --kube-api-burst=10000
#   cmdef     cert-manager with its defaults (--kube-api-qps=20 --kube-api-burst=50)
# Each run's API writes are counted in the audit log by the controller's user, in the run's time
# window. Appends NAME=VALUE lines to RESULTS (e2e_<run>_<field>). Every process is recorded by
# cluster.sh's e2e_spawn and stopped by PID on exit (e2e_stop_all).
#
# Environment: BIN (ember-issuer, default build/ember-issuer), E2E_BENCH_REQUESTS (2000),
# E2E_BENCH_CONNS (4 connections creating), E2E_BENCH_MAX_SECONDS (600, per run), E2E_CACHE,
# E2E_BENCH_EMBER_ARGS (more ember-issuer flags after the chart's, e.g. --workers=8; default none),
# E2E_BENCH_CM=0 (Ember's run only, for experiments on Ember).
# Exit status: 0 when it ran or was skipped (no Go 1.26), 1 when the cluster could not be set up.
set -u
cd "$(dirname "$0")/../.." || exit 1
WORK=${1:?usage: e2e_bench.sh WORKDIR RESULTS}
RES=${2:?usage: e2e_bench.sh WORKDIR RESULTS}
N=${E2E_BENCH_REQUESTS:-2000}
CONNS=${E2E_BENCH_CONNS:-4}
MAXS=${E2E_BENCH_MAX_SECONDS:-600}
BIN=${BIN:-build/ember-issuer}
case "$BIN" in /*) ;; *) BIN="$PWD/$BIN" ;; esac
EMBER_BIN=$BIN
export EMBER_BIN
mkdir -p "$WORK"
put() { echo "e2e_$1=$2" >>"$RES"; }
say() { echo "  $*"; }
fail() { echo "  section 8: $*" >&2; put failed "\"$*\""; exit 1; }

. test/e2e/lib.sh
if ! e2e_go_env 2>"$WORK/go.err"; then
  say "skipped: $(cat "$WORK/go.err") (test/e2e/README.md says how to get it)"
  put skipped 1
  exit 0
fi
E2E_DIR=$WORK/e2e
export E2E_DIR
mkdir -p "$E2E_DIR"
. test/e2e/cluster.sh
. test/e2e/ember.sh
. test/e2e/certmanager/cm.sh
trap 'e2e_stop_all' EXIT
trap 'exit 130' INT TERM

EMBER_USER=system:serviceaccount:ember-issuer:ember-issuer
CM_USER=system:serviceaccount:cert-manager:cert-manager
CM_WEBHOOK_USER=system:serviceaccount:cert-manager:cert-manager-webhook
CM_FAST=(--kube-api-qps=10000 --kube-api-burst=10000)
HZ=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
hwm_kib() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
now_us() { date -u +%Y-%m-%dT%H:%M:%S.%6NZ; }
# others_ticks: CPU ticks of etcd and cert-manager's webhook together.
others_ticks() { echo $(( $(cpu_ticks "$(e2e_pid etcd)") + $(cpu_ticks "$(e2e_pid cert-manager-webhook)") )); }

# ---- the cluster, cert-manager, Ember --------------------------------------------------------
t0=$(date +%s)
for comp in kube certmanager tools; do
  e2e_build "$comp" >/dev/null || fail "building test/e2e/$comp failed"
done
e2e_cluster_up "$E2E_DIR" >"$WORK/setup.log" 2>&1 || { tail -20 "$WORK/setup.log" >&2; fail "etcd and kube-apiserver did not start"; }
kv=$(kc version -o json 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["serverVersion"]["gitVersion"])' 2>/dev/null)
{ cm_install "$ADMIN_KUBECONFIG" "$E2E_DIR" && cm_start "$E2E_DIR" "${CM_FAST[@]}"; } >>"$WORK/setup.log" 2>&1 ||
  { tail -20 "$WORK/setup.log" >&2; fail "cert-manager did not install or start"; }
ember_install ember-issuer ember-issuer --set replicaCount=1 >>"$WORK/setup.log" 2>&1 ||
  { tail -20 "$WORK/setup.log" >&2; fail "Ember's chart did not apply"; }
say "kube-apiserver $kv (etcd, RBAC, Priority and Fairness, audit log), cert-manager $(cat "$E2E_DIR/cert-manager/version"), Ember's chart (replicaCount=1): up in $(( $(date +%s) - t0 )) s"

# ---- the CA, the issuers, the policy, the requester --------------------------------------------
examples/local-ca/make-ca.sh "$WORK/ca" bench-ember bench-ca >/dev/null || fail "make-ca.sh failed"
NAMESPACES=(bench-ember bench-cm bench-cm-default)
for ns in bench "${NAMESPACES[@]}"; do
  kc create namespace "$ns" >/dev/null || fail "cannot create namespace $ns"
done
for ns in "${NAMESPACES[@]}"; do
  sed "s/^  namespace: bench-ember$/  namespace: $ns/" "$WORK/ca/secret.yaml" | kc apply -f - >/dev/null ||
    fail "cannot apply the CA Secret in $ns"
done
kc apply -f - >"$WORK/objects.log" 2>&1 <<'YAML' || { cat "$WORK/objects.log" >&2; fail "cannot create the issuers"; }
apiVersion: ember.issuer.dev/v1alpha1
kind: Issuer
metadata: {name: bench-ca, namespace: bench-ember}
spec: {ca: {secretName: bench-ca}}
---
apiVersion: ember.issuer.dev/v1alpha1
kind: IssuancePolicy
metadata: {name: bench}
spec:
  selector: {namespaces: [bench-ember], issuers: [Issuer/bench-ca]}
  validity: {max: 2160h}
  subject: {commonName: {rule: Optional, allowed: ['bench\.example\.com']}}
  sans: {dnsNames: {rule: Required, allowed: ['bench\.example\.com']}}
  usages: [digital signature, key encipherment, server auth]
---
apiVersion: cert-manager.io/v1
kind: Issuer
metadata: {name: bench-ca, namespace: bench-cm}
spec: {ca: {secretName: bench-ca}}
---
apiVersion: cert-manager.io/v1
kind: Issuer
metadata: {name: bench-ca, namespace: bench-cm-default}
spec: {ca: {secretName: bench-ca}}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: requester, namespace: bench}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: bench-requester}
rules:
- apiGroups: [cert-manager.io]
  resources: [certificaterequests]
  verbs: [create, get, list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: bench-requester}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: bench-requester}
subjects:
- {kind: ServiceAccount, name: requester, namespace: bench}
YAML
(umask 077; kc -n bench create token requester --duration 2h >"$WORK/requester.token") ||
  fail "no TokenRequest token for bench/requester"

issuer_ready() { # GROUP NS: the Issuer NS/bench-ca of GROUP is Ready=True
  [ "$(kc -n "$2" get "issuers.$1" bench-ca -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" = True ]
}
for ns in bench-cm bench-cm-default; do
  e2e_wait 60 issuer_ready cert-manager.io "$ns" || fail "cert-manager's Issuer $ns/bench-ca is not Ready"
done

# The CSR: EC P-256, bench.example.com; the CertificateRequest as cert-manager writes one.
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$WORK/leaf.key" \
  -subj /CN=bench.example.com -addext subjectAltName=DNS:bench.example.com -out "$WORK/leaf.csr" 2>/dev/null ||
  fail "openssl req failed"
for g in ember.issuer.dev cert-manager.io; do
  python3 - "$WORK/leaf.csr" "$g" >"$WORK/cr-$g.json" <<'PY'
import base64, json, sys
csr, group = sys.argv[1], sys.argv[2]
json.dump({"apiVersion": "cert-manager.io/v1", "kind": "CertificateRequest",
           "metadata": {"name": "x", "namespace": "x",
                        "annotations": {"ember.issuer.dev/policy-name": "bench",
                                        "cert-manager.io/certificate-name": "bench",
                                        "cert-manager.io/certificate-revision": "1",
                                        "cert-manager.io/private-key-secret-name": "bench-tls"}},
           "spec": {"request": base64.b64encode(open(csr, "rb").read()).decode(), "duration": "2160h",
                    "usages": ["digital signature", "key encipherment", "server auth"],
                    "issuerRef": {"group": group, "kind": "Issuer", "name": "bench-ca"}}},
          sys.stdout)
PY
done

# ---- one run ------------------------------------------------------------------------------------
# run NAME NS GROUP USER PID-NAME: the burst, then what it cost, into RESULTS as e2e_NAME_*.
run() {
  local name=$1 ns=$2 group=$3 user=$4 pname=$5
  local pid apid from to line c0 c1 a0 a1 o0 o1 cur
  pid=$(e2e_pid "$pname"); apid=$(e2e_pid kube-apiserver)
  c0=$(cpu_ticks "$pid"); a0=$(cpu_ticks "$apid"); o0=$(others_ticks)
  from=$(now_us)
  # --foreground: the driver stays in this script's process group, which run.sh stops on a signal.
  line=$(timeout --foreground -k 5 $((MAXS + 120)) python3 test/bench/crbench.py burst "$APISERVER_URL" "$E2E_PKI/ca.crt" \
    "$WORK/cr-$group.json" "$N" "$CONNS" --namespace "$ns" --token-file "$WORK/requester.token" \
    --prefix "$name" --max-seconds "$MAXS" 2>"$WORK/$name.err") || echo "    WARNING: not every request became Ready"
  # The controller may still be writing (cert-manager sends its Events from one goroutine, after
  # the status): the window ends once its requests in the audit log stop growing for 3 s (60 s
  # at most).
  local prev=-1 same=0
  for _ in $(seq 1 120); do
    cur=$(grep -cF "\"username\":\"$user\"" "$AUDIT_LOG")
    if [ "$cur" = "$prev" ]; then same=$((same + 1)); [ "$same" -ge 6 ] && break; else same=0; fi
    prev=$cur
    sleep 0.5
  done
  to=$(now_us)
  c1=$(cpu_ticks "$pid"); a1=$(cpu_ticks "$apid"); o1=$(others_ticks)
  echo "    $line"
  [ -n "$line" ] || tail -3 "$WORK/$name.err"
  python3 -c 'import json,sys; [print("e2e_%s_%s=%s" % (sys.argv[1], k, v)) for k, v in json.loads(sys.argv[2]).items() if not isinstance(v, str) or v]' \
    "$name" "$line" >>"$RES" 2>/dev/null
  put "${name}_rss_peak" "$(hwm_kib "$pid")"
  put "${name}_cpu_ms" "$(awk -v t=$((c1 - c0)) -v hz="$HZ" -v n="$N" 'BEGIN { printf "%.2f", t / hz * 1000 / n }')"
  put "${name}_apiserver_cpu_ms" "$(awk -v t=$((a1 - a0)) -v hz="$HZ" -v n="$N" 'BEGIN { printf "%.2f", t / hz * 1000 / n }')"
  put "${name}_etcd_webhook_cpu_ms" "$(awk -v t=$((o1 - o0)) -v hz="$HZ" -v n="$N" 'BEGIN { printf "%.2f", t / hz * 1000 / n }')"
  # The writes of the controller's service account in this window (cluster.sh's audit_count),
  # and their breakdown by verb, resource and answer.
  local w wok
  w=$(audit_count "verb in ('create','update','patch','delete','deletecollection') and u == '$user' and '$from' <= e.get('requestReceivedTimestamp', '') < '$to'")
  wok=$(audit_count "verb in ('create','update','patch','delete','deletecollection') and u == '$user' and 200 <= code < 300 and '$from' <= e.get('requestReceivedTimestamp', '') < '$to'")
  put "${name}_writes" "$w"
  put "${name}_writes_ok" "$wok"
  put "${name}_writes_per_cert" "$(awk -v w="$w" -v n="$N" 'BEGIN { printf "%.2f", w / n }')"
  python3 test/bench/auditsum.py "$AUDIT_LOG" "$user" "$from" "$to" "$N" >"$WORK/$name.audit.json"
  python3 test/bench/auditsum.py "$AUDIT_LOG" "$CM_WEBHOOK_USER" "$from" "$to" "$N" >"$WORK/$name.webhook.json"
  python3 - "$WORK/$name.audit.json" "$WORK/$name.webhook.json" "$N" "$name" "$RES" <<'PY'
import json, sys
a, wh, n, name = json.load(open(sys.argv[1])), json.load(open(sys.argv[2])), int(sys.argv[3]), sys.argv[4]
print("    API writes of the controller's account per request: %.2f (%d, %d answered 2xx; its last request %.1f s after its first)"
      % (a["writes"] / n, a["writes"], a["writes_ok"], a["seconds"]))
for k, v in a["writes_by"].items():
    print("      %-58s %7d  %.2f/request" % (k, v, v / n))
print("    its reads: %d (%s), watches started: %d; its busiest 1 s / 10 s: %d / %d requests"
      % (a["reads"], ", ".join("%s: %d" % kv for kv in a["reads_by"].items()) or "none",
         a["watches"], a["peak_1s"], a["peak_10s"]))
print("    cert-manager's webhook meanwhile: %d writes (%s)" % (wh["writes"], ", ".join("%s: %d" % kv for kv in wh["writes_by"].items()) or "none"))
with open(sys.argv[5], "a") as f:
    f.write("e2e_%s_peak_1s=%d\ne2e_%s_peak_10s=%d\ne2e_%s_reads=%d\n" % (name, a["peak_1s"], name, a["peak_10s"], name, a["reads"]))
    by = {}
    for k, v in a["writes_by"].items():
        verb, res, code = k.split(" ")
        key = "%s %s" % (verb, res) + ("" if code.startswith("2") else " (%s)" % code)
        by[key] = by.get(key, 0) + v
    f.write("e2e_%s_writes_by=%s\n" % (name, "; ".join("%s %.2f" % (k, v / n) for k, v in by.items())))
PY
  say "  $pname: CPU $(awk -v t=$((c1 - c0)) -v hz="$HZ" 'BEGIN { printf "%.1f", t / hz }') s ($(grep "^e2e_${name}_cpu_ms=" "$RES" | tail -1 | cut -d= -f2) ms/request), peak RSS $(hwm_kib "$pid") KiB; kube-apiserver CPU $(awk -v t=$((a1 - a0)) -v hz="$HZ" 'BEGIN { printf "%.1f", t / hz }') s, etcd + cert-manager's webhook $(awk -v t=$((o1 - o0)) -v hz="$HZ" 'BEGIN { printf "%.1f", t / hz }') s"
}
# clear NS: deletes the namespace's CertificateRequests (one deletecollection, as the admin), so
# that every run starts from the same store.
clear_crs() {
  curl -s -m 180 -o /dev/null --cacert "$E2E_PKI/ca.crt" -H "Authorization: Bearer $ADMIN_TOKEN" \
    -X DELETE "$APISERVER_URL/apis/cert-manager.io/v1/namespaces/$1/certificaterequests"
}

# ---- Ember ----------------------------------------------------------------------------------------
cm_stop controller
# shellcheck disable=SC2086 # E2E_BENCH_EMBER_ARGS: more flags, for experiments (e.g. --workers=8)
ember_start ember-bench ember-issuer ember-issuer ${E2E_BENCH_EMBER_ARGS:-} >>"$WORK/setup.log" 2>&1 ||
  { tail -20 "$WORK/setup.log" >&2; fail "ember-issuer did not start"; }
e2e_wait 60 issuer_ready ember.issuer.dev bench-ember || fail "Ember's Issuer bench-ember/bench-ca is not Ready"
EPID=$(e2e_pid ember-bench)
put ember_rss_start "$(awk '/^VmRSS:/ {print $2}' "/proc/$EPID/status")"
echo "  Ember (ember-issuer pid $EPID, the chart's args, no client-side rate limit), $N requests over $CONNS connections:"
run ember bench-ember ember.issuer.dev "$EMBER_USER" ember-bench
curl -s "$(cat "$E2E_DIR/ember-bench.metrics")/metrics" >"$WORK/ember.metrics"
python3 - "$WORK/ember.metrics" "$RES" <<'PY'
import re, sys
api, rec = {}, {}
for line in open(sys.argv[1]):
    m = re.match(r'ember_api_requests_total\{verb="(\w+)",code="(\d+)"\} (\d+)', line)
    if m:
        api["%s %s" % m.group(1, 2)] = int(m.group(3))
    m = re.match(r'ember_reconcile_total\{kind="CertificateRequest",outcome="([\w-]+)"\} (\d+)', line)
    if m:
        rec[m.group(1)] = int(m.group(2))
print("    its own count of API calls: %s" % ", ".join("%s: %d" % kv for kv in sorted(api.items())))
print("    its reconciles of requests: %s" % ", ".join("%s: %d" % kv for kv in sorted(rec.items())))
with open(sys.argv[2], "a") as f:
    f.write("e2e_ember_conflicts=%d\ne2e_ember_write_errors=%d\n" % (rec.get("conflict", 0), rec.get("write-error", 0)))
PY
ELOG=$E2E_DIR/ember-bench.log
put ember_log_errors "$(grep -c '"level":"error"' "$ELOG")"
put ember_log_warnings "$(grep -c '"level":"warn' "$ELOG")"
put ember_log_409 "$(grep -c 'answered 409' "$ELOG")"
say "  its log: $(grep -c . "$ELOG") lines, $(grep -c '"level":"error"' "$ELOG") errors, $(grep -c '"level":"warn' "$ELOG") warnings, $(grep -c 'answered 409' "$ELOG") status writes answered 409 (logged at debug)"
grep -E '"level":"(error|warn)' "$ELOG" | sed -E 's/.*"msg":"([^"]*)".*/\1/' | sort | uniq -c | sort -rn | head -5 | sed 's/^/      /'
ember_stop ember-bench
clear_crs bench-ember

# ---- cert-manager, raised client limits, then its defaults -----------------------------------------
cm_run() { # NAME NS LABEL FLAGS...
  local name=$1 ns=$2 label=$3; shift 3
  local log=$E2E_DIR/cert-manager-controller.log
  : >"$log" # this run's controller only (the previous one is stopped)
  cm_start "$E2E_DIR" "$@" >>"$WORK/setup.log" 2>&1 || { tail -20 "$WORK/setup.log" >&2; fail "cert-manager-controller did not start"; }
  echo "  cert-manager's CA issuer ($label; pid $(e2e_pid cert-manager-controller)), $N requests over $CONNS connections:"
  run "$name" "$ns" cert-manager.io "$CM_USER" cert-manager-controller
  put "${name}_log_throttled" "$(grep -c 'client-side throttling' "$log")"
  put "${name}_log_errors" "$(grep -c '^E' "$log")"
  put "${name}_log_conflicts" "$(grep -ciE 'the object has been modified|conflict' "$log")"
  say "  its log: $(grep -c . "$log") lines, $(grep -c '^E' "$log") errors, $(grep -ciE 'the object has been modified|conflict' "$log") conflicts, 'client-side throttling' $(grep -c 'client-side throttling' "$log") times"
  cm_stop controller
  cp "$log" "$WORK/$name.cert-manager.log"
  clear_crs "$ns"
}
[ "${E2E_BENCH_CM:-1}" = 0 ] && exit 0
cm_run cm bench-cm "--kube-api-qps=10000 --kube-api-burst=10000" "${CM_FAST[@]}"
cm_run cmdef bench-cm-default "its defaults, --kube-api-qps=20 --kube-api-burst=50"

# cert-manager turns its client-side limiter off when the API server answers its probe
# (HEAD /livez/ping) with Priority and Fairness headers (pkg/controller/context.go, isAPFEnabled).
probes=$(audit_count "u == '$CM_USER' and e.get('requestURI', '').startswith('/livez/ping')")
pf=$(curl -sI --cacert "$E2E_PKI/ca.crt" -H "Authorization: Bearer $(cat "$WORK/requester.token")" \
  "$APISERVER_URL/livez/ping" | grep -ci '^X-Kubernetes-PF-FlowSchema-UID')
put cm_apf_probes "$probes"
put cm_apf_header "$pf"
say "Priority and Fairness: the API server answers /livez/ping with X-Kubernetes-PF-FlowSchema-UID: $([ "$pf" -gt 0 ] && echo yes || echo no);"
say "  cert-manager probed it $probes times (once per start): with the header it sets QPS=-1, no client-side limiter"
exit 0
