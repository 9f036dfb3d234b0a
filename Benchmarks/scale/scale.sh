#!/usr/bin/env bash
# Build and search cost per token as the corpus grows (issue 21): for each size, a synthetic
# corpus at dim 128 (documents of 60–140 tokens, float16 on disk), `plaid build` at defaults
# (2 bits) with its wall time, stage times and peak RSS, then single-thread search at k = 10 and
# k = 100 (queries/s, `--explain` per stage) and the share of exhaustive MaxSim's top-10 kept.
#
# Usage: Benchmarks/scale/scale.sh [PLAID] [WORK_DIR] [TOKENS...]
#   PLAID     the binary (default .build/release/plaid)
#   WORK_DIR  where corpora and indexes go (default /tmp/plaid-scale; 100M tokens need ~30 GB)
#   TOKENS    corpus sizes in tokens (default 1000000 8000000 32000000 100000000)
# Env: QUERIES (default 200) queries per size up to 8M tokens; EXACT_QUERIES (default 100) above
#   it, where the exhaustive reference is slow. SEARCH_ONLY=1 keeps an index already in
#   WORK_DIR/SIZE/index (and the figures of its build.log) and runs only the searches.
# Prints one Markdown row per size; logs stay in WORK_DIR/SIZE/.
set -euo pipefail
source "$(dirname "$0")/common.sh"
scale_arguments "$@"
plaid=$PLAID work=$WORK sizes=$SIZES
queries=${QUERIES:-200}
exact_queries=${EXACT_QUERIES:-100}
mkdir -p "$work"

rate() { grep -o '([0-9.]* queries/s)' "$1" | tail -1 | tr -d '(' | cut -d' ' -f1; }

echo "| tokens | centroids | whole build | k-means | residual coding | build tokens/s | peak build RSS | index bytes/token | k=10 queries/s | k=100 queries/s | exact top-10 kept (k=10) |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
for tokens in $sizes; do
    dir="$work/$tokens"; mkdir -p "$dir"
    documents=$(( tokens / 100 ))
    # Above 8M tokens exhaustive MaxSim takes minutes per query: fewer queries there.
    count=$(( tokens > 8000000 ? exact_queries : queries ))
    [ -d "$dir/corpus" ] || "$plaid" synthesize --documents "$documents" --dim 128 --queries "$count" --float16 --output "$dir/corpus" > /dev/null 2>&1
    if [ "${SEARCH_ONLY:-0}" != 1 ] || [ ! -d "$dir/index" ]; then
        rm -rf "$dir/index"
        /usr/bin/time -v "$plaid" build --embeddings "$dir/corpus" --index "$dir/index" > "$dir/build.log" 2>&1
    fi
    wall=$(grep -o 'built .*, [0-9.]* s$' "$dir/build.log" | grep -o '[0-9.]* s$' | cut -d' ' -f1)
    rss=$(awk '/Maximum resident set size/ { printf "%.0f MB", $NF / 1024 }' "$dir/build.log")
    kmeans=$(tr '\r' '\n' < "$dir/build.log" | grep -o 'k-means.* in [0-9.]*m*[0-9.]*s' | tail -1 | grep -o 'in [0-9.ms]*$' | cut -d' ' -f2)
    coding=$(tr '\r' '\n' < "$dir/build.log" | grep -o 'encoding residuals: .* in [0-9.]*m*[0-9.]*s' | tail -1 | grep -o 'in [0-9.ms]*$' | cut -d' ' -f2)
    info=$("$plaid" info --index "$dir/index" --json)
    centroids=$(echo "$info" | grep -o '"centroids" *: *[0-9]*' | grep -o '[0-9]*$')
    real_tokens=$(echo "$info" | grep -o '"tokens" *: *[0-9]*' | grep -o '[0-9]*$')
    bytes=$(echo "$info" | grep -o '"bytes_per_token" *: *[0-9.]*' | grep -o '[0-9.]*$')
    for k in 10 100; do
        "$plaid" query --index "$dir/index" --queries "$dir/corpus/queries" --k "$k" --threads 1 --explain \
            --output "$dir/plaid-k$k.run" > /dev/null 2> "$dir/query-k$k.log"
    done
    [ -f "$dir/exhaustive.run" ] || "$plaid" query --exhaustive --embeddings "$dir/corpus" --queries "$dir/corpus/queries" \
        --k 10 --output "$dir/exhaustive.run" > /dev/null 2> "$dir/exhaustive.log"
    echo "| $real_tokens | $centroids | $wall s | $kmeans | $coding | $(echo "$real_tokens / $wall" | bc) | $rss | $(printf "%.2f" "$bytes") | $(rate "$dir/query-k10.log") | $(rate "$dir/query-k100.log") | $(top10_kept "$dir/exhaustive.run" "$dir/plaid-k10.run") |"
done
