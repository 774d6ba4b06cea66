#!/usr/bin/env bash
# Download Trino's own clients once into a cache: the CLI (executable jar) and the JDBC driver.
#   scripts/fetch-trino-clients.sh [VERSION]    prints two lines on stdout: the CLI jar, then the JDBC jar
# Cache: $XTRINODE_CACHE_DIR, else $XDG_CACHE_HOME/xtrinode, else ~/.cache/xtrinode (as scripts/fetch-trino.sh).
# From Maven Central: io.trino:trino-cli:VERSION:executable (~10 MB) and io.trino:trino-jdbc:VERSION (~12 MB).
# Both need Java 11+ (`java -jar trino-cli-476-executable.jar --server ...`).
set -euo pipefail
version="${1:-476}"
cache="${XTRINODE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/xtrinode}/trino-clients-$version"
mkdir -p "$cache"
central="https://repo1.maven.org/maven2/io/trino"

fetch() {  # fetch <url> <file>: download to a temporary name, then rename (a cut download is never used)
  local url="$1" file="$2"
  if [[ -s "$file" ]]; then
    return 0
  fi
  echo "fetch-trino-clients: downloading $url" >&2
  if ! curl -fsSL --retry 3 -o "$file.part" "$url"; then
    echo "fetch-trino-clients: cannot download $url (is Maven Central reachable?)" >&2
    rm -f "$file.part"
    exit 1
  fi
  mv "$file.part" "$file"
}

cli="$cache/trino-cli-$version-executable.jar"
jdbc="$cache/trino-jdbc-$version.jar"
fetch "$central/trino-cli/$version/trino-cli-$version-executable.jar" "$cli"
fetch "$central/trino-jdbc/$version/trino-jdbc-$version.jar" "$jdbc"
echo "$cli"
echo "$jdbc"
