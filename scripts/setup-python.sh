#!/usr/bin/env bash
# Sets up a Python virtual environment for plaid's Python package and its tests:
#   scripts/setup-python.sh [VENV]      (default .venv-python, kept out of git)
# It installs numpy and pytest, the package itself (pip install ./python, which builds plaid's
# library with swift), and PyLate 1.6 with CPU torch for the PyLate backend's tests. PyLate 1.6
# pins an old fast-plaid (and with it an old torch) that the backend does not use, so PyLate goes
# in without its dependencies, beside the ones it needs to load, encode and evaluate.
# Run scripts/setup.sh first (the system libraries). Idempotent; never reads stdin.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${1:-$ROOT/.venv-python}"

[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
PIP=("$VENV/bin/pip" install --quiet --disable-pip-version-check)
"${PIP[@]}" numpy pytest
# CPU torch: pip takes the local wheel where the machine has one.
"${PIP[@]}" "torch==2.13.0+cpu" || "${PIP[@]}" "torch==2.13.0"
"${PIP[@]}" "sentence-transformers==5.3.0" "transformers==5.3.0" tokenizers safetensors datasets ranx \
    "ujson==5.12.0" "ninja==1.11.1.4"
"${PIP[@]}" --no-deps "pylate==1.6.0" "fastkmeans==0.5.0"
"${PIP[@]}" "$ROOT/python"
echo "setup-python: $VENV ready ($("$VENV/bin/python" -c 'import plaid; print("plaid", plaid.__version__)'))" >&2
