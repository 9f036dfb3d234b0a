#!/usr/bin/env bash
# Grouped search against scoring every centroid, on the same index (issue 21): for each size,
# searches WORK_DIR/SIZE/index and, where present, WORK_DIR/SIZE/index-ungrouped (the same build
# without its recorded groups, e.g. one made before groups were recorded) at k = 10 and k = 100 on
# one thread with `--explain`, and prints queries/s and the share of WORK_DIR/SIZE/exhaustive.run's
# top-10 that each run's top-10 keeps (scale.sh makes the corpora, indexes and exhaustive runs).
#
# Usage: Benchmarks/scale/compare-search.sh [PLAID] [WORK_DIR] [TOKENS...]
set -euo pipefail
source "$(dirname "$0")/common.sh"
scale_arguments "$@"
plaid=$PLAID work=$WORK sizes=$SIZES
runs=$(mktemp -d)
trap 'rm -rf "$runs"' EXIT

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
