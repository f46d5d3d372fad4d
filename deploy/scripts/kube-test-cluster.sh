#!/usr/bin/env bash
# A real Kubernetes 1.20.2 on this machine for the tests marked k8s: etcd, API server,
# controller manager, scheduler, and one node (containerd + kubelet), built from Debian
# bookworm's source package (no registry serves Kubernetes server binaries to these machines),
# and a cluster DNS (dnsmasq fed by kube_dns_sync.py; no kube-proxy, no CoreDNS).
# The measured recipe behind it: /work/shared/recipes/kubernetes-here/ and
# docs/kubernetes-test-cluster.md.
#
# usage (as root): kube-test-cluster.sh VERB
#   build               build the binaries once into the cache (skipped when cached)
#   up                  build if needed, start everything, wait for the node to be Ready, make
#                       the StorageClass mlhub-test and its PersistentVolumes (nothing to do
#                       when the API server already answers, the node is Ready and the DNS runs)
#   down                stop everything (images imported into the node are kept)
#   status              exit 0 when the API server answers, the node is Ready and the DNS runs
#   import-image IMAGE  copy a Docker image into the node (skipped when already there)
#   recycle-volumes     delete Released volumes, wipe their folders, make them again
#   kubeconfig          print the admin kubeconfig's path
#
# Environment: MLHUB_KUBE_CACHE (binaries; default /var/cache/mlhub/kube-<Debian version>),
# MLHUB_KUBE_DIR (certificates, etcd, node, logs, volumes; default /var/lib/mlhub-kube),
# MLHUB_KUBE_TIMEOUT (seconds to wait for each part, default 120), KUBECTL (default: the
# repository's .tools/bin/kubectl from `make setup`), MLHUB_KUBE_PV_COUNT / _PV_SIZE (24, 1Gi).
set -euo pipefail

KVER=1.20.5+really1.20.2-1.1+deb12u1   # Debian bookworm source package "kubernetes"
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
cache=${MLHUB_KUBE_CACHE:-/var/cache/mlhub/kube-$KVER}
bin=$cache/bin
state=${MLHUB_KUBE_DIR:-/var/lib/mlhub-kube}
pki=$state/pki run=$state/run logs=$state/logs node=$state/node volumes=$state/pv
kubeconfig=$state/admin.kubeconfig
kubectl_bin=${KUBECTL:-$repo/.tools/bin/kubectl}
timeout=${MLHUB_KUBE_TIMEOUT:-120}
pv_count=${MLHUB_KUBE_PV_COUNT:-24} pv_size=${MLHUB_KUBE_PV_SIZE:-1Gi}
api=https://127.0.0.1:6443
node_name=mlhub-node
bridge=cicni0 pod_cidr=10.244.0.0/24   # clear of Docker's pools (10.212.0.0/15 here)
gateway=${pod_cidr%.*}.1   # the bridge's address: the host as pods reach it, and their DNS
components="kube-apiserver kube-controller-manager kube-scheduler kubelet"
packages="etcd-server golang-go containerd containernetworking-plugins busybox-static openssl
          gcc libc6-dev iproute2 iptables curl util-linux python3 dnsmasq-base"

say() { echo "kube-test-cluster: $*"; }
die() { echo "kube-test-cluster: error: $*" >&2; exit 1; }
now() { date +%s.%N; }
took() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1fs", b - a }'; }
k() { "$kubectl_bin" --kubeconfig "$kubeconfig" "$@"; }

# The last lines of the logs that explain a failure, then exit.
fail_with_logs() {
    local message=$1; shift
    echo "kube-test-cluster: error: $message" >&2
    for name in "$@"; do
        echo "--- last lines of $logs/$name.log" >&2
        tail -n 25 "$logs/$name.log" >&2 2>/dev/null || echo "(no log)" >&2
    done
    exit 1
}

need_root() { [ "$(id -u)" -eq 0 ] || die "run as root (containerd, kubelet, mounts, iptables)"; }

# One verb at a time changes the cluster (two test sessions may call recycle-volumes at once).
lock() { mkdir -p "$state"; exec 9>"$state/lock"; flock 9; }

install_packages() {
    local missing=() p
    for p in $packages; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" \
            || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return
    say "installing Debian packages: ${missing[*]}"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
        --no-install-recommends "${missing[@]}"; } >/tmp/mlhub-kube-apt.log 2>&1 \
        || { tail -n 20 /tmp/mlhub-kube-apt.log >&2; die "apt-get install failed (log above)"; }
}

built() {
    local c
    for c in $components pause; do [ -x "$bin/$c" ] || return 1; done
}

# The mirror apt already uses (deb-src of the same place), in a private apt configuration so
# the system's sources stay untouched.
source_mirror() {
    local uri
    # shellcheck disable=SC2016  # apt's own $(FIELD) syntax, not the shell's
    uri=$(apt-get indextargets --format '$(REPO_URI) $(RELEASE)' 2>/dev/null \
        | awk '$2 == "bookworm" { print $1; exit }')
    echo "${MLHUB_KUBE_SOURCE_MIRROR:-${uri:-http://deb.debian.org/debian/}}"
}

build() {
    if built; then say "binaries cached in $bin"; return; fi
    need_root
    install_packages
    local work=$cache/work start t0
    start=$(now)
    rm -rf "$work" "$cache/bin.partial"
    mkdir -p "$work/apt/lists/partial" "$work/apt/cache/archives/partial" "$work/src" \
        "$cache/bin.partial"
    echo "deb-src $(source_mirror) bookworm main" >"$work/apt/sources.list"
    local apt_options=(-o "Dir::Etc::SourceList=$work/apt/sources.list"
        -o Dir::Etc::SourceParts=/nonexistent -o "Dir::State::Lists=$work/apt/lists"
        -o "Dir::Cache=$work/apt/cache" -o APT::Sandbox::User=root)
    t0=$(now)
    apt-get "${apt_options[@]}" update -qq
    (cd "$work/src" && apt-get "${apt_options[@]}" source --download-only -qq "kubernetes=$KVER") \
        || die "cannot download the source of kubernetes=$KVER (MLHUB_KUBE_SOURCE_MIRROR picks \
another mirror, e.g. http://snapshot.debian.org/archive/debian/20250520T000000Z/)"
    local k=$work/gopath/src/k8s.io/kubernetes
    mkdir -p "$k"
    tar xzf "$work/src/kubernetes_${KVER%%-*}.orig.tar.gz" -C "$k" --strip-components=1
    say "source downloaded and unpacked in $(took "$t0")"
    (
        cd "$k"
        # `-mod=vendor` wants go.mod updates: build in GOPATH mode from the vendor/ tree.
        export GOPATH=$work/gopath GOCACHE=$work/gocache GO111MODULE=off CGO_ENABLED=0 \
            GOFLAGS='' GOPROXY=off
        # The tarball lacks zz_generated.openapi.go ("undefined: openapi.GetOpenAPIDefinitions"):
        # generate it with the vendored openapi-gen, as Makefile.generated_files does.
        t0=$(now)
        go build -o "$work/openapi-gen" ./vendor/k8s.io/kube-openapi/cmd/openapi-gen
        inputs=$(grep -R --include='*.go' -l '+k8s:openapi-gen=' pkg cmd plugin vendor/k8s.io \
            | grep -v -E '^vendor/k8s.io/(code-generator|sample-apiserver)/|_test.go' \
            | xargs -n1 dirname | LC_ALL=C sort -u | sed 's#^#k8s.io/kubernetes/#' | paste -sd,)
        "$work/openapi-gen" -i "$inputs" -p k8s.io/kubernetes/pkg/generated/openapi \
            -O zz_generated.openapi -h vendor/k8s.io/code-generator/hack/boilerplate.go.txt \
            -r "$work/openapi-violations.report"
        echo "kube-test-cluster: openapi-gen in $(took "$t0")"
        # Stamp client-go's version too: the API server's /version answers with it, and
        # kubectl/Helm kubeVersion checks fail on v0.0.0.
        v=k8s.io/kubernetes/vendor/k8s.io/component-base/version
        cv=k8s.io/kubernetes/vendor/k8s.io/client-go/pkg/version
        flags="-s -w"
        for pkg in $v $cv; do
            flags+=" -X $pkg.gitVersion=v1.20.2 -X $pkg.gitMajor=1 -X $pkg.gitMinor=20"
        done
        for c in $components; do
            t0=$(now)
            go build -ldflags "$flags" -o "$cache/bin.partial/$c" "./cmd/$c"
            echo "kube-test-cluster: built $c in $(took "$t0")"
        done
        gcc -Os -static -o "$cache/bin.partial/pause" build/pause/linux/pause.c
    )
    rm -rf "$bin"
    mv "$cache/bin.partial" "$bin"
    rm -rf "$work"   # the Go build cache and the sources: about 1.5 GB
    say "built Kubernetes 1.20.2 into $bin in $(took "$start")"
}

api_answers() { [ -f "$pki/ca.crt" ] && curl -sf --max-time 3 --cacert "$pki/ca.crt" "$api/readyz" >/dev/null; }

node_ready() {
    [ "$(k get node "$node_name" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' \
        2>/dev/null)" = "True" ]
}

# The address the node and the API server advertise: the source of the default route, else
# the first global address that is not a bridge of Docker or of this cluster.
host_ip() {
    local ip
    ip=$(ip -4 route get 1.1.1.1 2>/dev/null | awk '{ for (i = 1; i < NF; i++) if ($i == "src") print $(i + 1) }')
    [ -n "$ip" ] || ip=$(ip -4 -o addr show scope global \
        | awk '$2 !~ /^(docker|br-|cicni|veth)/ { sub("/.*", "", $4); print $4; exit }')
    [ -n "$ip" ] || die "this machine has no global IPv4 address for the node"
    echo "$ip"
}

kubeconfig_for() {   # user, file
    cat >"$2" <<EOF
apiVersion: v1
kind: Config
clusters: [{name: mlhub-test, cluster: {server: "$api", certificate-authority-data: $(base64 -w0 "$pki/ca.crt")}}]
users: [{name: $1, user: {client-certificate-data: $(base64 -w0 "$pki/$1.crt"), client-key-data: $(base64 -w0 "$pki/$1.key")}}]
contexts: [{name: mlhub-test, context: {cluster: mlhub-test, user: $1}}]
current-context: mlhub-test
EOF
    chmod 600 "$2"
}

# Kept between runs (a stable kubeconfig for whoever copied it); made again when missing,
# expiring within a week, or made for another host address.
certs() {
    local ip=$1
    if [ -f "$pki/ca.crt" ] && [ "$(cat "$pki/host-ip" 2>/dev/null)" = "$ip" ] \
        && openssl x509 -checkend 604800 -noout -in "$pki/ca.crt" >/dev/null; then
        return
    fi
    rm -rf "$pki"; mkdir -p "$pki"
    (
        cd "$pki"; umask 077
        openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 365 \
            -subj /CN=mlhub-test-ca 2>/dev/null
        printf '[e]\nsubjectAltName=DNS:localhost,DNS:kubernetes.default.svc,IP:127.0.0.1,IP:10.0.0.1,IP:%s\nextendedKeyUsage=serverAuth\n' "$ip" >server.cnf
        printf '[e]\nextendedKeyUsage=clientAuth\n' >client.cnf
        sign() {
            openssl req -newkey rsa:2048 -nodes -keyout "$1.key" -out "$1.csr" -subj "$2" 2>/dev/null
            openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -out "$1.crt" \
                -days 365 -extfile "$3" -extensions e 2>/dev/null
        }
        sign apiserver /CN=kube-apiserver server.cnf
        sign admin "/O=system:masters/CN=admin" client.cnf
        sign kcm /CN=system:kube-controller-manager client.cnf
        sign scheduler /CN=system:kube-scheduler client.cnf
        sign node "/O=system:nodes/CN=system:node:$node_name" client.cnf
        openssl genrsa -out sa.key 2048 2>/dev/null
        echo "$ip" >host-ip
    )
    for user in kcm scheduler node; do kubeconfig_for "$user" "$pki/$user.kubeconfig"; done
    kubeconfig_for admin "$kubeconfig"
}

# setsid: the daemons outlive this script's process group (CI steps, terminals); 9>&-: they
# must not inherit the lock.
start() {
    local name=$1; shift
    setsid nohup "$@" >"$logs/$name.log" 2>&1 </dev/null 9>&- &
    echo $! >"$run/$name.pid"
}

# A pid or namespace file from before the last boot names someone else's process now.
since_boot() { [ -f "$1" ] && [ "$(stat -c %Y "$1")" -ge "$(awk '/^btime/ { print $2 }' /proc/stat)" ]; }

# Alive and not a zombie (PID 1 of these machines is slow to reap orphans).
live_pid() {
    local status
    status=$(sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' "/proc/$1/status" 2>/dev/null)
    [ -n "$status" ] && [ "$status" != Z ]
}

# A process between fork and exec, or inside execve before its arguments are mapped, shows an
# empty or borrowed command line for a moment: read it again for up to a second before judging.
ours() {
    local pid=$1 cmdline
    for _ in $(seq 10); do
        live_pid "$pid" || return 1
        cmdline=$({ tr '\0' ' ' <"/proc/$pid/cmdline"; } 2>/dev/null) || return 1
        if [ -n "$cmdline" ]; then
            grep -qF -e "$state" -e "$cache" -e kube-test-cluster <<<"$cmdline" && return 0
        fi
        sleep 0.1
    done
    return 1
}

pid_of() {   # the live process recorded for NAME, only when it is one of ours
    local pid
    since_boot "$run/$1.pid" || return 1
    pid=$(cat "$run/$1.pid")
    ours "$pid" || return 1
    echo "$pid"
}

# For the processes this run started and is waiting on: alive, whatever they show right now
# (a CI run once failed here with etcd alive: the cmdline test, most likely inside an exec).
running() {
    local pid
    pid=$(cat "$run/$1.pid" 2>/dev/null) && live_pid "$pid"
}

alive() { pid_of "$1" >/dev/null; }

# wait_until WHAT "PROCESSES THAT MUST STAY ALIVE" "LOGS TO SHOW ON FAILURE" COMMAND...
wait_until() {
    local what=$1 watched=$2 shown=$3 deadline name
    shift 3
    deadline=$((SECONDS + timeout))
    until "$@" >/dev/null 2>&1; do
        for name in $watched; do
            # shellcheck disable=SC2086  # word lists on purpose
            running "$name" || fail_with_logs "$name (pid $(cat "$run/$name.pid" 2>/dev/null \
                || echo none)) exited while waiting for $what" $shown
        done
        # shellcheck disable=SC2086
        [ "$SECONDS" -lt "$deadline" ] || fail_with_logs "$what not within ${timeout}s" $shown
        sleep 0.5
    done
}

control_plane() {
    local ip=$1
    start etcd etcd --name mlhub-test --data-dir "$run/etcd" \
        --listen-client-urls http://127.0.0.1:12379 --advertise-client-urls http://127.0.0.1:12379 \
        --listen-peer-urls http://127.0.0.1:12380 --initial-advertise-peer-urls http://127.0.0.1:12380 \
        --initial-cluster mlhub-test=http://127.0.0.1:12380
    # The kubelet client certificate and InternalIP: `kubectl logs/exec` need both. Every
    # address, not just 127.0.0.1: pods (the chart's hub and task cluster) reach the API at
    # the advertised one, the `kubernetes` Service's endpoint, as nothing routes its ClusterIP.
    start apiserver "$bin/kube-apiserver" --etcd-servers=http://127.0.0.1:12379 \
        --bind-address=0.0.0.0 --advertise-address="$ip" --secure-port=6443 \
        --tls-cert-file="$pki/apiserver.crt" --tls-private-key-file="$pki/apiserver.key" \
        --client-ca-file="$pki/ca.crt" --service-account-key-file="$pki/sa.key" \
        --service-account-signing-key-file="$pki/sa.key" \
        --service-account-issuer=https://kubernetes.default.svc \
        --service-cluster-ip-range=10.0.0.0/24 --authorization-mode=Node,RBAC \
        --allow-privileged=true --kubelet-client-certificate="$pki/admin.crt" \
        --kubelet-client-key="$pki/admin.key" --kubelet-preferred-address-types=InternalIP
    wait_until "the API server's /readyz" "etcd apiserver" "etcd apiserver" api_answers
    start kcm "$bin/kube-controller-manager" --kubeconfig="$pki/kcm.kubeconfig" \
        --authentication-kubeconfig="$pki/kcm.kubeconfig" \
        --authorization-kubeconfig="$pki/kcm.kubeconfig" --leader-elect=false \
        --service-account-private-key-file="$pki/sa.key" --root-ca-file="$pki/ca.crt" \
        --use-service-account-credentials --bind-address=127.0.0.1
    start scheduler "$bin/kube-scheduler" --kubeconfig="$pki/scheduler.kubeconfig" \
        --authentication-kubeconfig="$pki/scheduler.kubeconfig" \
        --authorization-kubeconfig="$pki/scheduler.kubeconfig" --leader-elect=false \
        --bind-address=127.0.0.1
}

# containerd + kubelet in a private mount namespace; pods use locally imported images only.
start_node() {
    local ip=$1 f
    mkdir -p "$node/img" "$node/cni" "$node/sysctl" "$node/imported"
    python3 "$here/kube_image_tar.py" "$node/img" "$bin/pause" /bin/busybox
    # The kubelet rewrites these machine-wide sysctls at start: give it copies to rewrite.
    for f in vm/overcommit_memory vm/panic_on_oom kernel/panic kernel/panic_on_oops \
        kernel/keys/root_maxkeys kernel/keys/root_maxbytes; do
        mkdir -p "$node/sysctl/$(dirname $f)"; cat "/proc/sys/$f" >"$node/sysctl/$f"
    done
    # restrict_oom_score_adj: without CAP_SYS_RESOURCE here, runc fails with "can't get final
    # child's PID from pipe" when it may not lower oom_score_adj.
    cat >"$node/containerd.toml" <<EOF
version = 2
root = "$node/c/root"
state = "$node/c/state"
[grpc]
  address = "$node/containerd.sock"
[ttrpc]
  address = "$node/containerd.sock.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "$node/c/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "local/pause:3.4"
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$node/cni"
EOF
    # A default route through the bridge: pods reach this machine's other addresses too (the
    # API server's advertised one); nothing forwards them further.
    cat >"$node/cni/10-mlhub.conflist" <<EOF
{"cniVersion": "0.4.0", "name": "mlhub-test", "plugins": [
  {"type": "bridge", "bridge": "$bridge", "isGateway": true,
   "ipam": {"type": "host-local", "ranges": [[{"subnet": "$pod_cidr"}]],
            "routes": [{"dst": "0.0.0.0/0"}], "dataDir": "$node/ipam"}},
  {"type": "loopback"}]}
EOF
    # makeIPTablesUtilChains false: the kubelet leaves this machine's iptables alone.
    cat >"$node/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
authentication: {anonymous: {enabled: false}, webhook: {enabled: false}, x509: {clientCAFile: $pki/ca.crt}}
authorization: {mode: AlwaysAllow}
cgroupDriver: cgroupfs
address: $ip
makeIPTablesUtilChains: false
failSwapOn: false
clusterDNS: [$gateway]
clusterDomain: cluster.local
evictionHard: {"memory.available": "100Mi", "nodefs.available": "1%", "imagefs.available": "1%"}
# No image garbage collection: the node's images are imported (imagePullPolicy Never), and on
# a disk 85% full the kubelet removed them mid-run, so pods never started (CI, 2026-12-06).
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
EOF
    cat >"$node/run.sh" <<EOF
#!/bin/bash
readlink /proc/self/ns/mnt >$run/node.mntns
for f in \$(cd $node/sysctl && find . -type f); do mount --bind $node/sysctl/\$f /proc/sys/\$f; done
containerd --config $node/containerd.toml >$logs/containerd.log 2>&1 & echo \$! >$run/containerd.pid
for i in \$(seq 60); do [ -S $node/containerd.sock ] && break; sleep 0.5; done
for t in pause busybox; do ctr -a $node/containerd.sock -n k8s.io images import $node/img/\$t.tar >/dev/null; done
$bin/kubelet --config=$node/kubelet.yaml --kubeconfig=$pki/node.kubeconfig \\
  --hostname-override=$node_name --node-ip=$ip --container-runtime=remote \\
  --container-runtime-endpoint=unix://$node/containerd.sock --root-dir=$node/kubelet \\
  --pod-infra-container-image=local/pause:3.4 >$logs/kubelet.log 2>&1 &
echo \$! >$run/kubelet.pid; wait
EOF
    chmod +x "$node/run.sh"
    rm -f "$run/containerd.pid" "$run/kubelet.pid"
    start node unshare -m --propagation private "$node/run.sh"
    wait_until "the node $node_name to be Ready" "node apiserver" "containerd kubelet node" \
        node_ready
}

# Docker sets the FORWARD policy to DROP and br_netfilter sends bridged frames through it:
# without this rule pods on the bridge cannot reach each other. Pod -> host (INPUT) and
# host -> pod (OUTPUT) do not pass FORWARD.
open_bridge() {
    command -v iptables >/dev/null || return 0
    local rule=(FORWARD -i "$bridge" -o "$bridge" -m comment --comment mlhub-kube-test -j ACCEPT)
    iptables -C "${rule[@]}" 2>/dev/null || iptables -I "${rule[@]:0:1}" 1 "${rule[@]:1}"
}

close_bridge() {
    command -v iptables >/dev/null || return 0
    while iptables -D FORWARD -i "$bridge" -o "$bridge" -m comment --comment mlhub-kube-test \
        -j ACCEPT 2>/dev/null; do :; done
}

# The bridge the CNI plugin would make at the first pod, made before: the DNS listens on its
# address, which only pods (and this machine) reach. The same address and a fixed MAC, as the
# plugin sets them (it takes over a bridge that has its gateway address).
make_bridge() {
    ip link show "$bridge" >/dev/null 2>&1 && return
    ip link add "$bridge" type bridge
    ip link set "$bridge" address "$(cat "/sys/class/net/$bridge/address")"
    ip addr add "$gateway/${pod_cidr#*/}" dev "$bridge"
    ip link set "$bridge" up
}

# What CoreDNS does on a real cluster, without kube-proxy: kube_dns_sync.py writes each
# Service's ready endpoint addresses (ClusterIPs route nowhere here) into a hosts file; dnsmasq
# re-reads it when it changes and answers <service>.<namespace>.svc.cluster.local from it with a
# 1 s TTL, nothing else in cluster.local, and forwards other names to this machine's resolvers.
start_dns() {
    make_bridge
    mkdir -p "$state/dns"
    # root: dnsmasq's default user might not read $state; it listens on the bridge only.
    start dnsmasq dnsmasq --keep-in-foreground --log-facility=- --conf-file=/dev/null \
        --pid-file --user=root --bind-interfaces --listen-address="$gateway" --no-hosts \
        --hostsdir="$state/dns" --local=/cluster.local/ --domain-needed --local-ttl=1 \
        --resolv-file=/etc/resolv.conf
    start dns-sync python3 "$here/kube_dns_sync.py" sync --api "$api" --ca "$pki/ca.crt" \
        --cert "$pki/admin.crt" --key "$pki/admin.key" --out "$state/dns/cluster"
}

dns_answers() {
    python3 "$here/kube_dns_sync.py" query --server "$gateway" kubernetes.default.svc.cluster.local
}

dns_running() { alive dnsmasq && alive dns-sync; }

# What 1.20 without a provisioner lacks: a default StorageClass and a pool of hostPath volumes.
storage() {
    k apply -f - >/dev/null <<EOF
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: mlhub-test
  annotations: {storageclass.kubernetes.io/is-default-class: "true"}
provisioner: kubernetes.io/no-provisioner
volumeBindingMode: Immediate
reclaimPolicy: Retain
EOF
    recycle_volumes
}

fresh_folder() { rm -rf --one-file-system "$1"; install -d -o 1000 -g 1000 -m 0777 "$1"; }

# Released volumes (their claim deleted) and missing ones are made again with empty folders.
recycle_volumes() {
    local phases name phase n manifest="" recycled=0
    phases=$(k get pv -l mlhub-test/pool=true \
        -o jsonpath='{range .items[*]}{.metadata.name}={.status.phase}{"\n"}{end}')
    for n in $(seq -w 1 "$pv_count"); do
        name=mlhub-test-$n
        phase=$(printf '%s\n' "$phases" | sed -n "s/^$name=//p")
        case $phase in
            Released | Failed) k delete pv "$name" --wait=true >/dev/null ;;
            "") ;;
            *) continue ;;
        esac
        fresh_folder "$volumes/$n"
        recycled=$((recycled + 1))
        manifest+="---
apiVersion: v1
kind: PersistentVolume
metadata: {name: $name, labels: {mlhub-test/pool: \"true\"}}
spec:
  capacity: {storage: $pv_size}
  accessModes: [ReadWriteOnce]
  persistentVolumeReclaimPolicy: Retain
  storageClassName: mlhub-test
  hostPath: {path: $volumes/$n, type: Directory}
"
    done
    [ -z "$manifest" ] || printf '%s' "$manifest" | k apply -f - >/dev/null
    say "volumes: $recycled made afresh, $pv_count in the pool of $pv_size each"
}

need_kubectl() {
    [ -x "$kubectl_bin" ] || die "no kubectl at $kubectl_bin: run \`make setup\` (or set KUBECTL)"
}

up() {
    need_root; need_kubectl; lock
    local start t0 ip
    start=$(now)
    if api_answers; then
        # The kubelet reports every 10 s; give a busy node that long, and a bit more.
        for _ in $(seq 30); do
            if node_ready; then break; fi
            sleep 0.5
        done
        if ! node_ready; then
            say "the API server answers but the node $node_name is not Ready: starting afresh"
        elif ! dns_running; then
            say "the API server answers but the cluster DNS is not running: starting afresh"
        else
            say "the API server already answers; nothing to start"; return
        fi
    fi
    # Half a cluster helps nobody: whatever this run started goes down again on a failure.
    trap 'down_quietly >/dev/null 2>&1' EXIT
    install_packages
    t0=$(now); build; say "phase build: $(took "$t0")"
    down_quietly
    # A fresh cluster each time: etcd, the kubelet's and containerd's state, pod addresses and
    # volumes from the last run. Imported images (containerd's root) are kept.
    rm -rf --one-file-system "$run" "$node/kubelet" "$node/c/state" "$node/ipam" "$volumes" \
        "$state/dns"
    mkdir -p "$run" "$logs" "$node" "$volumes"
    ip=$(host_ip)
    t0=$(now); certs "$ip"; say "phase certificates: $(took "$t0")"
    t0=$(now); control_plane "$ip"; say "phase control plane (API server ready): $(took "$t0")"
    start_dns   # answering by the time the node is Ready, for its first pods
    t0=$(now); start_node "$ip"; say "phase node (Ready): $(took "$t0")"
    open_bridge
    t0=$(now)
    wait_until "the cluster DNS at $gateway" "dnsmasq dns-sync" "dnsmasq dns-sync" dns_answers
    say "phase DNS (answering at $gateway): $(took "$t0")"
    t0=$(now)
    wait_until "the default service account" "kcm apiserver" kcm \
        k get serviceaccount default -n default
    storage
    say "phase storage: $(took "$t0")"
    trap - EXIT
    say "up in $(took "$start"): Kubernetes $(k version -o json 2>/dev/null \
        | sed -n 's/.*"gitVersion": "\(v1\.20[^"]*\)".*/\1/p' | tail -n1), \
node $node_name, kubeconfig $kubeconfig, logs in $logs"
}

stop_pid() {   # name: TERM, then KILL after 10 s
    local pid
    pid=$(pid_of "$1") || { rm -f "$run/$1.pid"; return 0; }
    kill "$pid" 2>/dev/null || { rm -f "$run/$1.pid"; return 0; }
    for _ in $(seq 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$run/$1.pid"
}

down_quietly() {
    local ctr=(ctr -a "$node/containerd.sock" -n k8s.io) task container pid ns
    stop_pid kubelet
    # Pods' processes and their shims outlive containerd: kill them through it first.
    if alive containerd; then
        for task in $("${ctr[@]}" tasks ls -q 2>/dev/null); do
            "${ctr[@]}" tasks kill -s SIGKILL "$task" 2>/dev/null || true
        done
        sleep 1
        for task in $("${ctr[@]}" tasks ls -q 2>/dev/null); do
            "${ctr[@]}" tasks delete -f "$task" >/dev/null 2>&1 || true
        done
        for container in $("${ctr[@]}" containers ls -q 2>/dev/null); do
            "${ctr[@]}" containers delete "$container" >/dev/null 2>&1 || true
        done
    fi
    stop_pid containerd
    # Whatever is left in the node's mount namespace (shims) or in the pods' cgroups.
    ns=""
    if since_boot "$run/node.mntns"; then ns=$(cat "$run/node.mntns"); fi
    # Never this machine's own namespace: that would be every process here.
    [ "$ns" != "$(readlink /proc/1/ns/mnt)" ] && [ "$ns" != "$(readlink /proc/self/ns/mnt)" ] \
        || ns=""
    for pid in /proc/[0-9]*; do
        pid=${pid#/proc/}
        if { [ -n "$ns" ] && [ "$(readlink "/proc/$pid/ns/mnt" 2>/dev/null)" = "$ns" ]; } \
            || grep -qs ':/kubepods' "/proc/$pid/cgroup"; then
            kill -9 "$pid" 2>/dev/null || true
        fi
    done
    for name in dns-sync dnsmasq node scheduler kcm apiserver etcd; do stop_pid "$name"; done
    ip link del "$bridge" 2>/dev/null || true
    close_bridge
}

down() {
    need_root; lock
    down_quietly
    say "stopped (state and logs kept in $state; images kept in the node)"
}

status() {
    if ! api_answers; then say "down: no API server answers at $api"; return 1; fi
    need_kubectl
    if ! node_ready; then say "the API server answers but the node $node_name is not Ready"; return 1; fi
    if ! dns_running; then
        say "the API server answers but the cluster DNS (dnsmasq, dns-sync) is not running"
        return 1
    fi
    say "up: $api answers, node $node_name Ready, cluster DNS at $gateway (dnsmasq pid \
$(pid_of dnsmasq), dns-sync pid $(pid_of dns-sync)), kubeconfig $kubeconfig"
}

# docker.io/library/ for short names, :latest when untagged: how containerd names them.
containerd_name() {
    local name=$1 first=${1%%/*}
    case $name in
        */*) case $first in *.* | *:* | localhost) ;; *) name=docker.io/$name ;; esac ;;
        *) name=docker.io/library/$name ;;
    esac
    case ${name##*/} in *:* | *@*) ;; *) name=$name:latest ;; esac
    echo "$name"
}

import_image() {
    local image=${1:?usage: import-image IMAGE} id name stamp t0 ctr=(ctr -a "$node/containerd.sock" -n k8s.io)
    need_root
    alive containerd || die "the node is not running: \`$0 up\` first"
    id=$(docker image inspect -f '{{.Id}}' "$image" 2>/dev/null) \
        || die "Docker has no image $image (is the engine up? is it built?)"
    name=$(containerd_name "$image")
    stamp=$node/imported/$(echo "$name" | tr '/:@' '___')
    lock
    if [ "$(cat "$stamp" 2>/dev/null)" = "$id" ] && "${ctr[@]}" images ls -q "name==$name" | grep -q .; then
        say "$image ($id) is already in the node"
        return
    fi
    t0=$(now)
    docker save "$image" | "${ctr[@]}" images import - >/dev/null
    mkdir -p "$node/imported"; echo "$id" >"$stamp"
    say "imported $image as $name into the node in $(took "$t0")"
}

case ${1:-} in
    build) need_root; lock; build ;;
    up) up ;;
    down) down ;;
    status) status ;;
    import-image) import_image "${2:-}" ;;
    recycle-volumes) need_root; need_kubectl; lock; api_answers || die "the cluster is down"; recycle_volumes ;;
    kubeconfig) echo "$kubeconfig" ;;
    *) sed -n '9,18p' "$0" >&2; exit 2 ;;
esac
