#!/usr/bin/env bash
# Encodes a BEIR corpus with PyLate/PyTorch and with `plaid encode` (int16 and float32 products),
# and prints the throughput (model input tokens per second, padding excluded) and peak memory
# (/usr/bin/time -v) of each run, then the median of each engine and the ratios of the medians.
#
#   Benchmarks/compare_encoder.sh [CORPUS.jsonl] [BATCH_SIZE]
#
# Defaults: datasets/scifact/corpus.jsonl, PyTorch batch 64 (plaid uses its own default batch:
# it packs sequences without padding, so its batch size only sizes the working set).
# Environment: PYTHON (a Python with torch, transformers 5.3.0 and pylate 1.6.0, e.g. a venv made
# as in the project's Python reference recipe; default .venv-ref/bin/python), MODEL (default
# models/minilm-colbert), THREADS (default: all cores, for both), ROUNDS (default 1: rounds of
# the three runs, interleaved so that a slow spell of a shared machine hits all engines).
# One round takes about 8 minutes on 2 cores.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CORPUS="${1:-$ROOT/datasets/scifact/corpus.jsonl}"
BATCH="${2:-64}"
PYTHON="${PYTHON:-$ROOT/.venv-ref/bin/python}"
MODEL="${MODEL:-$ROOT/models/minilm-colbert}"
THREADS="${THREADS:-$(nproc)}"
ROUNDS="${ROUNDS:-1}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

[ -f "$MODEL/model.safetensors" ] || { echo "missing $MODEL/model.safetensors: run scripts/setup-default-model.sh" >&2; exit 1; }
[ -x "$PYTHON" ] || { echo "no Python with torch and pylate at $PYTHON: make a venv (.venv-ref) with torch, transformers 5.3.0 and pylate 1.6.0, or set PYTHON" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "/usr/bin/time is needed for peak memory (apt-get install time)" >&2; exit 1; }

echo "building plaid (release) ..." >&2
(cd "$ROOT" && swift build -c release --product plaid >/dev/null)
PLAID="$ROOT/.build/release/plaid"

cat > "$WORK/pylate_encode.py" <<'PY'
import json, os, sys, time
os.environ["HF_HUB_OFFLINE"] = "1"
import torch
from pylate import models
corpus, model_dir, batch, threads = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
torch.set_num_threads(threads)
docs = []
with open(corpus) as f:
    for line in f:
        if line.strip():
            d = json.loads(line)
            # As PyLate's evaluation (pylate/evaluation/beir.py) joins BEIR documents.
            docs.append(f"{d['title']} {d['text']}".strip() if d.get("title") is not None else d["text"].strip())
model = models.ColBERT(model_name_or_path=model_dir, device="cpu", local_files_only=True)
# Real (unpadded) tokens, counted before the timed region.
tokens = sum(len(model.tokenize([t], is_query=False)["input_ids"][0]) for t in docs)
start = time.perf_counter()
out = model.encode(docs, is_query=False, batch_size=batch, show_progress_bar=False)
elapsed = time.perf_counter() - start
print(f"RESULT {tokens / elapsed:.0f} {len(docs)} {tokens} {sum(len(o) for o in out)}")
PY

peak() { awk -F': ' '/Maximum resident set size/ {printf "%.0f", $2 / 1024}' "$1"; }
median() { sort -n | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : int((v[NR / 2] + v[NR / 2 + 1]) / 2)}'; }
: > "$WORK/results"

for round in $(seq 1 "$ROUNDS"); do
    echo "round $round/$ROUNDS: PyLate/PyTorch (torch threads: $THREADS, batch $BATCH) ..." >&2
    /usr/bin/time -v "$PYTHON" "$WORK/pylate_encode.py" "$CORPUS" "$MODEL" "$BATCH" "$THREADS" \
        > "$WORK/pytorch.out" 2> "$WORK/pytorch.time" || { cat "$WORK/pytorch.time" >&2; exit 1; }
    read -r _ rate docs tokens vectors < <(grep '^RESULT' "$WORK/pytorch.out")
    echo "pytorch $rate $(peak "$WORK/pytorch.time")" >> "$WORK/results"
    echo "corpus: $docs documents, $tokens model tokens, $vectors vectors kept by PyLate" > "$WORK/corpus"

    for precision in int16 float32; do
        echo "round $round/$ROUNDS: plaid encode --precision $precision ..." >&2
        rm -rf "$WORK/plaid-out"
        /usr/bin/time -v env OPENBLAS_NUM_THREADS="$THREADS" "$PLAID" encode --model "$MODEL" --input "$CORPUS" \
            --mode document --output "$WORK/plaid-out" --precision "$precision" 2> "$WORK/plaid.time" \
            || { cat "$WORK/plaid.time" >&2; exit 1; }
        # The last progress line: "encode documents: N documents in Ts (..), R tokens/s, ...".
        rate=$(grep 'documents in' "$WORK/plaid.time" | tail -n 1 | sed -E 's/.* ([0-9]+) tokens\/s.*/\1/')
        echo "plaid-$precision $rate $(peak "$WORK/plaid.time")" >> "$WORK/results"
    done
done

echo
echo "$CORPUS"
cat "$WORK/corpus"
printf "%-22s %-28s %10s %14s\n" "" "tokens/s, each run" "median" "peak RSS MiB"
for engine in pytorch plaid-int16 plaid-float32; do
    runs=$(awk -v e="$engine" '$1 == e {printf "%s ", $2}' "$WORK/results")
    med=$(awk -v e="$engine" '$1 == e {print $2}' "$WORK/results" | median)
    mem=$(awk -v e="$engine" '$1 == e {print $3}' "$WORK/results" | sort -n | tail -n 1)
    printf "%-22s %-28s %10s %14s\n" "$engine" "$runs" "$med" "$mem"
    eval "median_${engine//-/_}=$med"
done
awk -v p="$median_pytorch" -v i="$median_plaid_int16" -v f="$median_plaid_float32" \
    'BEGIN {printf "ratios of medians: plaid int16 / PyTorch %.2f, plaid float32 / PyTorch %.2f, int16 / float32 %.2f\n", i / p, f / p, i / f}'
echo "(PyTorch: encode() only, model load excluded; plaid: its encode timer, from the first text read to the last vector written, model load excluded)"
