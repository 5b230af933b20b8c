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

{{/* Refusals that the schema cannot express. */}}
{{- define "ember-issuer.validate" -}}
{{- if and .Values.api.enabled (not .Values.api.allowUnauthenticated) -}}
{{- fail "api.enabled: the signing API has no authentication yet; set api.allowUnauthenticated=true as well to serve it anyway (anyone who reaches it gets certificates)" -}}
{{- end -}}
{{- range .Values.extraArgs -}}
{{- $flag := regexReplaceAll "=.*$" . "" -}}
{{- if has $flag (list "--leader-elect" "--leader-election-namespace" "--leader-election-lease-duration" "--leader-election-renew-deadline" "--leader-election-retry-period" "--cluster-resource-namespace" "--health-probe-bind-address" "--metrics-bind-address" "--api-bind-address" "--api-allow-unauthenticated" "--api-issuer" "--approve" "--policy-annotation" "--max-retry-duration" "--issuer-recheck-period" "--log-level" "--log-format" "--manifests" "--kubeconfig") -}}
{{- fail (printf "extraArgs: %s is set by the chart (or makes no sense in a cluster); use its value instead (see the chart's README)" $flag) -}}
{{- end -}}
{{- end -}}
{{- end -}}
