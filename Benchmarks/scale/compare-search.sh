#!/usr/bin/env bash
# Grouped search against scoring every centroid, on the same index (issue 21): for each size,
# searches WORK_DIR/SIZE/index and, where present, WORK_DIR/SIZE/index-ungrouped (the same build
# without its recorded groups, e.g. one made before groups were recorded) at k = 10 and k = 100 on
# one thread with `--explain`, and prints queries/s and the share of WORK_DIR/SIZE/exhaustive.run's
# top-10 that each run's top-10 keeps (scale.sh makes the corpora, indexes and exhaustive runs).
#
# Usage: Benchmarks/scale/compare-search.sh [PLAID] [WORK_DIR] [TOKENS...]
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
plaid=$(realpath "${1:-$repo/.build/release/plaid}")
work=${2:-/tmp/plaid-scale}
shift $(( $# > 2 ? 2 : $# ))
sizes=${*:-1000000 8000000 32000000 100000000}
runs=$(mktemp -d)
trap 'rm -rf "$runs"' EXIT

top10_kept() {
    awk 'FNR == NR { if ($4 <= 10) ref[$1] = ref[$1] " " $3 " "; next }
         $4 <= 10 && ($1 in ref) && index(ref[$1], " " $3 " ") { kept[$1]++ }
         END { n = 0; s = 0; for (q in ref) { n++; s += kept[q] / 10 }; printf "%.3f", (n ? s / n : 0) }' "$1" "$2"
}

for tokens in $sizes; do
    dir="$work/$tokens"
    for k in 10 100; do
        for index in index index-ungrouped; do
            [ -d "$dir/$index" ] || continue
            "$plaid" query --index "$dir/$index" --queries "$dir/corpus/queries" --k "$k" --threads 1 --explain \
                --output "$runs/run" > /dev/null 2> "$runs/log"
            echo "## $tokens tokens, $index, k = $k: exact top-10 kept $(top10_kept "$dir/exhaustive.run" "$runs/run")"
            cat "$runs/log"
        done
    done
done
