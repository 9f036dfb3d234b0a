#!/usr/bin/env bash
# Runs the same jobs with two plaid binaries, side by side, and says whether their outputs are
# byte-identical and how their times compare (medians of interleaved rounds).
#
# Usage: Benchmarks/compare/compare-binaries.sh OLD_PLAID NEW_PLAID [WORK_DIR] [ROUNDS]
# Jobs: build from synthetic embeddings (10,000 documents of 60–140 tokens, dim 128), search it (k = 10 and 100,
# one thread), and, when the default model is set up, build from 300 SciFact texts and search
# their queries. Index files are compared file by file, runs byte by byte.
set -euo pipefail
old=$(realpath "$1"); new=$(realpath "$2")
work=${3:-/tmp/plaid-compare}; rounds=${4:-3}
repo=$(cd "$(dirname "$0")/../.." && pwd)
rm -rf "$work"; mkdir -p "$work"; cd "$work"

"$new" synthesize --documents 10000 --dim 128 --queries 200 --seed 7 --output syn > /dev/null 2>&1
texts=""
if [ -d "$repo/models/minilm-colbert" ] && [ -f "$repo/datasets/scifact/corpus.jsonl" ]; then
    head -n 300 "$repo/datasets/scifact/corpus.jsonl" > corpus.jsonl
    head -n 50 "$repo/datasets/scifact/queries.jsonl" > queries.jsonl
    texts=yes
fi

seconds() { local start=$(date +%s.%N); "$@" > /dev/null 2>&1; echo "$(date +%s.%N) - $start" | bc; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

declare -A times
for round in $(seq 1 "$rounds"); do
    for side in old new; do
        bin=${!side}
        rm -rf "$side-idx" "$side-text"
        times[$side-build]+="$(seconds "$bin" build --embeddings syn --index "$side-idx") "
        times[$side-k10]+="$(seconds "$bin" query --index "$side-idx" --queries syn/queries --k 10 --threads 1 --output "$side-k10.run") "
        times[$side-k100]+="$(seconds "$bin" query --index "$side-idx" --queries syn/queries --k 100 --threads 1 --output "$side-k100.run") "
        if [ -n "$texts" ]; then
            times[$side-text]+="$(seconds "$bin" build --collection corpus.jsonl --index "$side-text" --model "$repo/models/minilm-colbert") "
            "$bin" query --index "$side-text" --queries queries.jsonl --k 10 --model "$repo/models/minilm-colbert" --output "$side-text.run" > /dev/null 2>&1
        fi
    done
done

same() { if cmp -s "$1" "$2"; then echo identical; else echo DIFFERENT; fi; }
echo "outputs:"
for f in $(cd old-idx && find . -type f ! -name writer.lock | sort); do
    echo "  index $f: $(same "old-idx/$f" "new-idx/$f")"
done
echo "  run k=10: $(same old-k10.run new-k10.run)"
echo "  run k=100: $(same old-k100.run new-k100.run)"
[ -n "$texts" ] && echo "  text build + query run: $(same old-text.run new-text.run)"
echo "median seconds over $rounds interleaved rounds (old, new, new/old):"
for job in build k10 k100 ${texts:+text}; do
    o=$(echo ${times[old-$job]} | tr ' ' '\n' | median); n=$(echo ${times[new-$job]} | tr ' ' '\n' | median)
    printf "  %-6s %8.2f %8.2f %6.2f\n" "$job" "$o" "$n" "$(echo "$n / $o" | bc -l)"
done
