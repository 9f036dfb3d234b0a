#!/usr/bin/env bash
# A build spread over Ray tasks on a local Ray cluster, against one process building the same
# collection with the same codebook: wall time at 1, 2 and 4 workers, and whether the results match.
#
#   Benchmarks/distributed_build.sh RAY_VENV [WORK]
#
# RAY_VENV is a virtual environment with Ray (python3 -m venv V && V/bin/pip install ray). Needs
# .build/release/plaid (swift build -c release) and the default model (scripts/setup.sh).
# CORPUS (default SciFact's corpus.jsonl), QUERIES, WORKERS ("1 2 4") and SAMPLE (documents the
# codebook is trained on, 1000) can be set. Each worker gets PLAID_THREADS = cores / workers (at
# least 1), so on a 2-core machine the ratio is bounded by the cores: the point is the recipe and
# that its results are the single build's. Prints a Markdown table.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${1:?usage: Benchmarks/distributed_build.sh RAY_VENV [WORK]}"
WORK="${2:-/tmp/plaid-distributed-build}"
PLAID="$ROOT/.build/release/plaid"
CORPUS="${CORPUS:-$ROOT/datasets/scifact/corpus.jsonl}"
QUERIES="${QUERIES:-$ROOT/datasets/scifact/queries.jsonl}"
WORKERS="${WORKERS:-1 2 4}"
SAMPLE="${SAMPLE:-1000}"
CORES="$(nproc)"
PORT="${RAY_PORT:-6391}"

now() { date +%s.%N; }
seconds() { python3 -c "print(f'{$2 - $1:.1f}')"; }

rm -rf "$WORK" && mkdir -p "$WORK"
"$PLAID" codebook train --collection "$CORPUS" --sample-documents "$SAMPLE" --output "$WORK/codebook" --quiet

start=$(now)
"$PLAID" build --codebook "$WORK/codebook" --collection "$CORPUS" --index "$WORK/single" --quiet
single=$(seconds "$start" "$(now)")
"$PLAID" query --index "$WORK/single" --queries "$QUERIES" --k 10 --output "$WORK/single.run" --quiet

"$VENV/bin/ray" start --head --port "$PORT" --num-cpus 4 --include-dashboard=false --disable-usage-stats >"$WORK/ray-start.log" 2>&1
trap '"$VENV/bin/ray" stop --force >/dev/null 2>&1 || true' EXIT

echo "| workers | PLAID_THREADS each | wall s (segments + attach) | of which segments s | single process s | single / distributed | same ids and scores |"
echo "|---|---|---|---|---|---|---|"
for workers in $WORKERS; do
    threads=$(( CORES / workers )); [ "$threads" -ge 1 ] || threads=1
    start=$(now)
    "$VENV/bin/python" "$ROOT/examples/ray/build_with_ray.py" --collection "$CORPUS" --work "$WORK/ray-$workers" \
        --index "$WORK/ray-$workers/index" --shards "$workers" --threads-per-task "$threads" --codebook "$WORK/codebook" \
        --address auto --plaid "$PLAID" >"$WORK/ray-$workers.json"
    wall=$(seconds "$start" "$(now)")
    segments=$(python3 -c "import json; print(json.load(open('$WORK/ray-$workers.json'))['segments_seconds'])")
    "$PLAID" query --index "$WORK/ray-$workers/index" --queries "$QUERIES" --k 10 --output "$WORK/ray-$workers.run" --quiet
    same=$(cmp -s "$WORK/single.run" "$WORK/ray-$workers.run" && echo yes || echo NO)
    echo "| $workers | $threads | $wall | $segments | $single | $(python3 -c "print(f'{$single / $wall:.2f}')") | $same |"
done
