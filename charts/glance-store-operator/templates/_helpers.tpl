{{- define "gso.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "gso.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "gso.selectorLabels" -}}
app.kubernetes.io/name: {{ include "gso.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "gso.labels" -}}
{{ include "gso.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "gso.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "gso.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The rules the operator needs on namespaced resources; kept equal to src/controller/rbac.ts by a test. */}}
{{- define "gso.managerRules" -}}
- apiGroups: ["glance.stores.dev"]
  resources: ["glancestores"]
  verbs: ["get", "list", "watch", "update", "patch"]
- apiGroups: ["glance.stores.dev"]
  resources: ["glancestores/status"]
  verbs: ["get", "update", "patch"]
- apiGroups: ["glance.stores.dev"]
  resources: ["glancestores/finalizers"]
  verbs: ["update"]
- apiGroups: [""]
  resources: ["secrets", "configmaps"]
  verbs: ["get", "list", "watch", "create", "update", "patch", "delete"]
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["create", "patch"]
- apiGroups: ["apps"]
  resources: ["deployments", "statefulsets"]
  verbs: ["get", "list", "watch", "patch"]
{{- end -}}
