#!/usr/bin/env bash
# Runs the Python package's tests (python/tests) in the environment scripts/setup-python.sh makes
# (VENV, default .venv-python), against the package installed from this checkout. The CLI
# parity test runs .build/release/plaid, so run it after `swift build -c release` (or the
# Swift tests). pytest's exit code fails the script, 5 (no test collected) included.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${1:-$ROOT/.venv-python}"
"$ROOT/scripts/setup-python.sh" "$VENV"
cd "$ROOT"   # not python/: the tests import the installed package, not the source folder
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
"$VENV/bin/python" -m pytest -q -p no:cacheprovider python/tests
