#!/usr/bin/env bash
# test_chart.sh -- the Helm chart charts/ember-issuer, rendered by real helm: the helm CLI and
# test/e2e/tools/cmd/chart-render (helm v3's own library, as `helm template` renders: values.yaml,
# -f, --set, --set-string and values.schema.json), both built from test/e2e/tools/go.mod into
# the e2e cache (test/e2e/lib.sh's e2e_build; Go 1.26 at /usr/local/go). `helm lint --strict`
# passes; the chart renders with the default values, with every
# examples/**/ember-issuer-values*.yaml and with variants that turn each switch;
# test/chart/chartcheck.py checks each rendering (kinds, RBAC exactly, restricted
# securityContext, args against --help, probes and ports, CRDs = api/). Then: the binary accepts
# the rendered args; values typos and wrong types are refused by the schema with a message; the
# chart refuses unsafe combinations; the chart README's values table and README.md's helm
# commands are true; mutated copies of the chart (an unconditional tokenreviews rule, a writable
# mount, a NetworkPolicy for other pods, a TokenRequest Role not limited as serviceAccountTokens
# says) are caught; the real binary, given exactly the chart's RBAC on the strict fake API server,
# leads, approves and issues; and the serviceAccountTokens Role lets it make exactly the
# TokenRequests it names.
cd "$(dirname "$0")/../.." || exit 1
. test/integration/lib.sh

CHART=charts/ember-issuer
CHECK="python3 test/chart/chartcheck.py"

# helm and chart-render, built once per content of test/e2e/tools (cached under
# /var/cache/ember-e2e/bin/tools-KEY; the first build takes minutes). lib.sh runs in a subshell:
# its Go environment (/usr/local/go first on PATH, the e2e caches) stays there.
if ! goerr=$( (. test/e2e/lib.sh && e2e_go_env) 2>&1 ); then
  not_ok "rendering the chart with real helm needs Go 1.26 at /usr/local/go"
  printf '# %s\n' "$goerr"
  exit 1
fi
if TOOLS=$( (. test/e2e/lib.sh && e2e_build tools) 2>"$WORK/tools.log" ) &&
   [ -x "$TOOLS/helm" ] && [ -x "$TOOLS/chart-render" ]; then
  ok "helm and chart-render are built from test/e2e/tools ($("$TOOLS/helm" version --template '{{.Version}}' 2>&1))"
else
  not_ok "helm and chart-render are built from test/e2e/tools"; cat "$WORK/tools.log"; exit 1
fi
HELM="$TOOLS/helm"
RENDER="$TOOLS/chart-render"
# /var/cache/ember-e2e/bin/helm/helm: the current helm for the end-to-end harness too.
# shellcheck disable=SC2031 # E2E_CACHE comes from the environment; the subshell above only reads it
hdir="${E2E_CACHE:-/var/cache/ember-e2e}/bin/helm"
mkdir -p "$hdir" && ln -sfn "$HELM" "$hdir/helm.new.$$" && mv -Tf "$hdir/helm.new.$$" "$hdir/helm"
# helm keeps its config, cache and data under $WORK, not in the user's home.
export HELM_CONFIG_HOME="$WORK/helm/config" HELM_CACHE_HOME="$WORK/helm/cache" HELM_DATA_HOME="$WORK/helm/data"

for lint in "lint" "lint --strict"; do
  # shellcheck disable=SC2086 # $lint is two words on purpose
  if "$HELM" $lint "$CHART" >"$WORK/lint.out" 2>&1; then
    ok "helm $lint $CHART"
  else
    not_ok "helm $lint $CHART"; cat "$WORK/lint.out"
  fi
done
sed -n 's/^\(\[[A-Z]*\]\)/# helm lint: \1/p' "$WORK/lint.out"
# chart-render is `helm template`: the same bytes, with values files, --set, --set-string,
# --api-versions and --kube-version passed through.
printf 'log:\n  level: debug\n' >"$WORK/same.yaml"
# shellcheck disable=SC2054 # helm --set takes comma-separated key=value pairs
same_args=(--namespace pki -f "$WORK/same.yaml" --set api.enabled=true,api.allowUnauthenticated=true
  --set-string podLabels.n=5 --api-versions monitoring.coreos.com/v1 --kube-version v1.30.2
  --set metrics.serviceMonitor.enabled=true)
if "$HELM" template rel "$CHART" "${same_args[@]}" >"$WORK/same.helm" 2>"$WORK/same.err" &&
   "$RENDER" --name rel "${same_args[@]}" "$CHART" >"$WORK/same.render" 2>>"$WORK/same.err" &&
   cmp -s "$WORK/same.helm" "$WORK/same.render"; then
  ok "chart-render -o yaml prints exactly what \`helm template\` prints"
else
  not_ok "chart-render -o yaml prints exactly what \`helm template\` prints"; cat "$WORK/same.err"
  diff "$WORK/same.helm" "$WORK/same.render" | head -20
fi

"$EMBER_BIN" --help >"$WORK/help.txt" || { not_ok "ember-issuer --help"; exit 1; }
"$RENDER" --yaml2json api/ember.issuer.dev_*.yaml >"$WORK/api-crds.json" ||
  { not_ok "api/*.yaml parse as strict YAML"; exit 1; }

# The chart's own files.
crds_same=1
for f in api/ember.issuer.dev_*.yaml; do
  cmp -s "$f" "$CHART/files/crds/$(basename "$f")" || { echo "# $f differs from $CHART/files/crds/"; crds_same=0; }
done
for f in "$CHART"/files/crds/*; do
  [ -f "api/$(basename "$f")" ] || { echo "# $f is not in api/"; crds_same=0; }
done
check "$CHART/files/crds/ holds exactly api/'s CRDs, byte for byte (else: make chart)" test "$crds_same" = 1
app_version=$(sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\} *$/\1/p' "$CHART/Chart.yaml")
check "Chart.yaml's appVersion ($app_version) is the binary's version" \
  test "$("$EMBER_BIN" --version)" = "ember-issuer $app_version"
check "values.schema.json sets additionalProperties on every object" python3 - "$CHART/values.schema.json" <<'PY'
import json, sys
bad = []
def walk(node, where):
    if isinstance(node, dict):
        if node.get("type") == "object" or "properties" in node:
            if "additionalProperties" not in node or node["additionalProperties"] is True:
                bad.append(where or "(root)")
            elif "properties" in node and node["additionalProperties"] is not False:
                bad.append(where + " (properties and open additionalProperties)")
        for k, v in node.items():
            walk(v, where + "/" + k)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            walk(v, "%s/%d" % (where, i))
walk(json.load(open(sys.argv[1])), "")
for b in bad:
    print("# open object: " + b)
sys.exit(1 if bad else 0)
PY

# pod_files MOUNTS ARGS OUT_ARGS: what the kubelet does for the pod's Secret and ConfigMap
# mounts (chartcheck.py's ARGS.mounts: MOUNTPATH<TAB>FILE<TAB>KEY), under $WORK/pod: tls.crt and
# tls.key get a server certificate for the Service and its key, any other key the test root
# CA; OUT_ARGS is ARGS with the mount paths moved there.
pod_files() {
  local mounts=$1 in=$2 out=$3 mp file key a
  if [ ! -s "$WORK/podca/server.crt" ]; then
    make_ca "$WORK/podca"
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=ember-issuer" \
      -keyout "$WORK/podca/server.key" -out "$WORK/podca/server.csr" 2>/dev/null
    printf 'subjectAltName=DNS:ember-issuer.ember-issuer.svc\nextendedKeyUsage=serverAuth\n' >"$WORK/podca/server.ext"
    openssl x509 -req -in "$WORK/podca/server.csr" -CA "$WORK/podca/root.crt" -CAkey "$WORK/podca/root.key" \
      -CAcreateserial -days 2 -extfile "$WORK/podca/server.ext" -out "$WORK/podca/server.crt" 2>/dev/null
  fi
  cp "$in" "$out"
  [ -f "$mounts" ] || return 0
  while IFS=$'\t' read -r mp file key; do
    mkdir -p "$WORK/pod$mp"
    case "$key" in
      tls.crt) cp "$WORK/podca/server.crt" "$WORK/pod$mp/$file" ;;
      tls.key) cp "$WORK/podca/server.key" "$WORK/pod$mp/$file" ;;
      *) cp "$WORK/podca/root.crt" "$WORK/pod$mp/$file" ;;
    esac
    a=$(sed "s|=$mp/|=$WORK/pod$mp/|" "$out"); printf '%s\n' "$a" >"$out"
  done <"$mounts"
}

# render LABEL NAMESPACE RELEASE [RENDERER ARGS...]: renders, then checks the result.
render_case() {
  local label=$1 ns=$2 rel=$3; shift 3
  local base
  base="$WORK/case-$(printf '%s' "$label" | tr -c 'A-Za-z0-9' '_')"
  if ! "$RENDER" --namespace "$ns" --name "$rel" -o json "$@" "$CHART" >"$base.json" 2>"$base.err"; then
    not_ok "$label: the chart renders"; cat "$base.err"; return
  fi
  ok "$label: the chart renders (every document parses as strict YAML)"
  "$RENDER" --namespace "$ns" --name "$rel" --show-values "$@" "$CHART" >"$base.values.json"
  $CHECK render "$label" "$base.json" "$base.values.json" "$WORK/api-crds.json" "$WORK/help.txt" \
    "$ns" "$rel" "$base.args"
  # The binary itself takes the args: outside a cluster it gets past flag checking (exit 2 is
  # a refused flag) and stops at "no cluster to watch" (exit 1) before opening any port. The
  # files of the pod's mounts are there, as the kubelet makes them.
  if [ -s "$base.args" ]; then
    local args
    pod_files "$base.args.mounts" "$base.args" "$base.podargs"
    mapfile -t args <"$base.podargs"
    env -i "$EMBER_BIN" "${args[@]}" >"$base.run" 2>&1
    local rc=$?
    if [ "$rc" = 1 ] && grep -q "no cluster to watch" "$base.run"; then
      ok "$label: ember-issuer accepts the rendered args"
    else
      not_ok "$label: ember-issuer accepts the rendered args (exit $rc)"; cat "$base.run"
    fi
  fi
}

render_case "default values" ember-issuer ember-issuer
examples=()
while IFS= read -r f; do examples+=("$f"); done < <(find examples -name 'ember-issuer-values*.yaml' -type f | sort)
check "examples/ has values files for the chart (ember-issuer-values*.yaml)" test ${#examples[@]} -gt 0
for f in "${examples[@]}"; do
  render_case "$f" ember-issuer ember-issuer -f "$f"
done
render_case "signing API on, unauthenticated (acknowledged)" ember-issuer ember-issuer \
  --set api.enabled=true,api.allowUnauthenticated=true,api.issuer=ClusterIssuer/mesh-ca
render_case "signing API: tokens over HTTPS, audit with certificates" ember-issuer ember-issuer \
  --set api.enabled=true,api.tls.secretName=ember-api-tls,api.tokenAuth.enabled=true \
  --set api.tokenAuth.audience=https://ember.example.com,api.tokenAuth.cacheTTL=1m \
  --set api.audit.enabled=true,api.audit.includeCertificate=true
render_case "signing API: mTLS with a client CA Secret (key bundle.pem), NetworkPolicy, no metrics" pki pki \
  --set api.enabled=true,api.tls.secretName=api-tls,api.clientCA.secretName=clients,api.clientCA.key=bundle.pem \
  --set api.allowUnauthenticated=true,metrics.enabled=false,api.networkPolicy.enabled=true \
  --set 'api.networkPolicy.from[0].podSelector.matchLabels.app=ci' \
  --set 'api.networkPolicy.from[1].namespaceSelector.matchLabels.team=a,api.networkPolicy.from[1].podSelector.matchLabels.app=b' \
  --set 'api.networkPolicy.from[2].ipBlock.cidr=10.20.0.0/16,api.networkPolicy.from[2].ipBlock.except[0]=10.20.9.0/24'
render_case "signing API: tokens over plain HTTP (allowWithoutTLS), audit" ember-issuer ember-issuer \
  --set api.enabled=true,api.tokenAuth.enabled=true,api.tokenAuth.allowWithoutTLS=true,api.audit.enabled=true
render_case "signing API off: its tls, clientCA, tokenAuth and networkPolicy do nothing; audit works" ember-issuer ember-issuer \
  --set api.tls.secretName=t,api.clientCA.configMapName=c,api.tokenAuth.enabled=true,api.audit.enabled=true \
  --set api.networkPolicy.enabled=true,api.allowUnauthenticated=true
render_case "approve off, 1 replica, metrics off, no CRDs, own ServiceAccount" ember ember \
  --set approve=false,replicaCount=1,metrics.enabled=false,crds.enabled=false \
  --set serviceAccount.create=false,serviceAccount.name=ember-sa
render_case "ServiceMonitor, Firefly alias, digest, other release and namespace" pki platform-pki \
  --set metrics.serviceMonitor.enabled=true,metrics.serviceMonitor.labels.release=prom \
  --set 'policyAnnotations={firefly.venafi.com/policy-name}' --set clusterResourceNamespace=cert-manager \
  --set crds.keep=false,log.format=text,log.level=debug,maxRetryDuration=10m \
  --set image.digest=sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef \
  --set 'extraArgs={--workers=8,--watch-timeout=2m}' --set podLabels.team=pki \
  --set 'tolerations[0].key=dedicated,tolerations[0].operator=Exists,tolerations[0].effect=NoSchedule'
render_case "TokenRequests for two ServiceAccounts in another cluster resource namespace" pki pki \
  --set serviceAccountTokens.enabled=true,clusterResourceNamespace=cert-manager \
  --set 'serviceAccountTokens.names={vault-auth,vault.auth-2}'
render_case "TokenRequests for every ServiceAccount of the release namespace" ember-issuer ember-issuer \
  --set serviceAccountTokens.enabled=true
render_case "serviceAccountTokens.names without enabled: nothing granted" ember-issuer ember-issuer \
  --set 'serviceAccountTokens.names={vault-auth}'

# refused LABEL EXPECTED-TEXT [RENDERER ARGS...]: helm refuses to render, saying EXPECTED-TEXT
# (values.schema.json failures in helm's words: "- at '/json/pointer': what is wrong").
refused() {
  local label=$1 want=$2; shift 2
  if "$RENDER" --namespace ember-issuer "$@" "$CHART" >"$WORK/refused.out" 2>"$WORK/refused.err"; then
    not_ok "$label is refused"; return
  fi
  if grep -qF -- "$want" "$WORK/refused.err"; then
    ok "$label is refused: $(grep -F -- "$want" "$WORK/refused.err" | head -1 | sed 's/^Error: //')"
  else
    not_ok "$label is refused saying '$want'"; cat "$WORK/refused.err"
  fi
}
printf 'replicaCont: 3\n' >"$WORK/typo-top.yaml"
printf 'crds:\n  keeep: true\n' >"$WORK/typo-nested.yaml"
printf 'replicaCount: "2"\n' >"$WORK/type-string.yaml"
refused "a typo at the top (-f: replicaCont)" "at '': additional properties 'replicaCont' not allowed" -f "$WORK/typo-top.yaml"
refused "replicaCount under an unknown place (image.replicaCount)" "at '/image': additional properties 'replicaCount' not allowed" \
  --set image.replicaCount=2
refused "a nested typo (-f: crds.keeep)" "at '/crds': additional properties 'keeep' not allowed" -f "$WORK/typo-nested.yaml"
refused "a string replicaCount (-f: \"2\")" "at '/replicaCount': got string, want integer" -f "$WORK/type-string.yaml"
refused "a string boolean (crds.enabled=yes)" "at '/crds/enabled': got string, want boolean" \
  --set crds.enabled=yes
refused "an unknown log level" "at '/log/level': value must be one of 'debug', 'info', 'warn', 'error'" --set log.level=verbose
refused "a bad duration (maxRetryDuration=1hour)" "at '/maxRetryDuration': '1hour' does not match pattern" --set maxRetryDuration=1hour
refused "a typo inside a toleration" "at '/tolerations/0': additional properties 'efect' not allowed" \
  --set 'tolerations[0].efect=NoSchedule'
refused "a typo inside the container securityContext" "at '/containerSecurityContext': additional properties 'readOnlyRootFileSystem' not allowed" \
  --set containerSecurityContext.readOnlyRootFileSystem=true
refused "extraArgs not in --flag=value form" "at '/extraArgs/1': '8' does not match pattern" --set-string 'extraArgs={--workers,8}'
refused "a removed required value (image.repository=null)" "at '/image': missing property 'repository'" --set image.repository=null
refused "the signing API without an authentication method or the acknowledgement" \
  "api.enabled: the signing API needs an authentication method" --set api.enabled=true
refused "the signing API with TLS but no client CA or tokens" \
  "the signing API needs an authentication method" --set api.enabled=true,api.tls.secretName=t
refused "a client CA without TLS" "api.clientCA needs api.tls.secretName" \
  --set api.enabled=true,api.clientCA.configMapName=c
refused "a client CA from both a Secret and a ConfigMap" "api.clientCA: set secretName or configMapName, not both" \
  --set api.enabled=true,api.tls.secretName=t,api.clientCA.configMapName=c,api.clientCA.secretName=s
refused "tokens without TLS" "api.tokenAuth without api.tls.secretName would send bearer tokens in clear text" \
  --set api.enabled=true,api.tokenAuth.enabled=true
refused "a NetworkPolicy without peers" "api.networkPolicy.from: list at least one peer" \
  --set api.enabled=true,api.tls.secretName=t,api.tokenAuth.enabled=true,api.networkPolicy.enabled=true
refused "a NetworkPolicy peer with ipBlock and a selector" "api.networkPolicy.from[0]: ipBlock cannot be combined" \
  --set api.enabled=true,api.allowUnauthenticated=true,api.networkPolicy.enabled=true \
  --set 'api.networkPolicy.from[0].ipBlock.cidr=10.0.0.0/8,api.networkPolicy.from[0].namespaceSelector.matchLabels.a=b'
refused "a typo in api.tls (secretname)" "at '/api/tls': additional properties 'secretname' not allowed" --set api.tls.secretname=t
refused "a typo in a NetworkPolicy peer (podSelectr)" "at '/api/networkPolicy/from/0': additional properties 'podSelectr' not allowed" \
  --set 'api.networkPolicy.from[0].podSelectr.matchLabels.a=b'
printf 'api:\n  networkPolicy:\n    from: [{}]\n' >"$WORK/empty-peer.yaml"
refused "an empty NetworkPolicy peer (-f: from: [{}])" "at '/api/networkPolicy/from/0': minProperties: got 0, want 1" \
  -f "$WORK/empty-peer.yaml"
refused "an ipBlock without a prefix length" "at '/api/networkPolicy/from/0/ipBlock/cidr': '10.0.0.1' does not match pattern" \
  --set 'api.networkPolicy.from[0].ipBlock.cidr=10.0.0.1'
refused "an empty token audience" "at '/api/tokenAuth/audience': minLength: got 0, want 1" \
  --set api.tokenAuth.audience=
refused "a bad token cache TTL (10 seconds)" "at '/api/tokenAuth/cacheTTL': '10 seconds' does not match pattern" --set 'api.tokenAuth.cacheTTL=10 seconds'
refused "a string boolean (api.audit.enabled=on)" "at '/api/audit/enabled': got string, want boolean" \
  --set api.audit.enabled=on
refused "a client CA key with a slash" "at '/api/clientCA/key': 'a/b' does not match pattern" --set api.clientCA.key=a/b
refused "extraArgs overriding a signing API flag" "extraArgs: --api-token-auth is set by the chart" \
  --set 'extraArgs={--api-token-auth=true}'
refused "extraArgs overriding a flag the chart sets" "extraArgs: --approve is set by the chart" --set 'extraArgs={--approve=false}'
refused "serviceAccount.create=false without a name" "serviceAccount.name is required" --set serviceAccount.create=false
refused "a ServiceMonitor without metrics" "metrics.serviceMonitor.enabled needs metrics.enabled" \
  --set metrics.enabled=false,metrics.serviceMonitor.enabled=true
refused "a ServiceAccount name that is not a Kubernetes name" "at '/serviceAccountTokens/names/0': 'Vault_Auth' does not match pattern" \
  --set 'serviceAccountTokens.names={Vault_Auth}'
refused "a string boolean (serviceAccountTokens.enabled=yes)" "at '/serviceAccountTokens/enabled': got string, want boolean" \
  --set serviceAccountTokens.enabled=yes
refused "a Kubernetes older than the chart's kubeVersion" "incompatible with Kubernetes" --kube-version v1.24.0

# The checks above can fail: mutated copies of the chart, each rendered with values that reach
# the mutation, give a "not ok" naming what broke.
# mutant NAME FILE SED-EXPR EXPECTED-TEXT [RENDERER ARGS...]
mutant() {
  local name=$1 file=$2 expr=$3 want=$4 d="$WORK/mutant-$1"; shift 4
  rm -rf "$d"; cp -r "$CHART" "$d"
  sed -i -e "$expr" "$d/$file"
  if cmp -s "$d/$file" "$CHART/$file"; then not_ok "mutant $name changes $file"; return; fi
  if ! "$RENDER" --namespace ember-issuer --name ember-issuer -o json "$@" "$d" >"$d.json" 2>"$d.err"; then
    not_ok "mutant $name renders"; cat "$d.err"; return
  fi
  "$RENDER" --namespace ember-issuer --name ember-issuer --show-values "$@" "$d" >"$d.values.json"
  $CHECK render "mutant" "$d.json" "$d.values.json" "$WORK/api-crds.json" "$WORK/help.txt" \
    ember-issuer ember-issuer "$d.args" >"$d.out"
  check "chartcheck.py catches: $name" grep -qF -- "not ok - mutant: $want" "$d.out"
}
mutant "create tokenreviews without api.tokenAuth" templates/rbac.yaml \
  's/if include "ember-issuer.tokenReviews" \./if true/' "RBAC: create on tokenreviews is not granted"
mutant "tokenreviews bound with more verbs" templates/rbac.yaml \
  '/resources: \[tokenreviews\]/{n;s/verbs: \[create\]/verbs: [create, get]/}' "RBAC: the cluster-wide permissions are exactly" \
  --set api.enabled=true,api.tls.secretName=t,api.tokenAuth.enabled=true
mutant "the TokenRequest rule without serviceAccountTokens.enabled" templates/rbac.yaml \
  's/if .Values.serviceAccountTokens.enabled/if true/' "RBAC: create on serviceaccounts/token is not granted"
mutant "the TokenRequest rule not limited to the names" templates/rbac.yaml '/resourceNames: {{ toJson . }}/d' \
  "RBAC: create on serviceaccounts/token is granted in ['ember-issuer'] for ['vault-auth']" \
  --set serviceAccountTokens.enabled=true --set 'serviceAccountTokens.names={vault-auth}'
mutant "the TokenRequest Role in the release namespace instead of the cluster resource namespace" templates/rbac.yaml \
  's/namespace: {{ $crn }}/namespace: {{ .Release.Namespace }}/' \
  "RBAC: create on serviceaccounts/token is granted in ['cert-manager']" \
  --set serviceAccountTokens.enabled=true,clusterResourceNamespace=cert-manager
mutant "a writable TLS mount" templates/deployment.yaml '0,/readOnly: true/s//readOnly: false/' \
  "volumes: only the API's TLS Secret" --set api.enabled=true,api.tls.secretName=t,api.tokenAuth.enabled=true
mutant "the cert flag naming the key" templates/deployment.yaml 's|apiTLSDir" . }}/tls.crt|apiTLSDir" . }}/tls.key|' \
  "signing API: --api-tls-cert-file=/etc/ember/api-tls/tls.key is secret t key tls.crt" \
  --set api.enabled=true,api.tls.secretName=t,api.tokenAuth.enabled=true
mutant "a NetworkPolicy selecting other pods" templates/networkpolicy.yaml \
  's/include "ember-issuer.selectorLabels" \. | nindent 6/include "ember-issuer.selectorLabels" . | replace "ember-issuer" "other" | nindent 6/' \
  "NetworkPolicy: one, selecting exactly the Deployment's pods" \
  --set api.enabled=true,api.allowUnauthenticated=true,api.networkPolicy.enabled=true \
  --set 'api.networkPolicy.from[0].podSelector.matchLabels.a=b'
mutant "a NetworkPolicy whose api rule admits everyone" templates/networkpolicy.yaml '/^      from:$/,/nindent 8/d' \
  "NetworkPolicy: the api port :8080 admits exactly" \
  --set api.enabled=true,api.allowUnauthenticated=true,api.networkPolicy.enabled=true \
  --set 'api.networkPolicy.from[0].podSelector.matchLabels.a=b'
mutant "--api-allow-unauthenticated passed with authentication" templates/deployment.yaml \
  's/if not (include "ember-issuer.apiAuthenticated" .)/if true/' "signing API: --api-allow-unauthenticated is not passed" \
  --set api.enabled=true,api.tls.secretName=t,api.tokenAuth.enabled=true

# The docs.
"$RENDER" --show-values "$CHART" >"$WORK/defaults.json"
$CHECK values-table "$CHART/README.md" "$WORK/defaults.json" "$CHART/values.schema.json"
mkdir -p "$WORK/cmds"
$CHECK helm-commands README.md "$CHART/values.schema.json" ./charts/ember-issuer "$WORK/cmds"
$CHECK helm-commands "$CHART/README.md" "$CHART/values.schema.json" ./charts/ember-issuer "$WORK/cmds"
for a in "$WORK"/cmds/*.args; do
  [ -f "$a" ] || continue
  mapfile -d '' -t rargs <"$a"
  cmd=$(cat "${a%.args}.txt")
  if "$RENDER" -o json "${rargs[@]}" >/dev/null 2>"$WORK/cmd.err"; then
    ok "docs: \`$cmd\` renders"
  else
    not_ok "docs: \`$cmd\` renders"; cat "$WORK/cmd.err"
  fi
done

# The chart's RBAC is enough: the real binary, with the rendered args and exactly the
# permissions the chart binds to its ServiceAccount, on the strict fake API server.
. test/integration/k8s.sh
make_ca "$WORK/ca"
NS=ember
"$RENDER" --namespace "$NS" --name ember-issuer -o json "$CHART" >"$WORK/fake.render.json"
$CHECK rbac-to-fake "$WORK/fake.render.json" "$NS" ember-issuer tok-ember >"$WORK/tokens.json"
python3 - "$WORK/tokens.json" "$WORK/conf.json" <<'PY'
import json, sys
tokens = json.load(open(sys.argv[1]))
tokens["tok-certmanager"] = {"user": "system:serviceaccount:cert-manager:cert-manager"}
json.dump({"tokens": tokens, "namespaces": ["default", "ember", "apps"], "bookmark_interval_seconds": 1},
          open(sys.argv[2], "w"))
PY
python3 - "$WORK/fake.render.json" "$WORK/fake.args" <<'PY'
import json, sys
for m in json.load(open(sys.argv[1]))["manifests"]:
    if m["object"]["kind"] == "Deployment":
        c = m["object"]["spec"]["template"]["spec"]["containers"][0]
        open(sys.argv[2], "w").write("\n".join(c["args"]) + "\n")
        probes = {p: c[p]["httpGet"]["path"] for p in ("livenessProbe", "readinessProbe")}
        open(sys.argv[2] + ".probes", "w").write("\n".join(probes.values()) + "\n")
PY
check "the fake API server is up with the chart's RBAC as Ember's identity" k8s_start "$WORK/conf.json"
ca_secret mesh-ca "$WORK/ca" "$NS"
cluster_issuer mesh-ca mesh-ca >/dev/null
policy web "$WEB_POLICY"

# run_chart_args NAME: starts ember-issuer with the Deployment's args, except the listener
# addresses (start_ember binds them to free loopback ports), and with a kubeconfig in place of
# the pod's service account.
run_chart_args() {
  local args a
  args=()
  while IFS= read -r a; do
    case "$a" in --health-probe-bind-address=*|--metrics-bind-address=*|--api-bind-address=*) continue ;; esac
    args+=("$a")
  done <"$WORK/fake.args"
  start_ember "$1" "${args[@]}" --kubeconfig "$WORK/kubeconfig"
}
if run_chart_args chart-rbac; then
  ok "ember-issuer starts with the chart's args and RBAC"
  WAIT_S=20
  for _ in $(seq 1 100); do
    obj coordination.k8s.io/v1 Lease "$NS" ember-issuer-leader
    grep -q '"holderIdentity"' "$WORK/obj.json" && break
    sleep 0.2
  done
  check "it takes the Lease $NS/ember-issuer-leader (create, get, update in the release namespace)" grep -q '"holderIdentity": *"[^"]' "$WORK/obj.json"
  check "the ClusterIssuer becomes Ready (Secret get in the cluster resource namespace)" \
    wait_cond "$IV" ClusterIssuer "" mesh-ca Ready reason Checked
  kcr app apps ClusterIssuer mesh-ca web app.example.com
  check "a request is approved by Ember (approve on its signers) and issued (status patch)" \
    wait_cond "$CM" CertificateRequest apps app Ready reason Issued
  check "... Approved by the policy" \
    test "$(cond "$CM" CertificateRequest apps app Approved reason)" = ember.issuer.dev
  while IFS= read -r p; do
    check "the probe path $p answers 200 on the health listener" curl -fs -o /dev/null "$PROBES$p"
  done <"$WORK/fake.args.probes"
  check "/metrics answers on the metrics listener" bash -c 'curl -fs "$1/metrics" | grep -q "^ember_"' _ "$METRICS"
  kill -TERM "$EMBER_PID"; wait "$EMBER_PID" 2>/dev/null
  check "no request of Ember was forbidden (403) by the chart's RBAC" \
    absent -F -- "-> 403 user=system:serviceaccount:ember:" "$WORK/fake.log"
  grep -E -- "-> 403 user=system:serviceaccount:ember:" "$WORK/fake.log" | head -5 | sed 's/^/# /'
else
  not_ok "ember-issuer starts with the chart's args and RBAC"
fi

# The same check can fail: without the Secret rule, the issuer cannot load its CA.
python3 - "$WORK/conf.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
for t in c["tokens"].values():
    if "rules" in t:
        t["rules"] = [r for r in t["rules"] if r["resources"] != ["secrets"]]
json.dump(c, open(sys.argv[1], "w"))
PY
admin tokens "{\"set\": $(python3 -c 'import json,sys; print(json.dumps({"tok-ember": json.load(open(sys.argv[1]))["tokens"]["tok-ember"]}))' "$WORK/conf.json")}" >/dev/null
cluster_issuer other-ca mesh-ca >/dev/null
if run_chart_args chart-rbac-nosecrets; then
  WAIT_S=10
  check "without secrets get, a new ClusterIssuer is not Ready" wait_cond "$IV" ClusterIssuer "" other-ca Ready status False
  check "... and the fake API server answered 403 to Ember" \
    bash -c 'grep -qE -- "GET get /api/v1/namespaces/ember/secrets/mesh-ca -> 403" "$1"' _ "$WORK/fake.log"
else
  not_ok "ember-issuer starts with the chart's RBAC minus secrets get"
fi

# The TokenRequest rule is what the API server asks for: Ember's identity with the RBAC the
# chart renders for serviceAccountTokens (names={vault-auth}) gets a token of vault-auth in the
# cluster resource namespace, and 403 for another account there or for vault-auth elsewhere.
"$RENDER" --namespace "$NS" --name ember-issuer -o json --set serviceAccountTokens.enabled=true \
  --set 'serviceAccountTokens.names={vault-auth}' "$CHART" >"$WORK/sat.render.json"
$CHECK rbac-to-fake "$WORK/sat.render.json" "$NS" ember-issuer tok-sat >"$WORK/sat.tokens.json"
admin tokens "{\"set\": $(cat "$WORK/sat.tokens.json")}" >/dev/null
for where in "$NS/vault-auth" "$NS/other" apps/vault-auth; do
  seed "{\"apiVersion\":\"v1\",\"kind\":\"ServiceAccount\",\"metadata\":{\"namespace\":\"${where%/*}\",\"name\":\"${where#*/}\"}}" >/dev/null
done
printf '%s' '{"apiVersion":"authentication.k8s.io/v1","kind":"TokenRequest","spec":{"audiences":["vault://vault"],"expirationSeconds":600}}' >"$WORK/tr.json"
codes=""
for where in "$NS/vault-auth" "$NS/other" apps/vault-auth; do
  kapi POST "/api/v1/namespaces/${where%/*}/serviceaccounts/${where#*/}/token" "$WORK/tr.json" application/json tok-sat
  codes="$codes${codes:+/}$CODE"
done
check "the chart's serviceAccountTokens RBAC lets Ember request tokens of vault-auth in $NS only (201/403/403, got $codes)" \
  test "$codes" = 201/403/403
exit 0
