# cm.sh -- cert-manager installed the way its chart installs it, against the real API server, with
# its real controller and webhook (built from this folder, see build.sh) run on loopback as
# processes named cert-manager-controller and cert-manager-webhook. Source lib.sh and cluster.sh
# first (this uses e2e_build, e2e_spawn, e2e_kill, e2e_pid, e2e_alive, e2e_free_port, e2e_wait
# and $E2E_DIR, where the PIDs are recorded).
#
#   cm_install ADMIN_KUBECONFIG WORKDIR
#       renders cert-manager's own chart (from the module cache, version set to the module's) with
#       the real helm and applies, as the given admin: the CRDs, the two ServiceAccounts and
#       exactly the chart's RBAC (controller and webhook; cainjector and startupapicheck are
#       disabled: they do not run here), then the chart's Validating- and
#       MutatingWebhookConfiguration with clientConfig turned from the in-cluster Service into
#       url https://127.0.0.1:PORT/{validate,mutate} and a caBundle of a CA made here (its serving
#       certificate is for IP 127.0.0.1). Nothing is started. State: WORKDIR/cert-manager/.
#   cm_start WORKDIR [CONTROLLER FLAG...]
#       starts the webhook (unless it runs) and then the controller (stopping one that runs), each
#       with a kubeconfig holding a TokenRequest token of ITS OWN ServiceAccount
#       (cert-manager/cert-manager-webhook, cert-manager/cert-manager), never the admin's. The
#       controller gets the chart's args (--v=2, --cluster-resource-namespace=cert-manager,
#       --leader-election-namespace=kube-system), --leader-elect=false, loopback healthz and
#       metrics, then the FLAGs (they win: e.g. --controllers=..., --kube-api-qps=...).
#       Logs: WORKDIR/cert-manager-{controller,webhook}.log; URLs:
#       WORKDIR/cert-manager-controller.{metrics,health}, WORKDIR/cert-manager-webhook.health.
#   cm_stop [controller|webhook]   stops both (default) or one, by PID
#
# Environment: CM_NAMESPACE (default cert-manager), CM_BIN (a folder with the two binaries;
# default: e2e_build certmanager), HELM (default: the e2e tools build, else
# /var/cache/ember-e2e/bin/helm/helm), CM_CHART (default: the chart in the module cache).

CM_NAMESPACE=${CM_NAMESPACE:-cert-manager}

# cm_kubectl ARGS...: kubectl as the admin cm_install was given.
cm_kubectl() {
  local kubectl=${KUBE_BIN:+$KUBE_BIN/kubectl}
  # shellcheck disable=SC2012 # the first match of a glob over fixed directory names
  [ -n "$kubectl" ] || kubectl=$(ls -d "${E2E_CACHE:-/var/cache/ember-e2e}"/bin/kube*/kubectl 2>/dev/null | head -1)
  "${kubectl:?cm.sh: no kubectl (KUBE_BIN unset)}" --kubeconfig "$(cat "$CM_STATE/admin-kubeconfig")" "$@"
}

cm_helm() {
  if [ -n "${HELM:-}" ]; then "$HELM" "$@"
  elif declare -F e2e_helm >/dev/null; then e2e_helm "$@"
  else "${E2E_CACHE:-/var/cache/ember-e2e}/bin/helm/helm" "$@"
  fi
}

# cm_module_dir: the cert-manager module this folder's go.mod requires, in the module cache.
cm_module_dir() {
  (cd "$E2E_ROOT/test/e2e/certmanager" && e2e_go_env >/dev/null &&
    go list -m -f '{{.Dir}} {{.Version}}' github.com/cert-manager/cert-manager)
}

# cm_pki DIR: a CA and the webhook's serving certificate for 127.0.0.1 (and localhost).
cm_pki() {
  local d=$1
  mkdir -p "$d"
  openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj "/CN=cert-manager-webhook-ca" -keyout "$d/ca.key" -out "$d/ca.crt" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign" 2>/dev/null || return 1
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=cert-manager-webhook" \
    -keyout "$d/tls.key" -out "$d/tls.csr" 2>/dev/null || return 1
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature\n' >"$d/tls.ext"
  openssl x509 -req -in "$d/tls.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial -days 2 \
    -extfile "$d/tls.ext" -out "$d/tls.crt" 2>/dev/null || return 1
  chmod 600 "$d"/*.key
}

cm_install() {
  local admin=$1 work=$2
  CM_STATE="$work/cert-manager"
  mkdir -p "$CM_STATE"
  (cd "$(dirname "$admin")" && echo "$PWD/$(basename "$admin")") >"$CM_STATE/admin-kubeconfig"
  local mod ver chart
  read -r mod ver < <(cm_module_dir) || { echo "cm: the cert-manager module is not in the module cache" >&2; return 1; }
  echo "$ver" >"$CM_STATE/version"
  # The release tool sets the chart's version; the module's copy says v0.0.0 (read-only: copy).
  chart="$CM_STATE/chart"
  rm -rf "$chart"
  cp -r "${CM_CHART:-$mod/deploy/charts/cert-manager}" "$chart" && chmod -R u+w "$chart" || return 1
  sed -i "s/^version: .*/version: $ver/; s/^appVersion: .*/appVersion: $ver/" "$chart/Chart.yaml"
  local common=(cert-manager "$chart" --namespace "$CM_NAMESPACE" --set crds.enabled=true
    --set cainjector.enabled=false --set startupapicheck.enabled=false)
  # What cm_install applies, template by template (the Deployments and Services are replaced by
  # the processes on loopback).
  local t show=()
  for t in crd-acme.cert-manager.io_challenges crd-acme.cert-manager.io_orders \
    crd-cert-manager.io_certificaterequests crd-cert-manager.io_certificates \
    crd-cert-manager.io_clusterissuers crd-cert-manager.io_issuers \
    serviceaccount webhook-serviceaccount rbac webhook-rbac; do
    show+=(--show-only "templates/$t.yaml")
  done
  cm_helm template "${common[@]}" "${show[@]}" >"$CM_STATE/chart-resources.yaml" || return 1
  cm_helm template "${common[@]}" --show-only templates/webhook-validating-webhook.yaml \
    --show-only templates/webhook-mutating-webhook.yaml >"$CM_STATE/chart-webhooks.yaml" || return 1

  cm_kubectl get namespace "$CM_NAMESPACE" >/dev/null 2>&1 ||
    cm_kubectl create namespace "$CM_NAMESPACE" >/dev/null || return 1
  cm_kubectl apply --server-side --field-manager cm-e2e -f "$CM_STATE/chart-resources.yaml" \
    >"$CM_STATE/apply.log" 2>&1 || { cat "$CM_STATE/apply.log" >&2; return 1; }
  cm_kubectl wait --for condition=Established --timeout 60s crd/certificates.cert-manager.io \
    crd/certificaterequests.cert-manager.io crd/issuers.cert-manager.io \
    crd/clusterissuers.cert-manager.io crd/orders.acme.cert-manager.io \
    crd/challenges.acme.cert-manager.io >/dev/null || return 1

  cm_pki "$CM_STATE/pki" || { echo "cm: openssl failed making the webhook's certificate" >&2; return 1; }
  local port
  port=$(e2e_free_port)
  echo "$port" >"$CM_STATE/webhook.port"
  # The chart's webhook configurations, every webhook's clientConfig.service {name, namespace,
  # path} replaced by url https://127.0.0.1:PORT/PATH and the CA's caBundle; nothing else changed.
  cm_kubectl create --dry-run=client -o json -f "$CM_STATE/chart-webhooks.yaml" |
    python3 -c '
import base64, json, sys
port, ca = sys.argv[1], base64.b64encode(open(sys.argv[2], "rb").read()).decode()
# kubectl prints one JSON object per document (or a List): read them all.
text, dec, pos, items = sys.stdin.read(), json.JSONDecoder(), 0, []
while text[pos:].strip():
    pos += len(text[pos:]) - len(text[pos:].lstrip())
    doc, pos = dec.raw_decode(text, pos)
    items += doc["items"] if doc.get("kind") == "List" else [doc]
n = 0
for o in items:
    for w in o.get("webhooks", []):
        svc = w["clientConfig"].pop("service")
        w["clientConfig"] = {"url": "https://127.0.0.1:%s%s" % (port, svc.get("path", "/")), "caBundle": ca}
        n += 1
if n != 2:
    sys.exit("cm: expected 2 webhooks in the chart, found %d" % n)
json.dump({"apiVersion": "v1", "kind": "List", "items": items}, sys.stdout, indent=1)
' "$port" "$CM_STATE/pki/ca.crt" >"$CM_STATE/webhooks.json" || return 1
  cm_kubectl apply --server-side --field-manager cm-e2e -f "$CM_STATE/webhooks.json" \
    >>"$CM_STATE/apply.log" 2>&1 || { cat "$CM_STATE/apply.log" >&2; return 1; }
}

# cm_sa_kubeconfig SA OUT: a kubeconfig for ServiceAccount CM_NAMESPACE/SA (token from the
# TokenRequest API) with the admin kubeconfig's server and CA.
cm_sa_kubeconfig() {
  local sa=$1 out=$2 tok server ca
  tok=$(cm_kubectl -n "$CM_NAMESPACE" create token "$sa" --duration 12h) || return 1
  server=$(cm_kubectl config view --minify -o jsonpath='{.clusters[0].cluster.server}')
  ca=$(cm_kubectl config view --minify --raw --flatten -o jsonpath='{.clusters[0].cluster.certificate-authority-data}')
  (umask 077; cat >"$out") <<EOF
apiVersion: v1
kind: Config
clusters:
- name: e2e
  cluster:
    server: $server
    certificate-authority-data: $ca
users:
- name: $sa
  user:
    token: $tok
contexts:
- name: e2e
  context: {cluster: e2e, user: $sa}
current-context: e2e
EOF
}

cm_bin() {
  if [ -n "${CM_BIN:-}" ]; then echo "$CM_BIN"; else e2e_build certmanager; fi
}

cm_start() {
  local work=$1; shift
  CM_STATE="$work/cert-manager"
  [ -f "$CM_STATE/webhook.port" ] || { echo "cm: cm_install first" >&2; return 1; }
  local bin port hp mp
  bin=$(cm_bin) || return 1
  port=$(cat "$CM_STATE/webhook.port")

  if ! e2e_alive "$(e2e_pid cert-manager-webhook)"; then
    cm_sa_kubeconfig cert-manager-webhook "$CM_STATE/webhook.kubeconfig" || return 1
    hp=$(e2e_free_port)
    echo "http://127.0.0.1:$hp" >"$work/cert-manager-webhook.health"
    e2e_spawn cert-manager-webhook "$work/cert-manager-webhook.log" "$bin/cert-manager-webhook" \
      --v=2 --kubeconfig "$CM_STATE/webhook.kubeconfig" --bind-address 127.0.0.1 \
      --secure-port "$port" --tls-cert-file "$CM_STATE/pki/tls.crt" \
      --tls-private-key-file "$CM_STATE/pki/tls.key" --healthz-port "$hp"
    _cm_webhook_up() {
      e2e_alive "$(e2e_pid cert-manager-webhook)" && curl -fs -o /dev/null "http://127.0.0.1:$hp/healthz" &&
        curl -s -o /dev/null --cacert "$CM_STATE/pki/ca.crt" "https://127.0.0.1:$port/"
    }
    if ! e2e_wait 30 _cm_webhook_up; then
      echo "cm: cert-manager-webhook did not start; its log:" >&2
      tail -20 "$work/cert-manager-webhook.log" >&2
      return 1
    fi
  fi

  e2e_kill "$(e2e_pid cert-manager-controller)"
  cm_sa_kubeconfig cert-manager "$CM_STATE/controller.kubeconfig" || return 1
  hp=$(e2e_free_port); mp=$(e2e_free_port)
  echo "http://127.0.0.1:$hp" >"$work/cert-manager-controller.health"
  echo "http://127.0.0.1:$mp" >"$work/cert-manager-controller.metrics"
  e2e_spawn cert-manager-controller "$work/cert-manager-controller.log" "$bin/cert-manager-controller" \
    --v=2 --cluster-resource-namespace="$CM_NAMESPACE" --leader-election-namespace=kube-system \
    --leader-elect=false --kubeconfig "$CM_STATE/controller.kubeconfig" \
    --internal-healthz-listen-address "127.0.0.1:$hp" --metrics-listen-address "127.0.0.1:$mp" "$@"
  _cm_controller_up() {
    e2e_alive "$(e2e_pid cert-manager-controller)" && curl -fs -o /dev/null "http://127.0.0.1:$hp/livez" &&
      grep -q 'starting controller' "$work/cert-manager-controller.log"
  }
  if ! e2e_wait 30 _cm_controller_up; then
    echo "cm: cert-manager-controller did not start; its log:" >&2
    tail -20 "$work/cert-manager-controller.log" >&2
    return 1
  fi
}

cm_stop() {
  case "${1:-}" in
    controller) e2e_kill "$(e2e_pid cert-manager-controller)" ;;
    webhook) e2e_kill "$(e2e_pid cert-manager-webhook)" ;;
    "") e2e_kill "$(e2e_pid cert-manager-controller)"; e2e_kill "$(e2e_pid cert-manager-webhook)" ;;
    *) echo "cm_stop [controller|webhook]" >&2; return 1 ;;
  esac
}
