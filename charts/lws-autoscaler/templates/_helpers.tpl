{{/*
Names, labels and the few computed values several templates share.
*/}}

{{- define "lws-autoscaler.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name: <release>-<chart>, or the release name when it already contains the chart name. */}}
{{- define "lws-autoscaler.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "lws-autoscaler.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "lws-autoscaler.selectorLabels" -}}
app.kubernetes.io/name: {{ include "lws-autoscaler.name" . | quote }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "lws-autoscaler.labels" -}}
helm.sh/chart: {{ include "lws-autoscaler.chart" . }}
{{ include "lws-autoscaler.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: lws-autoscaler
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "lws-autoscaler.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "lws-autoscaler.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "lws-autoscaler.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* Name of the Secret holding the serving certificate (tls.crt, tls.key, ca.crt). */}}
{{- define "lws-autoscaler.tlsSecretName" -}}
{{- if eq .Values.tls.mode "secret" }}
{{- .Values.tls.existingSecret }}
{{- else }}
{{- printf "%s-tls" (include "lws-autoscaler.fullname" .) }}
{{- end }}
{{- end }}

{{- define "lws-autoscaler.policiesConfigMapName" -}}
{{- default (printf "%s-policies" (include "lws-autoscaler.fullname" .)) .Values.policies.existingConfigMap }}
{{- end }}

{{/* Every DNS name the aggregator (and Prometheus) may use for the Service. */}}
{{- define "lws-autoscaler.serviceDNSNames" -}}
{{- $svc := include "lws-autoscaler.fullname" . }}
{{- $ns := .Release.Namespace }}
{{- list $svc (printf "%s.%s" $svc $ns) (printf "%s.%s.svc" $svc $ns) (printf "%s.%s.svc.cluster.local" $svc $ns) | toJson }}
{{- end }}

{{/*
Certificate material for tls.mode=helm, generated once per render and memoised in
.Values so that the Secret and the APIService caBundle agree. On upgrades the existing
Secret is reused (lookup), so the CA does not change and pods keep their certificate.
Returns JSON {ca, crt, key} (PEM strings).
*/}}
{{- define "lws-autoscaler.generatedTLS" -}}
{{- if not (hasKey .Values "__generatedTLS") }}
{{- $secretName := include "lws-autoscaler.tlsSecretName" . }}
{{- $existing := lookup "v1" "Secret" .Release.Namespace $secretName }}
{{- $material := dict }}
{{- if and $existing $existing.data (hasKey $existing.data "ca.crt") (hasKey $existing.data "tls.crt") (hasKey $existing.data "tls.key") }}
{{- $material = dict "ca" (index $existing.data "ca.crt" | b64dec) "crt" (index $existing.data "tls.crt" | b64dec) "key" (index $existing.data "tls.key" | b64dec) }}
{{- else }}
{{- $days := int .Values.tls.validityDays }}
{{- $ca := genCA (printf "%s-ca" (include "lws-autoscaler.fullname" .)) $days }}
{{- $dnsNames := include "lws-autoscaler.serviceDNSNames" . | fromJsonArray }}
{{- $cert := genSignedCert (index $dnsNames 2) nil $dnsNames $days $ca }}
{{- $material = dict "ca" $ca.Cert "crt" $cert.Cert "key" $cert.Key }}
{{- end }}
{{- $_ := set .Values "__generatedTLS" $material }}
{{- end }}
{{- toJson (get .Values "__generatedTLS") }}
{{- end }}

{{/*
The aggregator's front-proxy settings given in values. Without `clientCA` the server
reads them itself, at run time and kept current, from ConfigMap
kube-system/extension-apiserver-authentication (unless `fromCluster: false`).
Returns JSON {ca, allowedNames, usernameHeaders, groupHeaders, extraHeadersPrefix}.
*/}}
{{- define "lws-autoscaler.requestheader" -}}
{{- $values := .Values.auth.requestheader }}
{{- toJson (dict "ca" $values.clientCA "allowedNames" $values.allowedNames "usernameHeaders" $values.usernameHeaders "groupHeaders" $values.groupHeaders "extraHeadersPrefix" $values.extraHeadersPrefix) }}
{{- end }}

{{/* Policies given inline, parsed: a list of {key, doc} with doc a mapping. */}}
{{- define "lws-autoscaler.inlinePolicies" -}}
{{- $out := list }}
{{- range $key, $value := .Values.policies.inline }}
{{- $doc := $value }}
{{- if kindIs "string" $value }}
{{- $doc = fromYaml $value }}
{{- if hasKey $doc "Error" }}
{{- fail (printf "policies.inline.%s is not valid YAML: %s" $key (get $doc "Error")) }}
{{- end }}
{{- end }}
{{- $out = append $out (dict "key" $key "doc" $doc) }}
{{- end }}
{{- toJson $out }}
{{- end }}

{{/* "true" when an auto/true/false switch is on, given the API it needs. */}}
{{- define "lws-autoscaler.switch" -}}
{{- $value := toString .value }}
{{- if or (eq $value "true") (and (eq $value "auto") (.root.Capabilities.APIVersions.Has .api)) }}true{{ end }}
{{- end }}

{{/* "true" when the ServiceMonitor is rendered. `auto` also needs a way through the
server's authorisation of /metrics: auth off, or a token for Prometheus to send. Without
one every scrape gets 401, and the target (and LwsAutoscalerDown) would be down for ever. */}}
{{- define "lws-autoscaler.serviceMonitorRendered" -}}
{{- $canAuthenticate := or .Values.auth.disable .Values.serviceMonitor.bearerTokenFile }}
{{- $auto := eq (toString .Values.serviceMonitor.enabled) "auto" }}
{{- if and (include "lws-autoscaler.switch" (dict "value" .Values.serviceMonitor.enabled "api" "monitoring.coreos.com/v1/ServiceMonitor" "root" .)) (or (not $auto) $canAuthenticate) }}true{{ end }}
{{- end }}

{{/* A duration of the schema's form ("15s", "1m30s", "500ms") in seconds, e.g. "1m30s"
-> 60 + 30 = 90. */}}
{{- define "lws-autoscaler.seconds" -}}
{{- $total := 0.0 }}
{{- $unitSeconds := dict "ms" 0.001 "s" 1.0 "m" 60.0 "h" 3600.0 }}
{{- range regexFindAll "[0-9.]+(ms|s|m|h)" (toString .) -1 }}
{{- $unit := regexFind "(ms|s|m|h)$" . }}
{{- $total = addf $total (mulf (float64 (trimSuffix $unit .)) (get $unitSeconds $unit)) }}
{{- end }}
{{- $total }}
{{- end }}

{{/* Cross-field checks that JSON Schema cannot express clearly; run from the Deployment. */}}
{{- define "lws-autoscaler.validateValues" -}}
{{- include "lws-autoscaler.checkLabels" . }}
{{- if and .Values.server.insecure .Values.apiService.enabled }}
{{- fail "server.insecure=true serves plain HTTP, which the Kubernetes aggregator cannot use: set apiService.enabled=false as well (local experiments only)" }}
{{- end }}
{{- if and .Values.policies.existingConfigMap .Values.policies.inline }}
{{- fail "set either policies.inline or policies.existingConfigMap, not both" }}
{{- end }}
{{- if and .Values.hpa.create .Values.policies.existingConfigMap }}
{{- fail "hpa.create needs the policies inline (policies.inline): the chart cannot read policies.existingConfigMap at render time" }}
{{- end }}
{{- /* The server refuses these at start-up (a crash loop); say it at install time. A
decision must outlive one late cycle, and a lease one missed renewal. */}}
{{- $cycle := include "lws-autoscaler.seconds" .Values.cycle | float64 }}
{{- range $key, $value := dict "maxDecisionAge" .Values.maxDecisionAge "leaderElection.leaseDuration" .Values.leaderElection.leaseDuration }}
{{- if and $value (lt (include "lws-autoscaler.seconds" $value | float64) (mulf 2.0 $cycle)) }}
{{- fail (printf "%s (%s) must be at least twice cycle (%s), or empty for the server default of three cycles" $key $value $.Values.cycle) }}
{{- end }}
{{- end }}
{{- $targets := dict }}
{{- range (include "lws-autoscaler.inlinePolicies" . | fromJsonArray) }}
{{- $doc := .doc }}
{{- if not (and (kindIs "map" $doc) $doc.spec $doc.spec.target $doc.spec.target.name $doc.spec.target.namespace) }}
{{- fail (printf "policies.inline.%s: a ScalingPolicy needs spec.target.namespace and spec.target.name" .key) }}
{{- end }}
{{- if not (and $doc.metadata $doc.metadata.name) }}
{{- fail (printf "policies.inline.%s: a ScalingPolicy needs metadata.name" .key) }}
{{- end }}
{{- /* The server refuses two policies for one LWS, and with hpa.create the two HPAs
would share a name: say so at install time, naming both keys. */}}
{{- $target := printf "%s/%s" $doc.spec.target.namespace $doc.spec.target.name }}
{{- if hasKey $targets $target }}
{{- fail (printf "policies.inline.%s and policies.inline.%s both target LWS %s: one policy per LWS" (get $targets $target) .key $target) }}
{{- end }}
{{- $_ := set $targets $target .key }}
{{- /* The server could not read that LWS: every decision would fail with a 403. */}}
{{- if and $.Values.rbac.create $.Values.rbac.namespaces (not (has $doc.spec.target.namespace $.Values.rbac.namespaces)) }}
{{- fail (printf "policies.inline.%s targets namespace %s, which rbac.namespaces (%s) leaves out: the server could not read its LeaderWorkerSet" .key $doc.spec.target.namespace (join ", " $.Values.rbac.namespaces)) }}
{{- end }}
{{- end }}
{{- end }}

{{/* An alert's labels: its severity, then prometheusRule.alertLabels (which cannot change the severity). */}}
{{- define "lws-autoscaler.alertLabels" -}}
{{ toYaml (merge (dict "severity" .severity) .extra) }}
{{- end }}

{{/* "true" when the replicas elect a Lease holder, else empty. Also with one replica: a
rolling update (maxSurge 1) runs the old pod and the new one side by side. */}}
{{- define "lws-autoscaler.leaderElection" -}}
{{- if .Values.leaderElection.enabled -}}
true
{{- end -}}
{{- end }}

{{- /*
The chart's own labels may not be set again in commonLabels or podLabels: rendered twice,
a key is a duplicate in the YAML, and a different app.kubernetes.io/name or instance on
the pods no longer matches the Deployment's selector, which the API server refuses.
*/}}
{{- define "lws-autoscaler.checkLabels" -}}
{{- $own := dict "helm.sh/chart" "" "app.kubernetes.io/name" "" "app.kubernetes.io/instance" "" "app.kubernetes.io/version" "" "app.kubernetes.io/managed-by" "" "app.kubernetes.io/part-of" "" }}
{{- range $field := list "commonLabels" "podLabels" }}
{{- range $key, $_ := (get $.Values $field | default dict) }}
{{- if hasKey $own $key }}
{{- fail (printf "%s.%s: the chart sets this label itself (app.kubernetes.io/name and instance are the Deployment's selector); remove it" $field $key) }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
