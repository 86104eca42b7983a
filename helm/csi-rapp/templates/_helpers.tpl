{{/* Names, labels, images and the rApp's settings file. */}}

{{- define "csi-rapp.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "csi-rapp.fullname" -}}
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

{{- define "csi-rapp.selectorLabels" -}}
app.kubernetes.io/name: {{ include "csi-rapp.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "csi-rapp.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "csi-rapp.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: lasco-ric
{{- end }}

{{/* The rApp's service account. */}}
{{- define "csi-rapp.serviceAccountName" -}}
{{- default (include "csi-rapp.fullname" .) .Values.serviceAccount.name }}
{{- end }}

{{/* The adaptation Jobs' service account. */}}
{{- define "csi-rapp.jobServiceAccountName" -}}
{{- default (printf "%s-adaptation" (include "csi-rapp.fullname" . | trunc 52 | trimSuffix "-")) .Values.adaptationJobs.serviceAccount.name }}
{{- end }}

{{/* The namespace the adaptation Jobs run in. */}}
{{- define "csi-rapp.jobsNamespace" -}}
{{- default .Release.Namespace .Values.adaptationJobs.namespace }}
{{- end }}

{{/* "true" when the Jobs run in this cluster through the pod's service account (the chart
     then grants the Roles); empty otherwise. */}}
{{- define "csi-rapp.jobsInCluster" -}}
{{- if and .Values.adaptationJobs.enabled (not .Values.adaptationJobs.kubeconfig.secret.name) }}true{{ end }}
{{- end }}

{{/* An image reference from {registry, repository, tag, digest}: registry/repository, then
     @digest when one is given, else :tag (default appVersion). */}}
{{- define "csi-rapp.imageRef" -}}
{{- $image := .image }}
{{- $ref := printf "%s/%s" $image.registry $image.repository }}
{{- if $image.digest }}
{{- printf "%s@%s" $ref $image.digest }}
{{- else }}
{{- printf "%s:%s" $ref (default .appVersion $image.tag) }}
{{- end }}
{{- end }}

{{- define "csi-rapp.image" -}}
{{- include "csi-rapp.imageRef" (dict "image" .Values.image "appVersion" .Chart.AppVersion) }}
{{- end }}

{{/* The Jobs' image: adaptationJobs.image (an empty registry: image.registry), else, with
     an empty repository, the rApp's own. */}}
{{- define "csi-rapp.jobImage" -}}
{{- $jobImage := .Values.adaptationJobs.image }}
{{- if $jobImage.repository }}
{{- $image := dict "registry" (default .Values.image.registry $jobImage.registry) "repository" $jobImage.repository "tag" $jobImage.tag "digest" $jobImage.digest }}
{{- include "csi-rapp.imageRef" (dict "image" $image "appVersion" .Chart.AppVersion) }}
{{- else }}
{{- include "csi-rapp.image" . }}
{{- end }}
{{- end }}

{{/* Where files land in the rApp's pod. */}}
{{- define "csi-rapp.settingsDir" -}}/etc/csi-rapp{{- end }}
{{- define "csi-rapp.settingsFile" -}}{{ include "csi-rapp.settingsDir" . }}/settings.json{{- end }}
{{- define "csi-rapp.keyDir" -}}/var/run/secrets/lasco{{- end }}
{{- define "csi-rapp.kubeconfigDir" -}}/var/run/secrets/csi-rapp-kubeconfig{{- end }}

{{/* The rApp's settings file (JSON, schemas/rapp-settings.json): `settings` from the
     values, with the groups and fields the chart owns set from the rest of the values. */}}
{{- define "csi-rapp.settings" -}}
{{- $s := deepCopy (default (dict) .Values.settings) }}
{{- $_ := set $s "api" (dict "host" "0.0.0.0" "port" (int .Values.service.port)) }}
{{- $jobs := .Values.adaptationJobs }}
{{- $store := deepCopy (default (dict) (get $s "store")) }}
{{- if $jobs.enabled }}
{{- $limits := $jobs.resources.limits }}
{{- $j := dict "enabled" true }}
{{- $_ := set $j "image" (include "csi-rapp.jobImage" .) }}
{{- $_ := set $j "image_pull_policy" (default .Values.image.pullPolicy $jobs.image.pullPolicy) }}
{{- $_ := set $j "namespace" (include "csi-rapp.jobsNamespace" .) }}
{{- $_ := set $j "service_account" (include "csi-rapp.jobServiceAccountName" .) }}
{{- $_ := set $j "run_as_user" (int $jobs.runAsUser) }}
{{- $_ := set $j "cpu_request" (toString $jobs.resources.requests.cpu) }}
{{- $_ := set $j "cpu_limit" (ternary (toString (get $limits "cpu")) nil (hasKey $limits "cpu")) }}
{{- $_ := set $j "memory_request" (toString $jobs.resources.requests.memory) }}
{{- $_ := set $j "memory_limit" (toString $limits.memory) }}
{{- $_ := set $j "tmp_size_limit" (toString $jobs.tmp.sizeLimit) }}
{{- $_ := set $j "gpus" (int $jobs.gpus) }}
{{- $_ := set $j "gpu_node_selector" $jobs.gpu.nodeSelector }}
{{- $_ := set $j "gpu_tolerations" $jobs.gpu.tolerations }}
{{- $_ := set $j "labels" $jobs.labels }}
{{- $_ := set $j "key_secret" .Values.signingKey.secret.name }}
{{- $_ := set $j "key_secret_key" .Values.signingKey.secret.key }}
{{- $_ := set $j "env" $jobs.env }}
{{- $_ := set $j "env_from_secrets" $jobs.envFromSecrets }}
{{- $_ := set $j "ttl_s" (int $jobs.ttlSecondsAfterFinished) }}
{{- $_ := set $j "backoff_limit" (int $jobs.backoffLimit) }}
{{- $_ := set $j "deadline_s" (int $jobs.activeDeadlineSeconds) }}
{{- $_ := set $j "poll_s" $jobs.pollSeconds }}
{{- $_ := set $j "data_uri" (ternary $jobs.dataUri nil (not (empty $jobs.dataUri))) }}
{{- $_ := set $j "store_uri" (ternary $jobs.storeUri nil (not (empty $jobs.storeUri))) }}
{{- if $jobs.kubeconfig.secret.name }}
{{- $_ := set $j "kubeconfig" (printf "%s/config" (include "csi-rapp.kubeconfigDir" .)) }}
{{- else }}
{{- $_ := set $j "kubeconfig" nil }}
{{- end }}
{{- $_ := set $s "jobs" $j }}
{{- $_ := set $store "signing_key_file" nil }}
{{- else }}
{{- $_ := set $s "jobs" (dict "enabled" false) }}
{{- $_ := set $store "signing_key_file" (printf "%s/signing.key" (include "csi-rapp.keyDir" .)) }}
{{- end }}
{{- $_ := set $s "store" $store }}
{{- toPrettyJson $s }}
{{- end }}

{{/* checkov.io/skipN annotations from a list of "CHECK_ID=reason". */}}
{{- define "csi-rapp.checkovSkips" -}}
{{- range $i, $skip := . }}
checkov.io/skip{{ add1 $i }}: {{ $skip | quote }}
{{- end }}
{{- end }}
