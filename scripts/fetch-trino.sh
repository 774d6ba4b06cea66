#!/usr/bin/env bash
# Download and unpack a real Trino server for the devstack kubelet (--trino-home), once, into a cache.
#   scripts/fetch-trino.sh [VERSION]      prints the Trino home directory on stdout
# Cache: $XTRINODE_CACHE_DIR, else $XDG_CACHE_HOME/xtrinode, else ~/.cache/xtrinode. The tarball comes
# from Maven Central (io.trino:trino-server, ~820 MB). Trino 476 runs on Java 24 or newer.
set -euo pipefail
version="${1:-476}"
cache="${XTRINODE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/xtrinode}"
home="$cache/trino-server-$version"
if [[ -x "$home/bin/launcher" ]]; then
  echo "$home"
  exit 0
fi
mkdir -p "$cache"
tarball="$cache/trino-server-$version.tar.gz"
url="https://repo1.maven.org/maven2/io/trino/trino-server/$version/trino-server-$version.tar.gz"
if [[ ! -s "$tarball" ]]; then
  echo "fetch-trino: downloading $url" >&2
  curl -fsSL --retry 3 -o "$tarball.part" "$url" || {
    echo "fetch-trino: cannot download $url (is Maven Central reachable?)" >&2
    rm -f "$tarball.part"
    exit 1
  }
  mv "$tarball.part" "$tarball"
fi
echo "fetch-trino: unpacking $tarball" >&2
work="$(mktemp -d "$cache/.unpack-XXXXXX")"
trap 'rm -rf "$work"' EXIT
tar -xzf "$tarball" -C "$work"
mv "$work/trino-server-$version" "$home"
rm -f "$tarball"   # the unpacked tree is what runs; keep the cache to one copy
echo "$home"
