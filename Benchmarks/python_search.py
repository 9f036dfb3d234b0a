"""A search from Python against `plaid query`, on the same index and query embeddings: queries/s
at k = 10 and 100 on 1 and 2 threads. Each round runs both, alternating which goes first; rows
give both medians and the median of the rounds' ratios (Python / plaid query), since only
same-round ratios compare on a shared machine. Also checks that both return the same ids and
scores. Not part of CI; its results are in docs/benchmarks.md ("plaid from Python").

    python Benchmarks/python_search.py INDEX QUERY_EMB_DIR [--plaid BIN] [--rounds 5] [--repeat 10]

QUERY_EMB_DIR holds query_embeddings.npy and query_ids.json; the queries are repeated REPEAT
times so that each timed search runs for a second or more. `plaid query` reports the time of
its search alone (its line "search: N queries in S s"), and the Python figure is the time of
`Index.search` on an open index, results converted to Python objects included."""

import argparse
import json
import os
import re
import statistics
import subprocess
import tempfile
import time

import numpy as np

import plaid


def cli_search(binary, index, queries_dir, k, threads, run_path):
    done = subprocess.run([binary, "query", "--index", index, "--queries", queries_dir, "--k", str(k),
                           "--threads", str(threads), "--output", run_path], check=True, capture_output=True, text=True)
    found = re.search(r"search: (\d+) queries in ([0-9.]+) s", done.stderr)
    if not found:
        raise RuntimeError(f"no search time in plaid query's output: {done.stderr[-500:]}")
    return int(found.group(1)) / float(found.group(2))


def read_run(path):
    hits = {}
    with open(path) as f:
        for line in f:
            query, _, document, _, score, _ = line.split()
            hits.setdefault(query, []).append((document, np.float32(float(score))))
    return hits


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("index")
    parser.add_argument("queries")
    parser.add_argument("--plaid", default=os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), ".build", "release", "plaid"))
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=10)
    args = parser.parse_args()

    queries = np.load(os.path.join(args.queries, "query_embeddings.npy")).astype(np.float32)
    ids = json.load(open(os.path.join(args.queries, "query_ids.json")))
    work = tempfile.mkdtemp(prefix="python-search-")
    repeated_dir = os.path.join(work, "queries")
    os.makedirs(repeated_dir)
    repeated = np.ascontiguousarray(np.tile(queries, (args.repeat, 1, 1)))
    repeated_ids = [f"{r}-{i}" for r in range(args.repeat) for i in ids]
    np.save(os.path.join(repeated_dir, "query_embeddings.npy"), repeated)
    json.dump(repeated_ids, open(os.path.join(repeated_dir, "query_ids.json"), "w"))

    index = plaid.Index(args.index)
    print(f"machine: {os.cpu_count()} cores, {cpu_name()}; index {args.index}: {index.info()['documents']} documents; "
          f"{len(repeated)} queries ({len(queries)} x {args.repeat}); rounds: {args.rounds}")
    print("| k | threads | plaid query, queries/s | Python, queries/s | Python / plaid query (median of rounds' ratios) |")
    print("|---|---|---|---|---|")
    for k in (10, 100):
        for threads in (1, 2):
            cli_rates, python_rates, ratios = [], [], []
            run_path = os.path.join(work, f"run-{k}-{threads}.trec")
            for round_number in range(args.rounds):
                order = ["cli", "python"] if round_number % 2 == 0 else ["python", "cli"]
                rates = {}
                for engine in order:
                    if engine == "cli":
                        rates[engine] = cli_search(args.plaid, args.index, repeated_dir, k, threads, run_path)
                    else:
                        started = time.perf_counter()
                        results = index.search(repeated, k=k, threads=threads)
                        hits = [results[q] for q in range(len(results))]
                        rates[engine] = len(repeated) / (time.perf_counter() - started)
                cli_rates.append(rates["cli"])
                python_rates.append(rates["python"])
                ratios.append(rates["python"] / rates["cli"])
            check_same(read_run(run_path), repeated_ids, hits)
            print(f"| {k} | {threads} | {statistics.median(cli_rates):.0f} | {statistics.median(python_rates):.0f} | "
                  f"{statistics.median(ratios):.3f} (rounds {min(ratios):.3f}-{max(ratios):.3f}) |", flush=True)
    index.close()


def check_same(run, query_ids, hits):
    """The same hits with the same float32 scores. Tied scores may be listed in another order:
    the search ranks ties by the documents' order in the index, a run file by trec_eval's rule
    (document ids in decreasing byte order)."""
    for query, found in zip(query_ids, hits):
        expected = sorted(((-s, d) for d, s in run.get(query, [])))
        got = sorted(((-np.float32(h["score"]), h["id"]) for h in found))
        if expected != got:
            raise SystemExit(f"query {query}: Python and plaid query differ")


def cpu_name():
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return "unknown CPU"


if __name__ == "__main__":
    main()
