{{/* A duration of values.yaml (30s, 15m, 6h, 1d; the schema allows only these forms) in seconds, for PromQL comparisons. */}}
{{- define "gso.seconds" -}}
{{- $text := toString . -}}
{{- $number := regexFind "^[0-9]+" $text -}}
{{- $unit := trimPrefix $number $text -}}
{{- mul (atoi $number) (get (dict "s" 1 "m" 60 "h" 3600 "d" 86400) $unit) -}}
{{- end -}}

{{/* The label matchers that pick this installation's series in alert expressions. */}}
{{- define "gso.alertSelector" -}}
{{- if .Values.prometheusRule.selector -}}
{{ .Values.prometheusRule.selector }}
{{- else -}}
job="{{ include "gso.fullname" . }}-metrics",namespace="{{ .Release.Namespace }}"
{{- end -}}
{{- end -}}
