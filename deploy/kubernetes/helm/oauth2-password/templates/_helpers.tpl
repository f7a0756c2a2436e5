{{/* The release's resource names, at most 63 characters. */}}
{{- define "oauth2-password.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "oauth2-password.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "oauth2-password.labels" -}}
{{ include "oauth2-password.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "oauth2-password.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{- define "oauth2-password.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{ .Values.serviceAccount.name | default (include "oauth2-password.fullname" .) }}
{{- else -}}
{{ .Values.serviceAccount.name | default "default" }}
{{- end -}}
{{- end -}}

{{/* The Secret holding the database URL. */}}
{{- define "oauth2-password.databaseSecret" -}}
{{ .Values.database.existingSecret | default (include "oauth2-password.fullname" .) }}
{{- end -}}

{{/* The Secret holding the provision keys, one key per service. */}}
{{- define "oauth2-password.provisionKeysSecret" -}}
{{ .Values.existingProvisionKeysSecret | default (printf "%s-provision-keys" (include "oauth2-password.fullname" .)) }}
{{- end -}}

{{/* The store's environment: the URL from the Secret, or the embedded file
on the data volume. */}}
{{- define "oauth2-password.storeEnv" -}}
- name: OAUTH2_PASSWORD_DATABASE_URL
{{- if .Values.database.embedded }}
  value: sqlite:/data/oauth2-password.db
{{- else }}
  valueFrom:
    secretKeyRef:
      name: {{ include "oauth2-password.databaseSecret" . }}
      key: {{ if .Values.database.existingSecret }}{{ .Values.database.existingSecretKey }}{{ else }}database-url{{ end }}
{{- end }}
{{- end -}}

{{/* The serve pod: one container running the image's binary. */}}
{{- define "oauth2-password.podSpec" -}}
serviceAccountName: {{ include "oauth2-password.serviceAccountName" . }}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
# serve drains for up to 10 s after SIGTERM, after the preStop pause.
terminationGracePeriodSeconds: {{ add .Values.preStopSeconds 15 }}
securityContext:
  runAsNonRoot: true
  runAsUser: 65532
  runAsGroup: 65532
  fsGroup: 65532
  seccompProfile:
    type: RuntimeDefault
containers:
  - name: serve
    image: {{ include "oauth2-password.image" . }}
    imagePullPolicy: {{ .Values.image.pullPolicy }}
    command: ["/usr/local/bin/oauth2-password"]
    args:
      - serve
      - -config
      - /etc/oauth2-password/serve.yaml
      - -http
      - 0.0.0.0:{{ .Values.http.port }}
      {{- if .Values.grpc.enabled }}
      - -grpc
      - 0.0.0.0:{{ .Values.grpc.port }}
      {{- with .Values.grpc.defaultService }}
      - -grpc-default-service
      - {{ . | quote }}
      {{- end }}
      {{- end }}
      {{- if .Values.metrics.enabled }}
      - -metrics
      - 0.0.0.0:{{ .Values.metrics.port }}
      {{- end }}
      {{- range .Values.extraArgs }}
      - {{ . | quote }}
      {{- end }}
    env:
      {{- include "oauth2-password.storeEnv" . | nindent 6 }}
    ports:
      - name: http
        containerPort: {{ .Values.http.port }}
      {{- if .Values.grpc.enabled }}
      - name: grpc
        containerPort: {{ .Values.grpc.port }}
      {{- end }}
      {{- if .Values.metrics.enabled }}
      - name: metrics
        containerPort: {{ .Values.metrics.port }}
      {{- end }}
    readinessProbe:
      httpGet:
        path: /readyz
        port: http
      periodSeconds: 5
      failureThreshold: 2
    livenessProbe:
      httpGet:
        path: /healthz
        port: http
      periodSeconds: 10
      failureThreshold: 3
    lifecycle:
      preStop:
        sleep:
          seconds: {{ .Values.preStopSeconds }}
    resources:
      {{- toYaml .Values.resources | nindent 6 }}
    securityContext:
      allowPrivilegeEscalation: false
      readOnlyRootFilesystem: true
      capabilities:
        drop: ["ALL"]
    volumeMounts:
      - name: config
        mountPath: /etc/oauth2-password/serve.yaml
        subPath: serve.yaml
        readOnly: true
      - name: provision-keys
        mountPath: /etc/oauth2-password/provision-keys
        readOnly: true
      {{- if .Values.database.embedded }}
      - name: data
        mountPath: /data
      {{- end }}
volumes:
  - name: config
    configMap:
      name: {{ include "oauth2-password.fullname" . }}
  - name: provision-keys
    secret:
      secretName: {{ include "oauth2-password.provisionKeysSecret" . }}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}
