{{/* Names, labels and shared pod parts of the XTrinode chart. */}}

{{- define "xtrinode.systemNamespace" -}}{{ .Values.namespaces.system }}{{- end }}
{{- define "xtrinode.gatewayNamespace" -}}{{ .Values.namespaces.gateway }}{{- end }}

{{- define "xtrinode.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end }}

{{/* Labels of every object; "component" names the part (operator, worker, api-server, gateway, ...). */}}
{{- define "xtrinode.labels" -}}
app.kubernetes.io/name: xtrinode
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
app.kubernetes.io/part-of: xtrinode
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version }}
{{- end }}

{{/* Selector labels of a component's pods (immutable: Deployments, Services, PDBs, NetworkPolicies). */}}
{{- define "xtrinode.selector" -}}
app.kubernetes.io/name: xtrinode
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* The port of a host:port address (Temporal, Redis URL); `default` when there is none. */}}
{{- define "xtrinode.portOf" -}}
{{- $found := regexFind ":[0-9]+(/[^:]*)?$" .address -}}
{{- if $found -}}{{ regexFind "[0-9]+" $found }}{{- else -}}{{ .default }}{{- end -}}
{{- end }}

{{/* Temporal flags of `xtrinode worker` and `xtrinode operator` (YAML list items). */}}
{{- define "xtrinode.temporalArgs" -}}
- --temporal-address={{ .Values.temporal.address }}
- --temporal-namespace={{ .Values.temporal.namespace }}
- --task-queue={{ .Values.temporal.taskQueue }}
{{- with .Values.temporal.tls }}
{{- if and .enabled (not .existingSecret) }}
- --temporal-tls
{{- end }}
{{- if .existingSecret }}
{{- if .ca }}
- --temporal-tls-ca=/etc/xtrinode/temporal-tls/ca.crt
{{- end }}
{{- if .clientCertificate }}
- --temporal-tls-cert=/etc/xtrinode/temporal-tls/tls.crt
- --temporal-tls-key=/etc/xtrinode/temporal-tls/tls.key
{{- end }}
{{- end }}
{{- if .serverName }}
- --temporal-tls-server-name={{ .serverName }}
{{- end }}
{{- end }}
{{- end }}

{{/* The `temporal:` section of a settings file (gateway, API server); the API key comes from the environment. */}}
{{- define "xtrinode.temporalSettings" -}}
{{- $t := dict "address" .Values.temporal.address "namespace" .Values.temporal.namespace -}}
{{- with .Values.temporal.tls -}}
{{- if and .enabled (not .existingSecret) }}{{ $_ := set $t "tls" true }}{{ end -}}
{{- if .existingSecret -}}
{{- if .ca }}{{ $_ := set $t "tlsCaFile" "/etc/xtrinode/temporal-tls/ca.crt" }}{{ end -}}
{{- if .clientCertificate -}}
{{- $_ := set $t "tlsCertFile" "/etc/xtrinode/temporal-tls/tls.crt" -}}
{{- $_ := set $t "tlsKeyFile" "/etc/xtrinode/temporal-tls/tls.key" -}}
{{- end -}}
{{- end -}}
{{- if .serverName }}{{ $_ := set $t "tlsServerName" .serverName }}{{ end -}}
{{- end -}}
{{- toYaml $t -}}
{{- end }}

{{/* The Temporal API key as an environment variable named `.env`, from its Secret. */}}
{{- define "xtrinode.temporalApiKeyEnv" -}}
{{- with .root.Values.temporal.apiKey.existingSecret }}
- name: {{ $.env }}
  valueFrom:
    secretKeyRef:
      name: {{ . }}
      key: {{ $.root.Values.temporal.apiKey.existingSecretKey }}
{{- end }}
{{- end }}

{{/* Volumes and mounts every pod has: a writable /tmp (the root filesystem is read-only) and the Temporal TLS Secret. */}}
{{- define "xtrinode.commonVolumes" -}}
- name: tmp
  emptyDir:
    sizeLimit: 64Mi
{{- with .Values.temporal.tls.existingSecret }}
- name: temporal-tls
  secret:
    secretName: {{ . }}
    defaultMode: 0440
{{- end }}
{{- end }}

{{- define "xtrinode.commonMounts" -}}
- name: tmp
  mountPath: /tmp
{{- if .Values.temporal.tls.existingSecret }}
- name: temporal-tls
  mountPath: /etc/xtrinode/temporal-tls
  readOnly: true
{{- end }}
{{- end }}

{{/* Pod spec parts shared by every component: service account, security, scheduling. */}}
{{- define "xtrinode.podCommon" -}}
serviceAccountName: {{ .serviceAccount }}
automountServiceAccountToken: true
enableServiceLinks: false
securityContext:
  {{- toYaml .root.Values.podSecurityContext | nindent 2 }}
{{- with .root.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/* Environment of every container: no bytecode writes on the read-only filesystem, unbuffered logs. */}}
{{- define "xtrinode.commonEnv" -}}
- name: PYTHONDONTWRITEBYTECODE
  value: "1"
- name: PYTHONUNBUFFERED
  value: "1"
- name: TMPDIR
  value: /tmp
{{- if .Values.tracing.enabled }}
- name: OTEL_EXPORTER_OTLP_ENDPOINT
  value: {{ .Values.tracing.endpoint | quote }}
- name: OTEL_TRACES_SAMPLER
  value: parentbased_traceidratio
- name: OTEL_TRACES_SAMPLER_ARG
  value: {{ .Values.tracing.sampleRatio | toString | quote }}
{{- end }}
{{- with .Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Peers of the namespaces whose runtimes this installation runs (NetworkPolicy `to`/`from`). */}}
{{- define "xtrinode.runtimeNamespacePeers" -}}
{{- $pods := dict "matchLabels" (dict "app.kubernetes.io/name" "trino" "app.kubernetes.io/managed-by" "xtrinode") -}}
{{- if .Values.runtimeNamespaces }}
{{- range .Values.runtimeNamespaces }}
- namespaceSelector:
    matchLabels:
      kubernetes.io/metadata.name: {{ . }}
  podSelector:
    {{- toYaml $pods | nindent 4 }}
{{- end }}
{{- else }}
- namespaceSelector: {}
  podSelector:
    {{- toYaml $pods | nindent 4 }}
{{- end }}
{{- end }}

{{/* A peer: the pods of one component of this chart. */}}
{{- define "xtrinode.componentPeer" -}}
- namespaceSelector:
    matchLabels:
      kubernetes.io/metadata.name: {{ .namespace }}
  podSelector:
    matchLabels:
      {{- include "xtrinode.selector" (dict "component" .component) | nindent 6 }}
{{- end }}

{{/* Peers of the Kubernetes API server: its CIDRs, or any address. */}}
{{- define "xtrinode.kubeApiPeers" -}}
{{- if .Values.networkPolicy.kubeAPI.cidrs }}
{{- range .Values.networkPolicy.kubeAPI.cidrs }}
- ipBlock:
    cidr: {{ . }}
{{- end }}
{{- else }}
- ipBlock:
    cidr: 0.0.0.0/0
- ipBlock:
    cidr: ::/0
{{- end }}
{{- end }}

{{/* Egress rules every control-plane pod needs: DNS, the Kubernetes API (when `kube`) and Temporal (when `temporal`). */}}
{{- define "xtrinode.baseEgress" -}}
- to:
    - namespaceSelector:
        matchLabels:
          kubernetes.io/metadata.name: {{ .root.Values.namespaces.dns }}
  ports:
    - {port: 53, protocol: UDP}
    - {port: 53, protocol: TCP}
{{- if .kube }}
- to:
    {{- include "xtrinode.kubeApiPeers" .root | nindent 4 }}
  ports:
    {{- range .root.Values.networkPolicy.kubeAPI.ports }}
    - {port: {{ . }}, protocol: TCP}
    {{- end }}
{{- end }}
{{- if .root.Values.tracing.enabled }}
- {{- with .root.Values.tracing.to }}
  to:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  ports:
    - port: {{ include "xtrinode.portOf" (dict "address" .root.Values.tracing.endpoint "default" (ternary "443" "80" (hasPrefix "https://" .root.Values.tracing.endpoint))) }}
      protocol: TCP
{{- end }}
{{- if .temporal }}
- {{- with .root.Values.networkPolicy.temporal.to }}
  to:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  ports:
    - port: {{ include "xtrinode.portOf" (dict "address" .root.Values.temporal.address "default" "7233") }}
      protocol: TCP
{{- end }}
{{- end }}
