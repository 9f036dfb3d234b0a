#!/usr/bin/env bash
# plaid and xtr-warp-rs (WARP) side by side on one embeddings folder, in one run: build time,
# index bytes per token, queries/s at k = 10 and 100 on 1 and 2 threads (the engines alternate,
# ROUNDS times; each row gives both medians and the median of the rounds' ratios, since on a
# shared machine only same-round ratios compare), nDCG@10 and the share of exhaustive MaxSim's
# top-10 each keeps. Not part of CI; its results are in docs/benchmarks.md.
#
#   Benchmarks/compare_engines.sh EMB_DIR QRELS
#
# EMB_DIR: doc_embeddings.npy, doclens.npy, doc_ids.json (as `plaid encode --collection` writes
# them), and query_embeddings.npy, query_ids.json, or set QEMB_DIR to the queries' folder.
# QRELS: the qrels TSV of those queries (BEIR's qrels/test.tsv).
# Environment: WORK (default /tmp/compare-engines), ROUNDS (5), NBITS (2), PLAID (a plaid binary;
# default: built here in release), WARP_VENV (default Benchmarks/.venv-warp, created with
# xtr-warp-rs==2.1.0.2110 when missing; WARP brings torch 2.11 and runs on CPU), SEARCH_ONLY=1
# (reuse the indexes and the exhaustive run an earlier run left in WORK: search rows only).
set -euo pipefail

[ $# -eq 2 ] || { sed -n 2,16p "$0" >&2; exit 2; }
EMB=$(cd "$1" && pwd); QRELS=$(cd "$(dirname "$2")" && pwd)/$(basename "$2")
QEMB=${QEMB_DIR:-$EMB}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=${WORK:-/tmp/compare-engines}; ROUNDS=${ROUNDS:-5}; NBITS=${NBITS:-2}
WARP_VENV=${WARP_VENV:-$ROOT/Benchmarks/.venv-warp}
for f in doc_embeddings.npy doclens.npy doc_ids.json; do [ -f "$EMB/$f" ] || { echo "error: $EMB/$f is missing" >&2; exit 1; }; done
for f in query_embeddings.npy query_ids.json; do [ -f "$QEMB/$f" ] || { echo "error: $QEMB/$f is missing; set QEMB_DIR to the query embeddings' folder" >&2; exit 1; }; done
[ -f "$QRELS" ] || { echo "error: $QRELS is missing" >&2; exit 1; }
mkdir -p "$WORK/runs"

if [ -z "${PLAID:-}" ]; then
    (cd "$ROOT" && swift build -c release --product plaid >&2)
    PLAID=$ROOT/.build/release/plaid
fi
if [ ! -x "$WARP_VENV/bin/python" ]; then
    python3 -m venv "$WARP_VENV"
    "$WARP_VENV/bin/pip" install --quiet "xtr-warp-rs==2.1.0.2110" numpy >&2
fi
WARP=("$WARP_VENV/bin/python" "$ROOT/Benchmarks/compare_engines/warp_engine.py")
now() { date +%s.%N; }
json() { python3 -c "import json,sys; print(json.loads(sys.stdin.read().strip().splitlines()[-1])$1)"; }
median() { python3 -c "import statistics,sys; print(statistics.median(map(float, sys.argv[1:])))" "$@"; }

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); rounds: $ROUNDS" >&2

if [ "${SEARCH_ONLY:-0}" = 1 ]; then
    for f in plaid-index warp-index runs/exhaustive.run; do
        [ -e "$WORK/$f" ] || { echo "error: SEARCH_ONLY=1 needs $WORK/$f from an earlier run" >&2; exit 1; }
    done
    plaid_build=nan; warp_build=nan
    tokens=$(python3 -c "import numpy,sys; print(int(numpy.load(sys.argv[1]).sum()))" "$EMB/doclens.npy" 2>/dev/null \
             || "$WARP_VENV/bin/python" -c "import numpy,sys; print(int(numpy.load(sys.argv[1]).sum()))" "$EMB/doclens.npy")
else
    # Builds (both use every core).
    start=$(now); "$PLAID" build --embeddings "$EMB" --index "$WORK/plaid-index" --nbits "$NBITS" --overwrite --quiet; end=$(now)
    plaid_build=$(python3 -c "print($end - $start)")
    rm -rf "$WORK/warp-index"
    warp_build_json=$("${WARP[@]}" build "$EMB" "$WORK/warp-index" "$NBITS" "$(nproc)")
    warp_build=$(echo "$warp_build_json" | json "['build_seconds']")
    tokens=$(echo "$warp_build_json" | json "['tokens']")
    # The reference: exhaustive MaxSim over the uncompressed embeddings.
    "$PLAID" query --exhaustive --embeddings "$EMB" --queries "$QEMB" --k 100 --output "$WORK/runs/exhaustive.run" --quiet
fi
plaid_bytes=$(du -sb "$WORK/plaid-index" | cut -f1)
warp_bytes=$(du -sb "$WORK/warp-index" | cut -f1)
quality() {  # RUN -> "nDCG@10 share"
    "$PLAID" eval --qrels "$QRELS" --run "$1" --reference "$WORK/runs/exhaustive.run" --k 10 --json \
        | python3 -c "import json,sys; r=json.load(sys.stdin); print('%.4f %.4f' % (r['run']['ndcg_at10'], r['top10_share']))"
}

declare -A plaid_qps warp_qps round_ratio
for k in 10 100; do
    for threads in 1 2; do
        p=(); w=()
        for round in $(seq "$ROUNDS"); do
            line=$("$PLAID" query --index "$WORK/plaid-index" --queries "$QEMB" --k "$k" --threads "$threads" \
                   --output "$WORK/runs/plaid-k$k.run" 2>&1 | grep -o '([0-9.]* queries/s)' | tail -1)
            p+=("$(echo "$line" | tr -d '(' | cut -d' ' -f1)")
            w+=("$("${WARP[@]}" search "$EMB" "$QEMB" "$WORK/warp-index" "$k" "$threads" "$WORK/runs/warp-k$k.run" | json "['queries_per_second']")")
        done
        plaid_qps[$k,$threads]=$(median "${p[@]}"); warp_qps[$k,$threads]=$(median "${w[@]}")
        round_ratio[$k,$threads]=$(python3 -c "import statistics,sys; n=len(sys.argv)//2; print('%.2f' % statistics.median(float(a)/float(b) for a,b in zip(sys.argv[1:n+1], sys.argv[n+1:])))" "${p[@]}" "${w[@]}")
        echo "k=$k threads=$threads: plaid ${p[*]}; warp ${w[*]}" >&2
    done
done

read -r exact_ndcg _ <<<"$(quality "$WORK/runs/exhaustive.run")"
read -r plaid_ndcg plaid_share100 <<<"$(quality "$WORK/runs/plaid-k100.run")"
read -r warp_ndcg warp_share100 <<<"$(quality "$WORK/runs/warp-k100.run")"
read -r _ plaid_share10 <<<"$(quality "$WORK/runs/plaid-k10.run")"
read -r _ warp_share10 <<<"$(quality "$WORK/runs/warp-k10.run")"

ratio() { python3 -c "nan = float('nan'); print('%.2f' % (($1) / ($2)))"; }
f1() { python3 -c "nan = float('nan'); print('%.1f' % ($1))"; }
echo
echo "| $EMB: $tokens tokens, $NBITS bits | plaid | xtr-warp-rs | plaid / WARP |"
echo "|---|---|---|---|"
for k in 10 100; do for threads in 1 2; do
    echo "| search k=$k, $threads thread(s): queries/s, medians of $ROUNDS rounds; median of the rounds' ratios | $(f1 "${plaid_qps[$k,$threads]}") | $(f1 "${warp_qps[$k,$threads]}") | ${round_ratio[$k,$threads]} |"
done; done
echo "| build, s | $(f1 "$plaid_build") | $(f1 "$warp_build") | $(ratio "$plaid_build" "$warp_build") |"
echo "| index bytes/token | $(f1 "($plaid_bytes / $tokens)") | $(f1 "($warp_bytes / $tokens)") | $(ratio "$plaid_bytes" "$warp_bytes") |"
echo "| nDCG@10 at k=100 (exhaustive MaxSim: $exact_ndcg) | $plaid_ndcg | $warp_ndcg | |"
echo "| exact top-10 kept, k=10 / k=100 | $plaid_share10 / $plaid_share100 | $warp_share10 / $warp_share100 | |"
