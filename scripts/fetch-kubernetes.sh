#!/usr/bin/env bash
# Build the real Kubernetes control plane for `xtrinode dev up --kube real`, once, into a cache.
#   scripts/fetch-kubernetes.sh [K8S_VERSION [ETCD_VERSION]]   prints the bin directory on stdout
# The bin directory holds kube-apiserver, kube-controller-manager, kube-scheduler and etcd.
# Cache: $XTRINODE_CACHE_DIR, else $XDG_CACHE_HOME/xtrinode, else ~/.cache/xtrinode, keyed by version
# (kubernetes-v1.37.2-etcd-v3.6.16/bin). Everything comes from the Go module proxy and builds with the
# local Go toolchain: the first build takes ~13 minutes on two busy cores (kube-apiserver alone is most
# of it), later runs print the cached directory at once. Idempotent and safe to run concurrently: a
# second caller waits on a lock and then finds the finished directory.
set -euo pipefail
k8s="${1:-${XTRINODE_KUBE_VERSION:-1.37.2}}"
etcd="${2:-${XTRINODE_ETCD_VERSION:-3.6.16}}"
k8s="${k8s#v}"
etcd="${etcd#v}"
tool=fetch-kubernetes
source "$(dirname "${BASH_SOURCE[0]}")/lib/cache.sh"
home="$cache/kubernetes-v$k8s-etcd-v$etcd"
bin="$home/bin"
out="$bin"
binaries=(kube-apiserver kube-controller-manager kube-scheduler etcd)

complete() { [[ -f "$home/.complete" ]] && for b in "${binaries[@]}"; do [[ -x "$bin/$b" ]] || return 1; done; }

cache_begin
go_build_env
mkdir -p "$bin"

build_kube() {
  local name
  go_module_source "k8s.io/kubernetes@v$k8s" "$work/src"
  # go.mod replaces k8s.io/api etc. with ./staging/src/...; those nested modules are not in the module
  # zip, so point each at the published module of the same minor version (v1.37.2 -> v0.37.2).
  local staging="v0.${k8s#1.}"
  sed -i -E "s#^\t(k8s\.io/[a-z0-9-]+) => \./staging/src/k8s\.io/[a-z0-9-]+\$#\t\1 => \1 $staging#" "$work/src/go.mod"
  for name in kube-apiserver kube-controller-manager kube-scheduler; do
    [[ -x "$bin/$name" ]] && continue
    echo "fetch-kubernetes: building $name v$k8s (the first one takes ~13 minutes)" >&2
    (cd "$work/src" && go build -trimpath -o "$work/$name" "./cmd/$name")
    mv "$work/$name" "$bin/$name"
  done
}

build_etcd() {
  [[ -x "$bin/etcd" ]] && return 0
  echo "fetch-kubernetes: building etcd v$etcd" >&2
  mkdir -p "$work/etcd"
  (cd "$work/etcd" && go mod init xtrinode.local/etcd >/dev/null 2>&1 \
    && go get "go.etcd.io/etcd/server/v3@v$etcd" >&2 \
    && go build -trimpath -o "$work/etcd/etcd.bin" go.etcd.io/etcd/server/v3)
  mv "$work/etcd/etcd.bin" "$bin/etcd"
}

need_kube=0
for b in kube-apiserver kube-controller-manager kube-scheduler; do [[ -x "$bin/$b" ]] || need_kube=1; done
[[ $need_kube == 1 ]] && build_kube
build_etcd
echo "kubernetes v$k8s, etcd v$etcd, built $(date -u +%FT%TZ) in $((SECONDS - started))s" >"$home/.complete"
echo "fetch-kubernetes: done in $((SECONDS - started))s" >&2
echo "$bin"
