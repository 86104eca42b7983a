{{/*
Names follow the O-RAN SC xApp charts (the onboarder's xapp-std template): the xApp's name is
the descriptor's, its objects are named after "<namespace>-<name>", so that appmgr, the routing
manager and ricxappframe find them (service-ricxapp-csi-xapp-rmr, -http, and the environment
variables Kubernetes derives from those Services).
*/}}

{{- define "csi-xapp.descriptor" -}}
{{- .Files.Get "config/config-file.json" -}}
{{- end -}}

{{- define "csi-xapp.name" -}}
{{- (include "csi-xapp.descriptor" . | fromJson).name -}}
{{- end -}}

{{- define "csi-xapp.namespace" -}}
{{- .Release.Namespace | default "ricxapp" -}}
{{- end -}}

{{- define "csi-xapp.fullname" -}}
{{- printf "%s-%s" (include "csi-xapp.namespace" .) (include "csi-xapp.name" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "csi-xapp.service.rmr" -}}
{{- printf "service-%s-rmr" (include "csi-xapp.fullname" .) -}}
{{- end -}}

{{- define "csi-xapp.service.http" -}}
{{- printf "service-%s-http" (include "csi-xapp.fullname" .) -}}
{{- end -}}

{{- define "csi-xapp.configmap" -}}
{{- printf "configmap-%s-appconfig" (include "csi-xapp.fullname" .) -}}
{{- end -}}

{{- define "csi-xapp.selectorLabels" -}}
app.kubernetes.io/name: {{ include "csi-xapp.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "csi-xapp.labels" -}}
{{ include "csi-xapp.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: xapp
app.kubernetes.io/part-of: lasco-ric
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{/* The image reference: registry/repository, then :tag (default appVersion), then @digest. */}}
{{- define "csi-xapp.image" -}}
{{- $i := .Values.image -}}
{{- $ref := printf "%s/%s" $i.registry $i.repository -}}
{{- $tag := $i.tag | default .Chart.AppVersion -}}
{{- if $i.digest -}}
{{- printf "%s@%s" $ref $i.digest -}}
{{- else -}}
{{- printf "%s:%s" $ref $tag -}}
{{- end -}}
{{- end -}}

{{/* The descriptor's messaging ports, split by the O-RAN SC rule: a port whose name holds
"rmr" belongs to the RMR Service, any other to the HTTP Service. Output: JSON
{"rmr": [...], "http": [...]}, each list in the descriptor's order with rmrdata first. */}}
{{- define "csi-xapp.ports" -}}
{{- $d := include "csi-xapp.descriptor" . | fromJson -}}
{{- $rmr := list -}}
{{- $http := list -}}
{{- range $d.messaging.ports -}}
{{- if contains "rmr" .name -}}
{{- if eq .name "rmrdata" -}}
{{- $rmr = prepend $rmr . -}}
{{- else -}}
{{- $rmr = append $rmr . -}}
{{- end -}}
{{- else -}}
{{- $http = append $http . -}}
{{- end -}}
{{- end -}}
{{- dict "rmr" $rmr "http" $http | toJson -}}
{{- end -}}

{{/* Deep merge of the map "src" into the map "dst" (in place): maps merge key by key,
anything else (numbers, strings, lists, false, 0) replaces. */}}
{{- define "csi-xapp.merge" -}}
{{- $dst := index . 0 -}}
{{- range $k, $v := index . 1 -}}
{{- if and (kindIs "map" $v) (kindIs "map" (get $dst $k)) -}}
{{- include "csi-xapp.merge" (list (get $dst $k) $v) -}}
{{- else -}}
{{- $_ := set $dst $k $v -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* The controls the xApp runs with, as JSON: the descriptor's defaults, then what the
release's namespaces decide (this xApp's HTTP Service as submgr's callback host, the
platform's submgr), then .Values.controls. */}}
{{- define "csi-xapp.controls" -}}
{{- $c := (include "csi-xapp.descriptor" . | fromJson).controls -}}
{{- $plt := .Values.ric.platformNamespace -}}
{{- $sub := dict
  "callback_host" (printf "%s.%s" (include "csi-xapp.service.http" .) (include "csi-xapp.namespace" .))
  "submgr_url" (printf "http://service-%s-submgr-http.%s:8088/ric/v1" $plt $plt) -}}
{{- include "csi-xapp.merge" (list $c (dict "subscription" $sub)) -}}
{{- include "csi-xapp.merge" (list $c (deepCopy .Values.controls)) -}}
{{- toJson $c -}}
{{- end -}}

{{/* The descriptor the pod reads at $CONFIG_FILE: the shipped one with the release's image,
namespace and controls. */}}
{{- define "csi-xapp.configFile" -}}
{{- $d := include "csi-xapp.descriptor" . | fromJson -}}
{{- $controls := include "csi-xapp.controls" . | fromJson -}}
{{- $_ := set $d "controls" $controls -}}
{{- $_ := set $d "APP_NAMESPACE" (include "csi-xapp.namespace" .) -}}
{{- $c := index $d.containers 0 -}}
{{- $_ := set $c "image" (dict "registry" .Values.image.registry "name" .Values.image.repository "tag" (.Values.image.tag | default .Chart.AppVersion)) -}}
{{- $rmr := $d.rmr -}}
{{- $_ := set $rmr "maxSize" (max (int $rmr.maxSize) (int $controls.limits.max_payload_bytes)) -}}
{{- toPrettyJson $d -}}
{{- end -}}

{{- define "csi-xapp.dbaasHost" -}}
{{- $plt := .Values.ric.platformNamespace -}}
{{- .Values.ric.dbaas.host | default (printf "service-%s-dbaas-tcp.%s" $plt $plt) -}}
{{- end -}}

{{/* Settings the chart passes through the environment must not also be given in controls:
the environment would win (docs/xapp-settings.md) and the controls' value would be dead. */}}
{{- define "csi-xapp.checks" -}}
{{- $c := .Values.controls -}}
{{- if dig "telemetry" "token" "" $c -}}
{{- fail "controls.telemetry.token would be written into a ConfigMap: put the token in a Secret and name it in influxdb.tokenSecret" -}}
{{- end -}}
{{- if and .Values.influxdb.url (dig "telemetry" "influx_url" "" $c) -}}
{{- fail "set the InfluxDB URL once: influxdb.url or controls.telemetry.influx_url, not both" -}}
{{- end -}}
{{- if and .Values.modelStore.uri (dig "store" "uri" "" $c) -}}
{{- fail "set the model store once: modelStore.uri or controls.store.uri, not both" -}}
{{- end -}}
{{- $sub := (include "csi-xapp.controls" . | fromJson).subscription -}}
{{- range (include "csi-xapp.descriptor" . | fromJson).messaging.ports -}}
{{- if and (eq $sub.mode "submgr") (eq (int .port) (int $sub.callback_port)) -}}
{{- fail (printf "controls.subscription.callback_port %d is the %s port: choose another" (int .port) .name) -}}
{{- end -}}
{{- if and (eq .name "rmrdata") (ne (int .port) (int $sub.rmr_port)) -}}
{{- fail (printf "controls.subscription.rmr_port must be the xApp's RMR data port, %d" (int .port)) -}}
{{- end -}}
{{- end -}}
{{- end -}}
