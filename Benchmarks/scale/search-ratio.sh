#!/usr/bin/env bash
# Issue 21's search goal, measured as a ratio: single-thread queries/s at the largest size over
# the smallest, at k = 10 and k = 100, for one or more binaries in interleaved rounds (this
# machine is shared, so each figure is the median of ROUNDS runs and binaries are compared within
# one run). Each size's queries are repeated REPEAT times, so that a run lasts seconds rather
# than the index's first touches. Needs python3 with numpy (to repeat the queries).
#
# Usage: Benchmarks/scale/search-ratio.sh WORK_DIR ROUNDS REPEAT SMALL LARGE PLAID...
#   e.g. Benchmarks/scale/search-ratio.sh /tmp/plaid-scale 3 10 1000000 100000000 /tmp/old/plaid .build/release/plaid
set -euo pipefail
work=$1 rounds=$2 repeat=$3 small=$4 large=$5
shift 5
queries=$(mktemp -d)
trap 'rm -rf "$queries"' EXIT

for tokens in "$small" "$large"; do
    mkdir -p "$queries/$tokens"
    python3 - "$work/$tokens/corpus/queries" "$queries/$tokens" "$repeat" <<'EOF'
import json, sys
import numpy as np
source, target, repeat = sys.argv[1], sys.argv[2], int(sys.argv[3])
embeddings = np.load(f"{source}/query_embeddings.npy")
ids = json.load(open(f"{source}/query_ids.json"))
np.save(f"{target}/query_embeddings.npy", np.concatenate([embeddings] * repeat))
json.dump([f"{i}-{r}" for r in range(repeat) for i in ids], open(f"{target}/query_ids.json", "w"))
EOF
done

results=$(mktemp)
for round in $(seq "$rounds"); do
    for plaid in "$@"; do
        for tokens in "$small" "$large"; do
            for k in 10 100; do
                rate=$("$plaid" query --index "$work/$tokens/index" --queries "$queries/$tokens" --k "$k" --threads 1 \
                    --output /dev/null 2>&1 | sed -n 's/.*(\([0-9.]*\) queries\/s).*/\1/p' | tail -1)
                echo "$plaid $tokens $k $rate" >> "$results"
            done
        done
    done
done

echo "| binary | k | $small tokens q/s | $large tokens q/s | ratio |"
echo "|---|---|---|---|---|"
for plaid in "$@"; do
    for k in 10 100; do
        median() { awk -v p="$plaid" -v t="$1" -v k="$k" '$1 == p && $2 == t && $3 == k { print $4 }' "$results" | sort -g |
                   awk '{ v[NR] = $1 } END { print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }
        a=$(median "$small") b=$(median "$large")
        echo "| $plaid | $k | $a | $b | $(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.1f%%", 100 * b / a }') |"
    done
done
rm -f "$results"
