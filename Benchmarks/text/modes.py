#!/usr/bin/env python3
"""The search modes side by side on BEIR sets: nDCG@10 of PLAID, BM25 and hybrid (relative and RRF
fusion), each over the same index with stored text, and single-thread queries/s of each at k = 10
(median of interleaved rounds) with its latency against PLAID's (the median of the rounds' ratios:
each round runs every mode once, so a ratio compares runs minutes apart at most), and what
storing the text costs.

For each tokenizer it builds, from one set of document embeddings (`plaid encode`, or the
`embeddings/` folder `plaid eval --work` keeps), an index with `--store-text --texts CORPUS` and
one without, and reports the build times and the stored text's bytes per document. Each query
set's texts are searched in every mode; hybrid and PLAID encode the questions first (timed apart:
the reported queries/s are the searches').

Usage: modes.py --plaid PLAID --embeddings DIR --dataset NAME BEIR_FOLDER [--dataset ...]
                [--tokenizer 'unicode61 remove_diacritics 2' --tokenizer 'porter unicode61'] [--rounds 3] [--work DIR]
  Every dataset shares the corpus the embeddings were encoded from; only their queries differ
  (e.g. SciFact and its keyword set from Benchmarks/keywords/keyword_queries.py).
"""
import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import time

MODES = [("plaid", []), ("bm25", []), ("hybrid", []), ("hybrid-rrf", ["--fusion", "rrf"])]


def run(command):
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr}")
    return done.stderr


def judged_queries(folder, out):
    judged = set()
    with open(os.path.join(folder, "qrels", "test.tsv")) as qrels:
        next(qrels)
        for line in qrels:
            judged.add(line.split("\t")[0])
    with open(os.path.join(folder, "queries.jsonl")) as source, open(out, "w") as target:
        for line in source:
            if json.loads(line)["_id"] in judged:
                target.write(line)
    return out


def ndcg(plaid, run_file, folder):
    table = run([plaid, "eval", "--run", run_file, "--qrels", os.path.join(folder, "qrels", "test.tsv"), "--k", "10", "--output", run_file + ".eval"])
    with open(run_file + ".eval") as f:
        row = [line for line in f if line.startswith("| run")][0]
    return float(row.split("|")[2])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--plaid", required=True)
    parser.add_argument("--embeddings", required=True)
    parser.add_argument("--dataset", nargs=2, action="append", metavar=("NAME", "FOLDER"), required=True)
    parser.add_argument("--tokenizer", action="append")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--work", default="/tmp/plaid-text-modes")
    args = parser.parse_args()
    tokenizers = args.tokenizer or ["unicode61 remove_diacritics 2"]
    os.makedirs(args.work, exist_ok=True)
    corpus = os.path.join(args.dataset[0][1], "corpus.jsonl")

    plain = os.path.join(args.work, "plain")
    shutil.rmtree(plain, ignore_errors=True)
    started = time.time()
    run([args.plaid, "build", "--embeddings", args.embeddings, "--index", plain])
    print(f"build without text: {time.time() - started:.1f} s, {sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(plain) for f in fs):,} bytes")

    for tokenizer in tokenizers:
        index = os.path.join(args.work, re.sub(r"\W+", "-", tokenizer))
        shutil.rmtree(index, ignore_errors=True)
        started = time.time()
        run([args.plaid, "build", "--embeddings", args.embeddings, "--index", index, "--store-text", "--fts-tokenizer", tokenizer, "--texts", corpus])
        seconds = time.time() - started
        text_bytes = os.path.getsize(os.path.join(index, "seg-000000", "text.sqlite"))
        with open(os.path.join(index, "seg-000000", "..", "manifest.plaid"), "rb") as f:
            documents = json.loads(f.read()[64:])["segments"][0]["documentCount"]
        print(f"\n## tokenizer '{tokenizer}': build with text {seconds:.1f} s; text.sqlite {text_bytes:,} bytes, {text_bytes / documents:.0f} bytes per document")
        for name, folder in args.dataset:
            questions = judged_queries(folder, os.path.join(args.work, f"{name}-queries.jsonl"))
            rates = {mode: [] for mode, _ in MODES}
            scores = {}
            for _ in range(args.rounds):
                for mode, extra in MODES:
                    out = os.path.join(args.work, f"{name}-{mode}.run")
                    log = run([args.plaid, "query", "--index", index, "--queries", questions, "--mode", mode.split("-")[0], "--k", "10",
                               "--threads", "1", "--output", out] + extra)
                    rate = re.search(r"search: \d+ queries in [\d.]+ s \(([\d.]+)(K?) queries/s", log)
                    rates[mode].append(float(rate.group(1)) * (1000 if rate.group(2) else 1))
                    scores[mode] = ndcg(args.plaid, out, folder)
            print(f"\n{name} (k = 10, one thread, median of {args.rounds} rounds):\n")
            print("| mode | nDCG@10 | queries/s | latency against PLAID's (rounds) |")
            print("|---|---|---|---|")
            for mode, _ in MODES:
                ratios = [p / r for p, r in zip(rates["plaid"], rates[mode])]
                rounds = ", ".join(f"{x:.2f}" for x in ratios)
                print(f"| {mode} | {scores[mode]:.4f} | {statistics.median(rates[mode]):.1f} | {statistics.median(ratios):.2f}× ({rounds}) |")


if __name__ == "__main__":
    main()
