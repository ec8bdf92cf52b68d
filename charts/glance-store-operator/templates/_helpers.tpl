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

{{/*
The watched namespaces, as a JSON list without empty names: `--set watchNamespaces={}` gives
[""], which must mean cluster-wide like [], never a Role in the release's namespace.
*/}}
{{- define "gso.watchNamespaces" -}}
{{- without (.Values.watchNamespaces | default list) "" | toJson -}}
{{- end -}}

{{/* The Kubernetes user the operator's pods run as: the admission policies match it. */}}
{{- define "gso.operatorUser" -}}
system:serviceaccount:{{ .Release.Namespace }}:{{ include "gso.serviceAccountName" . }}
{{- end -}}

{{/*
The rules below are kept equal to src/controller/rbac.ts by test/chart/chart.test.ts;
docs/security.md says why each one is needed.
*/}}

{{/* MANAGER_RULES: in every watched namespace (a Role each), or cluster-wide with watchNamespaces: []. */}}
{{- define "gso.managerRules" -}}
- apiGroups: ["glance.stores.dev"]
  resources: ["glancestores"]
  verbs: ["list", "watch", "patch"]
- apiGroups: ["glance.stores.dev"]
  resources: ["glancestores/status"]
  verbs: ["patch"]
- apiGroups: ["glance.stores.dev"]
  resources: ["glancestoretargets"]
  verbs: ["list", "watch"]
- apiGroups: ["glance.stores.dev"]
  resources: ["glancestoretargets/status"]
  verbs: ["patch"]
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["get", "list", "watch", "create", "update", "delete"]
- apiGroups: [""]
  resources: ["configmaps"]
  verbs: ["list", "watch", "create", "update", "delete"]
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["create"]
{{- end -}}

{{/* ROLLOUT_RULES: only with rollout.enabled. */}}
{{- define "gso.rolloutRules" -}}
- apiGroups: ["apps"]
  resources: ["deployments", "statefulsets"]
  verbs: ["list", "watch", "patch"]
{{- end -}}

{{/* METRICS_AUTH_RULES: cluster-scoped reviews, only with metrics.secure. */}}
{{- define "gso.metricsAuthRules" -}}
- apiGroups: ["authentication.k8s.io"]
  resources: ["tokenreviews"]
  verbs: ["create"]
- apiGroups: ["authorization.k8s.io"]
  resources: ["subjectaccessreviews"]
  verbs: ["create"]
{{- end -}}

{{/* METRICS_READER_RULES: for the scraper, bound by the user. */}}
{{- define "gso.metricsReaderRules" -}}
- nonResourceURLs: ["/metrics"]
  verbs: ["get"]
{{- end -}}

{{/* leaderElectionRules(<the Lease's name>): in the release's namespace. */}}
{{- define "gso.leaderElectionRules" -}}
- apiGroups: ["coordination.k8s.io"]
  resources: ["leases"]
  verbs: ["create"]
- apiGroups: ["coordination.k8s.io"]
  resources: ["leases"]
  resourceNames: [{{ include "gso.fullname" . | quote }}]
  verbs: ["get", "update"]
{{- end -}}
