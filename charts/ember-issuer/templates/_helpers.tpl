{{/* _helpers.tpl -- names, labels and the values every template shares. */}}

{{/* The chart name, or nameOverride. */}}
{{- define "ember-issuer.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The full name of the release's objects: fullnameOverride, else RELEASE-NAME unless the
     release name already contains the chart name. At most 63 characters (a DNS label). */}}
{{- define "ember-issuer.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := include "ember-issuer.name" . -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* The labels that select the release's pods (never change them: a Deployment's selector is
     immutable). */}}
{{- define "ember-issuer.selectorLabels" -}}
app.kubernetes.io/name: {{ include "ember-issuer.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* The labels of every object of the release. */}}
{{- define "ember-issuer.labels" -}}
{{ include "ember-issuer.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: ember-issuer
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end -}}

{{/* The ServiceAccount the pods run as and the RBAC is bound to. */}}
{{- define "ember-issuer.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "ember-issuer.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The container image: repository@digest, else repository:tag (tag defaults to appVersion). */}}
{{- define "ember-issuer.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/* Where ClusterIssuers' Secrets live. */}}
{{- define "ember-issuer.clusterResourceNamespace" -}}
{{- default .Release.Namespace .Values.clusterResourceNamespace -}}
{{- end -}}

{{/* The Lease name is fixed in the binary (issuer/main.c); the leader-election Role is limited
     to it. */}}
{{- define "ember-issuer.leaseName" -}}ember-issuer-leader{{- end -}}

{{/* Ports of the three listeners (the binary's defaults; the Dockerfile EXPOSEs them). */}}
{{- define "ember-issuer.apiPort" -}}8080{{- end -}}
{{- define "ember-issuer.healthPort" -}}8081{{- end -}}
{{- define "ember-issuer.metricsPort" -}}8082{{- end -}}

{{/* Where the signing API's TLS Secret and client CA bundle are mounted (read-only); the args
     name the files inside. */}}
{{- define "ember-issuer.apiTLSDir" -}}/etc/ember/api-tls{{- end -}}
{{- define "ember-issuer.apiClientCADir" -}}/etc/ember/api-client-ca{{- end -}}

{{/* "true" when the signing API has a client CA (from a Secret or a ConfigMap), else empty. */}}
{{- define "ember-issuer.apiClientCA" -}}
{{- if or .Values.api.clientCA.secretName .Values.api.clientCA.configMapName -}}true{{- end -}}
{{- end -}}

{{/* "true" when the signing API authenticates its callers (mTLS or tokens), else empty. */}}
{{- define "ember-issuer.apiAuthenticated" -}}
{{- if or (include "ember-issuer.apiClientCA" .) .Values.api.tokenAuth.enabled -}}true{{- end -}}
{{- end -}}

{{/* "true" when the ClusterRole needs create on tokenreviews, else empty. */}}
{{- define "ember-issuer.tokenReviews" -}}
{{- if and .Values.api.enabled .Values.api.tokenAuth.enabled -}}true{{- end -}}
{{- end -}}

{{/* Refusals that the schema cannot express. */}}
{{- define "ember-issuer.validate" -}}
{{- $api := .Values.api -}}
{{- if $api.enabled -}}
{{- if and $api.clientCA.secretName $api.clientCA.configMapName -}}
{{- fail "api.clientCA: set secretName or configMapName, not both" -}}
{{- end -}}
{{- if and (include "ember-issuer.apiClientCA" .) (not $api.tls.secretName) -}}
{{- fail "api.clientCA needs api.tls.secretName: client certificates are sent in the TLS handshake, so mTLS needs HTTPS" -}}
{{- end -}}
{{- if and $api.tokenAuth.enabled (not $api.tls.secretName) (not $api.tokenAuth.allowWithoutTLS) -}}
{{- fail "api.tokenAuth without api.tls.secretName would send bearer tokens in clear text: set api.tls.secretName, or api.tokenAuth.allowWithoutTLS=true when something else encrypts the traffic to the pods (a service mesh)" -}}
{{- end -}}
{{- if and (not (include "ember-issuer.apiAuthenticated" .)) (not $api.allowUnauthenticated) -}}
{{- fail "api.enabled: the signing API needs an authentication method: api.clientCA (with api.tls.secretName) for client certificates, or api.tokenAuth.enabled=true for service account tokens; or set api.allowUnauthenticated=true to serve it without one (anyone who reaches it gets certificates)" -}}
{{- end -}}
{{- if $api.networkPolicy.enabled -}}
{{- if not $api.networkPolicy.from -}}
{{- fail "api.networkPolicy.from: list at least one peer (podSelector, namespaceSelector or ipBlock); a rule without peers admits every source" -}}
{{- end -}}
{{- range $i, $peer := $api.networkPolicy.from -}}
{{- if and (hasKey $peer "ipBlock") (or (hasKey $peer "podSelector") (hasKey $peer "namespaceSelector")) -}}
{{- fail (printf "api.networkPolicy.from[%d]: ipBlock cannot be combined with podSelector or namespaceSelector (make them separate peers)" $i) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- range .Values.extraArgs -}}
{{- $flag := regexReplaceAll "=.*$" . "" -}}
{{- if has $flag (list "--leader-elect" "--leader-election-namespace" "--leader-election-lease-duration" "--leader-election-renew-deadline" "--leader-election-retry-period" "--cluster-resource-namespace" "--health-probe-bind-address" "--metrics-bind-address" "--api-bind-address" "--api-allow-unauthenticated" "--api-allow-plaintext-tokens" "--api-issuer" "--api-tls-cert-file" "--api-tls-key-file" "--api-client-ca-file" "--api-token-auth" "--api-token-audience" "--api-token-cache-ttl" "--audit-log" "--audit-log-include-certificate" "--approve" "--policy-annotation" "--max-retry-duration" "--issuer-recheck-period" "--log-level" "--log-format" "--manifests" "--kubeconfig") -}}
{{- fail (printf "extraArgs: %s is set by the chart (or makes no sense in a cluster); use its value instead (see the chart's README)" $flag) -}}
{{- end -}}
{{- end -}}
{{- end -}}
