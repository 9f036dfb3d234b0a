#!/usr/bin/env bash
# Encodes a BEIR corpus with PyLate/PyTorch and with `plaid encode`, and prints the throughput
# (model input tokens per second, padding excluded) and peak memory (/usr/bin/time -v) of each.
#
#   Benchmarks/compare_encoder.sh [CORPUS.jsonl] [BATCH_SIZE]
#
# Defaults: datasets/scifact/corpus.jsonl, batch 64. Environment: PYTHON (a Python with torch,
# transformers 5.3.0 and pylate 1.6.0, e.g. a venv made as in the project's Python reference
# recipe; default .venv-ref/bin/python), MODEL
# (default models/minilm-colbert), THREADS (default: all cores, for both). Takes a few minutes
# on 2 cores; run it on a quiet machine, once.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CORPUS="${1:-$ROOT/datasets/scifact/corpus.jsonl}"
BATCH="${2:-64}"
PYTHON="${PYTHON:-$ROOT/.venv-ref/bin/python}"
MODEL="${MODEL:-$ROOT/models/minilm-colbert}"
THREADS="${THREADS:-$(nproc)}"
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
print(f"RESULT pytorch {len(docs)} {tokens} {elapsed:.3f} {sum(len(o) for o in out)}")
PY

echo "PyLate/PyTorch (torch threads: $THREADS, batch $BATCH) ..." >&2
/usr/bin/time -v "$PYTHON" "$WORK/pylate_encode.py" "$CORPUS" "$MODEL" "$BATCH" "$THREADS" \
    > "$WORK/pytorch.out" 2> "$WORK/pytorch.time" || { cat "$WORK/pytorch.time" >&2; exit 1; }

echo "plaid encode (batch $BATCH) ..." >&2
/usr/bin/time -v env OPENBLAS_NUM_THREADS="$THREADS" "$PLAID" encode --model "$MODEL" --input "$CORPUS" \
    --mode document --output "$WORK/plaid-out" --batch-size "$BATCH" 2> "$WORK/plaid.time" || { cat "$WORK/plaid.time" >&2; exit 1; }

peak() { awk -F': ' '/Maximum resident set size/ {printf "%.0f MiB", $2 / 1024}' "$1"; }
read -r _ _ docs tokens seconds vectors < <(grep '^RESULT' "$WORK/pytorch.out")
pytorch_rate=$(awk -v t="$tokens" -v s="$seconds" 'BEGIN {printf "%.0f", t / s}')
plaid_line=$(grep 'texts in' "$WORK/plaid.time" | tail -n 1)
plaid_rate=$(sed -E 's/.* ([0-9]+) tokens\/s.*/\1/' <<< "$plaid_line")
plaid_seconds=$(grep 'Elapsed (wall clock)' "$WORK/plaid.time" | awk '{print $NF}')

echo
echo "corpus: $CORPUS ($docs documents, $tokens model tokens, $vectors vectors kept by PyLate)"
printf "%-22s %14s %12s\n" "" "tokens/s" "peak RSS"
printf "%-22s %14s %12s\n" "PyLate 1.6 / PyTorch" "$pytorch_rate" "$(peak "$WORK/pytorch.time")"
printf "%-22s %14s %12s\n" "plaid encode" "$plaid_rate" "$(peak "$WORK/plaid.time")"
echo "(PyTorch: encode() only, model load excluded; plaid: $plaid_line; whole process $plaid_seconds)"
