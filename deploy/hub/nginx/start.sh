#!/bin/sh
# Start nginx on MLHub's one public port (docs/configuration.md, "TLS and one public port
# (nginx)"): check everything first, render nginx.conf.in into the run directory, make a
# self-signed certificate once if asked to, then run nginx in the foreground. Any problem is
# one line on stderr and exit 1 before nginx starts: never a half-started nginx.
#
#   start.sh            check, render and run nginx (exec: its pid is this script's)
#   start.sh --check    check and render only; exit 0 when nginx would start
#
# Environment:
#   MLHUB_PUBLIC_URL            https://<host>[:port][/prefix/] people type (required, https)
#   MLHUB_BIND_URL              http://<address>:<port> where the Node proxy listens (required)
#   MLHUB_NGINX_LISTEN          the public port, address:port (default 0.0.0.0:<the public
#                               URL's port>; 0.0.0.0:8080 in the image)
#   MLHUB_HTTP_PORT             also answer plain http here, with a redirect to https (default:
#                               none; on the public port plain http would reach the gateway)
#   MLHUB_SSH_GATEWAY_ADDRESS   host:port of the SSH gateway (default 127.0.0.1:2222)
#   MLHUB_SSL_CERT, MLHUB_SSL_KEY
#                               certificate (chain) and key, PEM (default
#                               <resources>/ssl/cert.crt and cert.key)
#   SSL_ENABLED                 true: with no certificate there, make a self-signed one for
#                               <host> and *.<host> under <data>/ssl, once (default false)
#   MLHUB_DATA_DIR              default /data;  MLHUB_RESOURCES_DIR  default <data>/resources
#   MLHUB_NGINX_RUN_DIR         rendered config, pid file, sockets (default /run/mlhub-nginx
#                               as root, else <data>/nginx); nginx's workers must reach it
#   MLHUB_NGINX_USER            the workers' user when started as root (default www-data)
#   MLHUB_NGINX_MAX_BODY_SIZE   the largest request body (default 1g)
#   MLHUB_NGINX                 the nginx binary (default nginx)
set -eu

say() { echo "mlhub-nginx: $*" >&2; }
die() {
    say "error: $*"
    exit 1
}

check_only=false
case ${1:-} in
--check) check_only=true ;;
'') ;;
*) die "unknown argument $1 (only --check)" ;;
esac
here=$(cd "$(dirname "$0")" && pwd)

# Every value goes into nginx's configuration: only characters that cannot end a directive.
safe() { # safe NAME VALUE CHARACTERS (a bracket expression's inside, "]" first if any)
    case $2 in '' | *[!$3]*) die "$1=$2 has characters nginx's configuration cannot take" ;; esac
}
is_port() { # is_port VALUE
    case $1 in '' | *[!0-9]* | ??????*) return 1 ;; esac
    [ "$1" -ge 1 ] && [ "$1" -le 65535 ]
}
is_true() { # is_true NAME VALUE
    case $2 in
    1 | true | yes | on) return 0 ;;
    0 | false | no | off | '') return 1 ;;
    *) die "$1=$2 is not a boolean (use true or false)" ;;
    esac
}

# Where people come in ------------------------------------------------------------------------
public=${MLHUB_PUBLIC_URL:-}
public=${public%/}
case $public in
https://*) ;;
'') die "MLHUB_PUBLIC_URL is not set (https://<host>[:port])" ;;
*) die "MLHUB_PUBLIC_URL=$public must be https:// behind nginx's TLS" ;;
esac
host_port=${public#https://}
# A path is MLHub's prefix (MLHUB_BASE_URL), the portal's and the hub's to check: nginx passes
# every path on as it came, and sends plain http to the same path (http-redirect.conf.in).
host_port=${host_port%%/*}
public=https://$host_port
case $host_port in
*:*) host=${host_port%:*} port=${host_port##*:} ;;
*) host=$host_port port=443 ;;
esac
case $host in '' | *[!a-zA-Z0-9.-]*) host= ;; esac
if [ -z "$host" ] || ! is_port "$port"; then
    die "MLHUB_PUBLIC_URL=$public is not https://<host>[:port]"
fi
case $host in
*[!0-9.]*) is_ip=false server_names="$host *.$host" ;;
*) is_ip=true server_names=$host ;;
esac
suffix=":$port"
[ "$port" != 443 ] || suffix=

listen=${MLHUB_NGINX_LISTEN:-0.0.0.0:$port}
safe MLHUB_NGINX_LISTEN "$listen" ']a-zA-Z0-9.:[-'
listen_address=${listen%:*} listen_port=${listen##*:}
if [ "$listen_address" = "$listen" ] || ! is_port "$listen_port"; then
    die "MLHUB_NGINX_LISTEN=$listen is not address:port"
fi

http_port=${MLHUB_HTTP_PORT:-}
if [ -n "$http_port" ]; then
    is_port "$http_port" || die "MLHUB_HTTP_PORT=$http_port is not a port number"
    [ "$http_port" != "$listen_port" ] \
        || die "MLHUB_HTTP_PORT=$http_port is the public port (MLHUB_NGINX_LISTEN=$listen)"
fi

# Where nginx sends them ----------------------------------------------------------------------
bind=${MLHUB_BIND_URL:-}
bind=${bind%/}
case $bind in
http://*:*) proxy=${bind#http://} ;;
'') die "MLHUB_BIND_URL is not set: the Node proxy's own address behind nginx (http://127.0.0.1:<port>)" ;;
*) die "MLHUB_BIND_URL=$bind must be http://<address>:<port> (nginx does the TLS)" ;;
esac
safe MLHUB_BIND_URL "$bind" ']a-zA-Z0-9.:/[-'
is_port "${proxy##*:}" || die "MLHUB_BIND_URL=$bind must be http://<address>:<port> (nginx does the TLS)"
case ${proxy%:*} in
127.* | localhost | "[::1]" | "$listen_address")
    [ "${proxy##*:}" != "$listen_port" ] \
        || die "MLHUB_BIND_URL=$bind is nginx's own port (MLHUB_NGINX_LISTEN=$listen)"
    ;;
*) say "warning: the Node proxy at $bind is not on loopback: let nothing but nginx reach it (it believes X-Forwarded-Proto)" ;;
esac

ssh=${MLHUB_SSH_GATEWAY_ADDRESS:-127.0.0.1:2222}
safe MLHUB_SSH_GATEWAY_ADDRESS "$ssh" ']a-zA-Z0-9.:[-'
is_port "${ssh##*:}" || die "MLHUB_SSH_GATEWAY_ADDRESS=$ssh is not host:port"

max_body=${MLHUB_NGINX_MAX_BODY_SIZE:-1g}
case $max_body in
'' | *[!0-9kKmMgG]* | [!0-9]* | *[kKmMgG]?*) die "MLHUB_NGINX_MAX_BODY_SIZE=$max_body is not a size like 1g or 500m" ;;
esac

# Files ---------------------------------------------------------------------------------------
data=${MLHUB_DATA_DIR:-/data}
resources=${MLHUB_RESOURCES_DIR:-$data/resources}
if [ "$(id -u)" = 0 ]; then
    run=${MLHUB_NGINX_RUN_DIR:-/run/mlhub-nginx}
    worker=${MLHUB_NGINX_USER:-www-data}
    id -u "$worker" >/dev/null 2>&1 || die "MLHUB_NGINX_USER=$worker is not a user here"
    user_line="user $worker;"
else
    run=${MLHUB_NGINX_RUN_DIR:-$data/nginx}
    user_line="# Not started as root: the workers run as the same user."
fi
safe MLHUB_NGINX_RUN_DIR "$run" 'a-zA-Z0-9._/-'
case $run in /*) ;; *) die "MLHUB_NGINX_RUN_DIR=$run must be an absolute path" ;; esac
# A unix socket's path has at most 107 bytes.
[ ${#run} -le 90 ] || die "MLHUB_NGINX_RUN_DIR=$run is too long for a socket path (90 characters at most)"

# nginx and the modules it needs ------------------------------------------------------------
nginx=${MLHUB_NGINX:-nginx}
command -v "$nginx" >/dev/null 2>&1 \
    || die "nginx ($nginx) is not installed (Debian: apt-get install nginx libnginx-mod-stream)"
build=" $("$nginx" -V 2>&1 | tr '\n' ' ') "
load_stream="# The stream module is built in."
case $build in
*" --with-stream=dynamic "*)
    modules=$(printf '%s\n' "$build" | tr ' ' '\n' | sed -n 's/^--modules-path=//p')
    module=${modules:-/usr/lib/nginx/modules}/ngx_stream_module.so
    [ -f "$module" ] \
        || die "nginx's stream module $module is not installed (Debian: apt-get install libnginx-mod-stream)"
    load_stream="load_module $module;"
    ;;
*" --with-stream "*) ;;
*) die "nginx ($nginx) is built without the stream module" ;;
esac
for feature in http_ssl_module http_realip_module stream_ssl_preread_module stream_realip_module; do
    case $build in
    *" --with-$feature "*) ;;
    *) die "nginx ($nginx) is built without $feature" ;;
    esac
done

# The certificate -----------------------------------------------------------------------------
names_host() { # names_host FILE: does the certificate name the public host?
    if $is_ip; then
        openssl x509 -noout -checkip "$host" -in "$1" 2>/dev/null | grep -q 'does match'
    else
        openssl x509 -noout -checkhost "$host" -in "$1" 2>/dev/null | grep -q 'does match'
    fi
}

cert=${MLHUB_SSL_CERT:-$resources/ssl/cert.crt}
key=${MLHUB_SSL_KEY:-$resources/ssl/cert.key}
if [ -n "${MLHUB_SSL_CERT:-}${MLHUB_SSL_KEY:-}" ] || [ -e "$cert" ] || [ -e "$key" ]; then
    generated=false
    [ -f "$cert" ] || die "the certificate file $cert does not exist (MLHUB_SSL_CERT)"
    [ -f "$key" ] || die "the key file $key does not exist (MLHUB_SSL_KEY)"
elif is_true SSL_ENABLED "${SSL_ENABLED:-false}"; then
    generated=true
    folder=$data/ssl
    cert=$folder/cert.crt key=$folder/cert.key
    # Kept across restarts (browsers' exceptions, pinned copies stay valid); made again only
    # when missing, for another host, or within 30 days of its end.
    if ! { [ -s "$cert" ] && [ -s "$key" ] && names_host "$cert" \
        && openssl x509 -noout -checkend 2592000 -in "$cert" >/dev/null 2>&1; }; then
        if $is_ip; then names="IP:$host"; else names="DNS:$host,DNS:*.$host"; fi
        (umask 077 && mkdir -p "$folder") 2>/dev/null || die "cannot create $folder for the certificate"
        # keyCertSign and CA:TRUE (openssl's default): people may trust this one file as its
        # own authority (curl --cacert, a browser's import), as the tests do.
        (umask 077 && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
            -days 825 -subj "/CN=$host" -addext "subjectAltName=$names" \
            -addext "keyUsage=critical,digitalSignature,keyCertSign" \
            -addext "extendedKeyUsage=serverAuth" \
            -keyout "$key.new" -out "$cert.new") >/dev/null 2>&1 \
            || die "openssl could not make a certificate in $folder"
        mv "$key.new" "$key"
        mv "$cert.new" "$cert"
        say "made a self-signed certificate for $names: $cert"
    fi
else
    die "no certificate: mount $cert and $key (or set MLHUB_SSL_CERT and MLHUB_SSL_KEY), or set SSL_ENABLED=true to make a self-signed one"
fi
safe MLHUB_SSL_CERT "$cert" 'a-zA-Z0-9._/-'
safe MLHUB_SSL_KEY "$key" 'a-zA-Z0-9._/-'
[ -r "$cert" ] || die "the certificate file $cert cannot be read"
[ -r "$key" ] || die "the key file $key cannot be read"
openssl x509 -noout -in "$cert" >/dev/null 2>&1 \
    || die "the certificate file $cert is not a PEM certificate"
# -passin: an encrypted key fails here instead of asking for its passphrase.
openssl pkey -noout -passin pass: -in "$key" >/dev/null 2>&1 \
    || die "the key file $key is not an unencrypted PEM private key"
[ "$(openssl x509 -noout -pubkey -in "$cert" 2>/dev/null)" \
    = "$(openssl pkey -pubout -passin pass: -in "$key" 2>/dev/null)" ] \
    || die "the key file $key does not belong to the certificate $cert"
names_host "$cert" || say "warning: the certificate $cert does not name $host: browsers will refuse it"
openssl x509 -noout -checkend 0 -in "$cert" >/dev/null 2>&1 \
    || say "warning: the certificate $cert has expired: browsers will refuse it"

# Render --------------------------------------------------------------------------------------
pid=$(cat "$run/nginx.pid" 2>/dev/null || true)
if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && grep -q nginx "/proc/$pid/cmdline" 2>/dev/null; then
    die "nginx already runs from $run (pid $pid)"
fi
(umask 022 && mkdir -p "$run/tmp" "$run/http.d") 2>/dev/null || die "cannot create $run (MLHUB_NGINX_RUN_DIR)"
# The workers connect to the sockets in it; nothing in it is secret (the key stays put).
chmod 755 "$run"
if [ "$(id -u)" = 0 ] && command -v runuser >/dev/null 2>&1; then
    runuser -u "$worker" -- test -x "$run" \
        || die "nginx's workers ($worker) cannot reach MLHUB_NGINX_RUN_DIR=$run: make its folders searchable"
fi

render() { # render TEMPLATE: @NAME@ filled in (every value passed `safe` above)
    sed -e "s|@LOAD_STREAM_MODULE@|$load_stream|" -e "s|@USER@|$user_line|" \
        -e "s|@RUN_DIR@|$run|g" -e "s|@LISTEN@|$listen|g" -e "s|@SSH_GATEWAY@|$ssh|g" \
        -e "s|@PROXY@|$proxy|g" -e "s|@SERVER_NAMES@|$server_names|g" \
        -e "s|@PUBLIC_PORT@|$port|g" -e "s|@PUBLIC_PORT_SUFFIX@|$suffix|g" \
        -e "s|@PUBLIC_URL@|$public|g" -e "s|@SSL_CERT@|$cert|g" -e "s|@SSL_KEY@|$key|g" \
        -e "s|@MAX_BODY_SIZE@|$max_body|g" -e "s|@HTTP_LISTEN@|$listen_address:$http_port|g" \
        "$1"
}
render "$here/nginx.conf.in" >"$run/nginx.conf.new"
mv "$run/nginx.conf.new" "$run/nginx.conf"
rm -f "$run/http.d/"*.conf
if [ -n "$http_port" ]; then
    render "$here/http-redirect.conf.in" >"$run/http.d/http-redirect.conf"
fi

# Ports, then nginx's own check ---------------------------------------------------------------
# Any listener on the port counts (ss comes with Debian's nginx, through iproute2).
taken() { ss -Htln "sport = :$1" 2>/dev/null | grep -q .; }
if command -v ss >/dev/null 2>&1; then
    ! taken "$listen_port" || die "the public port $listen_port is already in use (MLHUB_NGINX_LISTEN=$listen)"
    [ -z "$http_port" ] || ! taken "$http_port" \
        || die "the http port $http_port is already in use (MLHUB_HTTP_PORT)"
fi
set -- "$nginx" -p "$run" -c "$run/nginx.conf" -e stderr
if ! out=$("$@" -t -q 2>&1); then
    # Its first complaint, without the time and process id before it.
    first=$(printf '%s\n' "$out" | sed -n 's/^.*\[emerg\] \([0-9]*#[0-9]*: \)\{0,1\}//p' | head -n 1)
    die "nginx refuses $run/nginx.conf: ${first:-$(printf '%s\n' "$out" | head -n 1)}"
fi
origin=mounted
! $generated || origin=generated
redirect=${http_port:+", http on $listen_address:$http_port redirected"}
if $check_only; then
    say "configuration ok: $run/nginx.conf"
    exit 0
fi
rm -f "$run/https.sock" "$run/ssh.sock"
say "$public on $listen ($origin certificate $cert), SSH to $ssh$redirect"
exec "$@"
