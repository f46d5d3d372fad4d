{{/*
Names. Every object is "<release>-<part>"; the release name is cut to 48 characters so the
longest name ("<release>-proxy-public") stays a valid 63-character DNS label.
*/}}
{{- define "mlhub.fullname" -}}
{{- .Release.Name | trunc 48 | trimSuffix "-" -}}
{{- end -}}

{{- define "mlhub.hubServiceAccount" -}}
{{- include "mlhub.fullname" . }}-hub
{{- end -}}

{{- define "mlhub.secretName" -}}
{{- include "mlhub.fullname" . }}-secrets
{{- end -}}

{{/* SQLite (no postgresql.url): the portal and the task cluster share one pod and volume. */}}
{{- define "mlhub.sqlite" -}}
{{- if not .Values.postgresql.url }}true{{ end -}}
{{- end -}}

{{/* The hub's database (hub.db): "postgres" or "sqlite-pvc"; by default PostgreSQL whenever
the chart is given one. */}}
{{- define "mlhub.hubDbType" -}}
{{- $db := .Values.hub.db -}}
{{- if $db.type -}}
{{- $db.type -}}
{{- else if or $db.url .Values.postgresql.url -}}
postgres
{{- else -}}
sqlite-pvc
{{- end -}}
{{- end -}}

{{/* The hub's PostgreSQL URL: hub.db.url, else postgresql.url's with the database name
"<its own>_hub" (the same server and user, the query kept). Secret: only the Secret holds it. */}}
{{- define "mlhub.hubDbUrl" -}}
{{- if .Values.hub.db.url -}}
{{- .Values.hub.db.url -}}
{{- else -}}
{{- $given := required "hub.db.type=postgres needs hub.db.url or postgresql.url" .Values.postgresql.url -}}
{{- $url := urlParse $given -}}
{{- $name := trimAll "/" (get $url "path") -}}
{{- if not $name -}}
{{- fail "postgresql.url names no database (…/<database>): the hub's would be named after it; set hub.db.url" -}}
{{- end -}}
{{- $_ := set $url "path" (printf "/%s_hub" $name) -}}
{{- urlJoin $url -}}
{{- end -}}
{{- end -}}

{{/* Labels: the usual app.kubernetes.io/* ones. */}}
{{- define "mlhub.labels" -}}
app.kubernetes.io/name: mlhub
app.kubernetes.io/instance: {{ .Release.Name | quote }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | quote }}
{{- end -}}

{{/* Selector labels of one component: (list $ "portal"). Never mlhub.origin: that label
marks workspace objects, which cleanup may delete. */}}
{{- define "mlhub.selectorLabels" -}}
{{- $ := index . 0 -}}
app.kubernetes.io/name: mlhub
app.kubernetes.io/instance: {{ $.Release.Name | quote }}
mlhub.component: {{ index . 1 }}
{{- end -}}

{{- define "mlhub.componentLabels" -}}
{{- $ := index . 0 -}}
{{ include "mlhub.labels" $ }}
app.kubernetes.io/component: {{ index . 1 }}
mlhub.component: {{ index . 1 }}
{{- end -}}

{{/* Addresses: the proxy's public port, and the Service DNS names between the pods. */}}
{{- define "mlhub.tlsAtProxy" -}}
{{- if and .Values.proxy.https.enabled (not .Values.ingress.enabled) }}true{{ end -}}
{{- end -}}

{{- define "mlhub.tlsSecretName" -}}
{{- if eq .Values.proxy.https.type "secret" -}}
{{- required "proxy.https.secret.name is required with proxy.https.type=secret" .Values.proxy.https.secret.name -}}
{{- else -}}
{{- include "mlhub.fullname" . }}-proxy-tls
{{- end -}}
{{- end -}}

{{- define "mlhub.publicUrl" -}}
{{- if .Values.mlhub.publicUrl -}}
{{- /* The origin only: a path it carries must be mlhub.baseUrl's (docs/configuration.md,
"A path prefix"), refused here as MLHub would refuse it at start. */ -}}
{{- $url := urlParse .Values.mlhub.publicUrl -}}
{{- $path := trimSuffix "/" (get $url "path") -}}
{{- $base := include "mlhub.baseUrl" . -}}
{{- if and $path (ne (printf "%s/" $path) $base) -}}
{{- fail (printf "mlhub.publicUrl=%s ends in %s/, but mlhub.baseUrl is %s: set mlhub.baseUrl to %s/ or leave the path out of mlhub.publicUrl" .Values.mlhub.publicUrl $path $base $path) -}}
{{- end -}}
{{- printf "%s://%s" (get $url "scheme") (get $url "host") -}}
{{- else -}}
{{- $tls := or .Values.proxy.https.enabled (and .Values.ingress.enabled (not (empty .Values.ingress.tls))) -}}
{{- $hosts := .Values.proxy.https.hosts -}}
{{- if and .Values.ingress.enabled .Values.ingress.hosts }}{{ $hosts = .Values.ingress.hosts }}{{ end -}}
{{- ternary "https" "http" $tls }}://{{ $hosts | first | default "localhost:8000" }}
{{- end -}}
{{- end -}}

{{- /* MLHUB_BASE_URL: mlhub.baseUrl with its trailing slash ("/", "/mlhub/"); the schema
has refused anything but a plain path. */ -}}
{{- define "mlhub.baseUrl" -}}
{{- printf "%s/" (trimSuffix "/" .Values.mlhub.baseUrl) -}}
{{- end -}}

{{- define "mlhub.hubUrl" -}}
http://{{ include "mlhub.fullname" . }}-hub:8081
{{- end -}}

{{- define "mlhub.proxyApiUrl" -}}
http://{{ include "mlhub.fullname" . }}-proxy-api:8001
{{- end -}}

{{- define "mlhub.portalUrl" -}}
http://{{ include "mlhub.fullname" . }}-portal:8010
{{- end -}}

{{- define "mlhub.workspaceImages" -}}
{{- $images := list (printf "%s:%s" .Values.singleuser.image.name (toString .Values.singleuser.image.tag)) -}}
{{- join "," (concat $images .Values.singleuser.images | uniq) -}}
{{- end -}}

{{/*
The environment of one MLHub container: (list $ "portal"|"tasks"|"hub"|"proxy"). Plain settings and
the paths of the secret files (NAME_FILE) only: a secret's value never appears here.
mlhub.env is merged last, so it wins over the chart's own settings.
*/}}
{{- define "mlhub.env" -}}
{{- $ := index . 0 -}}
{{- $component := index . 1 -}}
{{- $v := $.Values -}}
{{- $extra := $v.mlhub.env | default dict -}}
{{- $portalHost := printf "%s-portal" (include "mlhub.fullname" $) -}}
{{- $publicHost := include "mlhub.publicUrl" $ | urlParse | dig "host" "" | splitList ":" | first -}}
{{- $env := dict
  "EXECUTION_MODE" "k8s"
  "HUB_NAME" $v.mlhub.hubName
  "DEBUG" (ternary "true" "false" $v.mlhub.debug)
  "DJANGO_SETTINGS_MODULE" "portal.settings"
  "MLHUB_DATA_DIR" "/data"
  "MLHUB_PUBLIC_URL" (include "mlhub.publicUrl" $)
  "MLHUB_BASE_URL" (include "mlhub.baseUrl" $)
  "MLHUB_PORTAL_URL" (include "mlhub.portalUrl" $)
  "MLHUB_HUB_URL" (include "mlhub.hubUrl" $)
  "MLHUB_HUB_CONNECT_URL" (include "mlhub.hubUrl" $)
  "MLHUB_WORKSPACE_IMAGES" (include "mlhub.workspaceImages" $)
  "MLHUB_K8S_NAMESPACE" $.Release.Namespace
  "MLHUB_K8S_STORAGE_CLASS" $v.singleuser.storage.storageClass
  "MLHUB_K8S_STORAGE_CAPACITY" $v.singleuser.storage.capacity
  "MLHUB_K8S_GPU_RESOURCE" $v.singleuser.gpu.resourceName
  "MLHUB_K8S_IMAGE_PULL_POLICY" $v.singleuser.image.pullPolicy
  "MLHUB_CPU_MAX" (toString $v.singleuser.cpu.max)
  "MLHUB_DEFAULT_CPU" (toString $v.singleuser.cpu.default)
  "MLHUB_MEMORY_MAX" (toString $v.singleuser.memory.max)
  "MLHUB_DEFAULT_MEMORY" (toString $v.singleuser.memory.default)
  "MLHUB_GPUS_MAX" (toString $v.singleuser.gpu.max)
  "MLHUB_HUB_API_TOKEN_FILE" "/etc/mlhub/secrets/MLHUB_HUB_API_TOKEN"
  "MLHUB_OAUTH_CLIENT_SECRET_FILE" "/etc/mlhub/secrets/MLHUB_OAUTH_CLIENT_SECRET"
  "MLHUB_HUB_EVENTS_TOKEN_FILE" "/etc/mlhub/secrets/MLHUB_HUB_EVENTS_TOKEN"
-}}
{{- if eq $component "proxy" -}}
{{- /* Only what the proxy reads, and none of mlhub.env but the origin setting: a change
to anything else (the hub's, the portal's) leaves the proxy's pod, and its routes, alone. */ -}}
{{- $env = dict
  "DJANGO_SETTINGS_MODULE" "portal.settings"
  "MLHUB_DATA_DIR" "/data"
  "MLHUB_PUBLIC_URL" (include "mlhub.publicUrl" $)
  "MLHUB_BASE_URL" (include "mlhub.baseUrl" $)
  "MLHUB_PORTAL_URL" (include "mlhub.portalUrl" $)
  "MLHUB_HUB_URL" (include "mlhub.hubUrl" $)
-}}
{{- if hasKey $extra "MLHUB_SINGLE_ORIGIN" -}}
{{- $_ := set $env "MLHUB_SINGLE_ORIGIN" (toString $extra.MLHUB_SINGLE_ORIGIN) -}}
{{- end -}}
{{- $extra = dict -}}
{{- $_ := set $env "MLHUB_BIND_URL" "http://0.0.0.0:8000" -}}
{{- $_ := set $env "MLHUB_PROXY_API_URL" "http://0.0.0.0:8001" -}}
{{- $_ := set $env "MLHUB_CHP_PATH" "/opt/mlhub/proxy/node_modules/.bin/configurable-http-proxy" -}}
{{- $_ := set $env "CONFIGPROXY_AUTH_TOKEN_FILE" "/etc/mlhub/secrets/CONFIGPROXY_AUTH_TOKEN" -}}
{{- if include "mlhub.tlsAtProxy" $ -}}
{{- $_ := set $env "MLHUB_PROXY_SSL_CERT" "/etc/mlhub/tls/tls.crt" -}}
{{- $_ := set $env "MLHUB_PROXY_SSL_KEY" "/etc/mlhub/tls/tls.key" -}}
{{- end -}}
{{- else if eq $component "hub" -}}
{{- /* The proxy's public address, as the hub would start it (base URL, links). */ -}}
{{- $_ := set $env "MLHUB_BIND_URL" "http://0.0.0.0:8000" -}}
{{- $_ := set $env "MLHUB_HUB_BIND_URL" "http://0.0.0.0:8081" -}}
{{- /* The proxy is its own Deployment (templates/proxy.yaml): the hub neither starts nor
stops it, so a hub restart keeps every route; the hub re-syncs them when it is back. */ -}}
{{- $_ := set $env "MLHUB_PROXY_EXTERNAL" "true" -}}
{{- $_ := set $env "MLHUB_PROXY_API_URL" (include "mlhub.proxyApiUrl" $) -}}
{{- $_ := set $env "MLHUB_RESOURCES_DIR" "/resources" -}}
{{- $_ := set $env "CONFIGPROXY_AUTH_TOKEN_FILE" "/etc/mlhub/secrets/CONFIGPROXY_AUTH_TOKEN" -}}
{{- $_ := set $env "JUPYTERHUB_CRYPT_KEY_FILE" "/etc/mlhub/secrets/JUPYTERHUB_CRYPT_KEY" -}}
{{- else -}}
{{- $_ := set $env "SECRET_KEY_FILE" "/etc/mlhub/secrets/SECRET_KEY" -}}
{{- /* The hub calls the portal at its Service name; kubelet probes send Host: localhost. */ -}}
{{- $hosts := list $publicHost (printf ".%s" $publicHost) $portalHost (printf "%s.%s" $portalHost $.Release.Namespace) (printf "%s.%s.svc" $portalHost $.Release.Namespace) "localhost" "127.0.0.1" -}}
{{- $_ := set $env "ALLOWED_HOSTS" (join "," (uniq $hosts)) -}}
{{- /* X-Forwarded-For is appended by the Node proxy, and by the ingress controller. */ -}}
{{- $_ := set $env "MLHUB_TRUSTED_PROXY_COUNT" (ternary "2" "1" $v.ingress.enabled) -}}
{{- $_ := set $env "MLHUB_PORTAL_WORKERS" (toString $v.portal.workers) -}}
{{- end -}}
{{- if and $v.metrics.token (ne $component "proxy") -}}
{{- $_ := set $env "MLHUB_METRICS_TOKEN_FILE" "/etc/mlhub/secrets/MLHUB_METRICS_TOKEN" -}}
{{- end -}}
{{- range $name, $value := $extra -}}
{{- $_ := set $env $name (toString $value) -}}
{{- end -}}
{{- range $name, $value := $env }}
- name: {{ $name }}
  value: {{ $value | quote }}
{{- end }}
{{- if and (has $component (list "portal" "tasks")) $v.postgresql.url (not (hasKey $extra "DATABASE_URL")) }}
- name: DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "mlhub.secretName" $ }}
      key: DATABASE_URL
{{- end }}
{{- /* The task cluster's container is where backups run (docs/operations.md): it dumps the
hub's database too when that is postgresql.url's server and user, which it holds already. A
hub.db.url of its own (other credentials) stays the hub pod's alone. */ -}}
{{- if and (eq $component "tasks") (eq (include "mlhub.hubDbType" $) "postgres") (not $v.hub.db.url) (not (hasKey $extra "MLHUB_HUB_DB_URL")) }}
- name: MLHUB_HUB_DB_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "mlhub.secretName" $ }}
      key: MLHUB_HUB_DB_URL
{{- end }}
{{- if and (eq $component "hub") (eq (include "mlhub.hubDbType" $) "postgres") }}
{{- if not (hasKey $extra "MLHUB_HUB_DB_URL") }}
- name: MLHUB_HUB_DB_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "mlhub.secretName" $ }}
      key: MLHUB_HUB_DB_URL
{{- end }}
{{- if $v.hub.db.password }}
- name: PGPASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "mlhub.secretName" $ }}
      key: MLHUB_HUB_DB_PASSWORD
{{- end }}
{{- end }}
{{- end -}}

{{/* The secret files one component reads (items of the Secret volume). */}}
{{- define "mlhub.secretItems" -}}
{{- $names := list "MLHUB_HUB_API_TOKEN" "MLHUB_OAUTH_CLIENT_SECRET" "MLHUB_HUB_EVENTS_TOKEN" -}}
{{- if eq (index . 1) "proxy" -}}
{{- $names = list "CONFIGPROXY_AUTH_TOKEN" -}}
{{- else if eq (index . 1) "hub" -}}
{{- $names = concat $names (list "CONFIGPROXY_AUTH_TOKEN" "JUPYTERHUB_CRYPT_KEY") -}}
{{- else -}}
{{- $names = append $names "SECRET_KEY" -}}
{{- end -}}
{{- if and (index . 0).Values.metrics.token (ne (index . 1) "proxy") -}}
{{- $names = append $names "MLHUB_METRICS_TOKEN" -}}
{{- end -}}
{{- range $names }}
- key: {{ . }}
  path: {{ . }}
{{- end }}
{{- end -}}

{{- define "mlhub.secretVolume" -}}
- name: secrets
  secret:
    secretName: {{ include "mlhub.secretName" (index . 0) }}
    defaultMode: 0440
    items:
      {{- include "mlhub.secretItems" . | trim | nindent 6 }}
{{- end -}}

{{/* Container defaults: no privilege escalation, no capabilities, and the image read-only:
the processes write only to their volumes (/data, the hub's state) and to /tmp (mlhub.tmp). */}}
{{- define "mlhub.containerSecurity" -}}
securityContext:
  allowPrivilegeEscalation: false
  capabilities:
    drop: [ALL]
  readOnlyRootFilesystem: true
{{- end -}}

{{/* /tmp, a pod's own emptyDir under the read-only image: gunicorn's worker heartbeats,
uploads on their way, Python's temporary files. mlhub.tmpMount in each container,
mlhub.tmpVolume in each pod. */}}
{{- define "mlhub.tmpMount" -}}
- name: tmp
  mountPath: /tmp
{{- end -}}

{{- define "mlhub.tmpVolume" -}}
- name: tmp
  emptyDir: {}
{{- end -}}

{{- define "mlhub.podCommon" -}}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
# With the containers' own (mlhub.containerSecurity), what Kubernetes' "restricted" Pod
# Security Standard asks (tests/pod_security.py checks every pod).
securityContext:
  {{- toYaml .Values.securityContext | nindent 2 }}
  runAsNonRoot: true
  seccompProfile:
    type: RuntimeDefault
{{- end -}}

{{- define "mlhub.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag }}
{{- end -}}

{{/* The task cluster's container: its own Deployment with PostgreSQL, the portal's pod with
SQLite. Only it (not the portal) gets the hub ServiceAccount's token there: cleanup reads
and deletes workspace objects. */}}
{{- define "mlhub.tasksContainer" -}}
- name: tasks
  image: {{ include "mlhub.image" . }}
  imagePullPolicy: {{ .Values.image.pullPolicy }}
  command: [python, -m, django, qcluster]
  env:
    {{- include "mlhub.env" (list . "tasks") | trim | nindent 4 }}
  volumeMounts:
    - name: data
      mountPath: /data
    - name: secrets
      mountPath: /etc/mlhub/secrets
      readOnly: true
    {{- include "mlhub.tmpMount" . | nindent 4 }}
    {{- if include "mlhub.sqlite" . }}
    - name: kube-api-access
      mountPath: /var/run/secrets/kubernetes.io/serviceaccount
      readOnly: true
    {{- end }}
  {{- with .Values.resources.tasks }}
  resources:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- include "mlhub.containerSecurity" . | trim | nindent 2 }}
{{- end -}}
