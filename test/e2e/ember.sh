# ember.sh -- Ember installed as a real deployment would be: the chart rendered by the real helm
# and applied to the real API server (CRDs, ServiceAccount, exactly the chart's RBAC), then the
# real binary run on loopback with a kubeconfig holding a TokenRequest token of the chart's
# ServiceAccount and the Deployment's args as the API server holds them. Source lib.sh and
# cluster.sh first; EMBER_BIN is the binary.
#
#   ember_install NS RELEASE [HELM ARGS...]    helm template | kubectl apply
#   ember_start NAME NS RELEASE [EXTRA ARGS...]   starts a replica; its log is $E2E_DIR/NAME.log,
#                                    its listeners in $E2E_DIR/NAME.{health,metrics,api}
#   ember_stop NAME

HELM=${HELM:-}
e2e_helm() {
  [ -n "$HELM" ] || HELM="$(e2e_build tools)/helm" || return 1
  "$HELM" "$@"
}

ember_install() {
  local ns=$1 rel=$2; shift 2
  kc get namespace "$ns" >/dev/null 2>&1 || kc create namespace "$ns" >/dev/null || return 1
  e2e_helm template "$rel" "$E2E_ROOT/charts/ember-issuer" --namespace "$ns" "$@" \
    >"$E2E_DIR/ember-$rel.yaml" || return 1
  kc apply --server-side -f "$E2E_DIR/ember-$rel.yaml" >"$E2E_DIR/ember-$rel.apply" 2>&1 || {
    cat "$E2E_DIR/ember-$rel.apply"; return 1; }
  kc wait --for condition=Established --timeout 60s \
    crd/issuers.ember.issuer.dev crd/clusterissuers.ember.issuer.dev \
    crd/issuancepolicies.ember.issuer.dev >/dev/null
}

# ember_args NS RELEASE: the Deployment's container args, one per line, as the API server
# holds them, without the listener addresses (ember_start binds loopback ports).
ember_args() {
  local full
  full=$(kc -n "$1" get deployments -l "app.kubernetes.io/instance=$2" -o name | head -1)
  [ -n "$full" ] || { echo "e2e: no Deployment of release $2 in $1" >&2; return 1; }
  kc -n "$1" get "$full" -o jsonpath='{range .spec.template.spec.containers[0].args[*]}{@}{"\n"}{end}' |
    grep -vE '^--(health-probe|metrics|api)-bind-address='
}

# ember_sa NS RELEASE: the chart's ServiceAccount name.
ember_sa() {
  kc -n "$1" get deployments -l "app.kubernetes.io/instance=$2" \
    -o jsonpath='{.items[0].spec.template.spec.serviceAccountName}'
}

ember_start() {
  local name=$1 ns=$2 rel=$3; shift 3
  local sa hp mp ap args=()
  sa=$(ember_sa "$ns" "$rel") || return 1
  e2e_sa_kubeconfig "$ns" "$sa" "$E2E_DIR/$name.kubeconfig" || return 1
  mapfile -t args < <(ember_args "$ns" "$rel")
  hp=$(e2e_free_port); mp=$(e2e_free_port); ap=$(e2e_free_port)
  echo "http://127.0.0.1:$hp" >"$E2E_DIR/$name.health"
  echo "http://127.0.0.1:$mp" >"$E2E_DIR/$name.metrics"
  echo "http://127.0.0.1:$ap" >"$E2E_DIR/$name.api"
  local listen=(--health-probe-bind-address "127.0.0.1:$hp" --metrics-bind-address "127.0.0.1:$mp")
  printf '%s\n' "${args[@]}" | grep -q '^--api-bind-address=0$' || listen+=(--api-bind-address "127.0.0.1:$ap")
  POD_NAME=$name e2e_spawn "$name" "$E2E_DIR/$name.log" "$EMBER_BIN" "${args[@]}" "${listen[@]}" \
    --kubeconfig "$E2E_DIR/$name.kubeconfig" "$@"
  if ! e2e_wait 20 curl -fs -o /dev/null "http://127.0.0.1:$hp/healthz"; then
    echo "e2e: ember-issuer $name did not start; its log:" >&2; tail -20 "$E2E_DIR/$name.log" >&2
    return 1
  fi
}

ember_stop() { e2e_kill "$(e2e_pid "$1")"; }
