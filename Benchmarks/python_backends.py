"""PyLate's index backends side by side, from Python, in one run: `indexes.PLAID` (fast-plaid),
`indexes.WARP` (xtr-warp-rs) and plaid's `PlaidIndex`, on one embeddings folder. For each: build
time (the first `add_documents`), queries/s at k = 10 and 100 on 1 and 2 threads (the backends
take turns in each round, in a rotating order; rows give medians and each one's median ratio to
PlaidIndex within rounds), nDCG@10 at k = 100, and the share of exhaustive MaxSim's top 10 each
returns at k = 10 and k = 100. Not part of CI; its results are in docs/benchmarks.md.

    python Benchmarks/python_backends.py EMB_DIR QRELS [--plaid BIN] [--work DIR] [--rounds 3] [--repeat 3]
        [--slow-queries 20]

EMB_DIR: doc_embeddings.npy, doclens.npy, doc_ids.json, query_embeddings.npy, query_ids.json
(Benchmarks/python_backends/encode_scifact128.py writes SciFact's). QRELS: BEIR's qrels/test.tsv.
Runs in one venv holding pylate 1.6.0, fast-plaid 1.4.6.2110 (PyLate 1.6's pin), xtr-warp-rs
2.1.0.2110 and torch 2.11 (both engines' pin, so one venv serves all three), with plaid from
this checkout (pip install ./python, or PYTHONPATH=python and PLAID_LIBRARY); the measured venv
also held sentence-transformers 5.3.0 and transformers 5.3.0 (../shared/python-reference.md's
recipe). The exhaustive reference is `plaid query --exhaustive`."""

import argparse
import json
import math
import os
import statistics
import subprocess
import time

import numpy as np
import torch
from pylate import indexes

from pylate import retrieve

from plaid.pylate import PlaidIndex

BACKENDS = ["PlaidIndex", "PLAID (fast-plaid)", "WARP (xtr-warp-rs)"]


def make(name, work, nbits):
    folder = os.path.join(work, "indexes")
    if name == "PlaidIndex":
        return PlaidIndex(index_folder=folder, index_name="plaid", override=True, nbits=nbits)
    if name.startswith("PLAID"):
        return indexes.PLAID(index_folder=folder, index_name="fast-plaid", override=True, nbits=nbits, device="cpu",
                             show_progress=False)
    return indexes.WARP(index_folder=folder, index_name="warp", override=True, nbits=nbits, device="cpu",
                        show_progress=False)


def set_threads(name, index, threads):
    torch.set_num_threads(threads)
    if name == "PlaidIndex":
        index.search_options["threads"] = threads
    elif name.startswith("PLAID"):
        index._index.num_threads = threads
    else:
        index.num_threads = threads


def read_qrels(path):
    qrels = {}
    with open(path) as f:
        next(f)
        for line in f:
            query, document, relevance = line.split("\t")[:3]
            qrels.setdefault(query, {})[document] = int(relevance)
    return qrels


def ndcg_at_10(results, query_ids, qrels):
    """Mean nDCG@10 over the queries with judgments, with trec_eval's gains (relevance) and
    ideal ranking (the judged documents by relevance)."""
    values = []
    for query, hits in zip(query_ids, results):
        judged = qrels.get(query)
        if not judged:
            continue
        dcg = sum(judged.get(h["id"], 0) / math.log2(rank + 2) for rank, h in enumerate(hits[:10]))
        ideal = sum(g / math.log2(rank + 2) for rank, g in enumerate(sorted(judged.values(), reverse=True)[:10]))
        values.append(dcg / ideal if ideal > 0 else 0.0)
    return statistics.mean(values)


def exhaustive_top10(plaid_binary, embeddings, work):
    run = os.path.join(work, "exhaustive.run")
    if not os.path.exists(run):
        subprocess.run([plaid_binary, "query", "--exhaustive", "--embeddings", embeddings, "--queries", embeddings,
                        "--k", "10", "--output", run, "--quiet"], check=True)
    top = {}
    with open(run) as f:
        for line in f:
            query, _, document = line.split()[:3]
            top.setdefault(query, []).append(document)
    return top


def check_parity(plaid_binary, index, embeddings, query_ids, queries, work):
    """retrieve.ColBERT over PlaidIndex against `plaid query` on the same index and queries:
    the same ids with the same float32 scores (a run file lists tied scores by decreasing id,
    the search by index order, so both sides are compared sorted)."""
    run = os.path.join(work, "plaid-query-k100.run")
    subprocess.run([plaid_binary, "query", "--index", index.index_path, "--queries", embeddings, "--k", "100",
                    "--output", run, "--quiet"], check=True)
    expected = {}
    with open(run) as f:
        for line in f:
            query, _, document, _, score, _ = line.split()
            expected.setdefault(query, []).append((-np.float32(float(score)), document))
    results = retrieve.ColBERT(index=index).retrieve(queries_embeddings=queries, k=100)
    for query, hits in zip(query_ids, results):
        if sorted(expected.get(query, [])) != sorted((-np.float32(h["score"]), h["id"]) for h in hits):
            raise SystemExit(f"parity: query {query} differs between retrieve.ColBERT(PlaidIndex) and plaid query")
    print(f"parity: retrieve.ColBERT(index=PlaidIndex) and plaid query give the same ids and float32 scores "
          f"on all {len(query_ids)} queries at k=100")


def kept(results, query_ids, exact):
    shares = [len({h["id"] for h in hits[:10]} & set(exact[q])) / len(exact[q]) for q, hits in zip(query_ids, results)]
    return statistics.mean(shares)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("embeddings")
    parser.add_argument("qrels")
    parser.add_argument("--plaid", default=os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), ".build", "release", "plaid"))
    parser.add_argument("--work", default="/tmp/python-backends")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=3, help="times the queries are searched per timed call")
    parser.add_argument("--nbits", type=int, default=2)
    parser.add_argument("--slow-queries", type=int, default=20, help="queries per timed call of fast-plaid")
    args = parser.parse_args()
    os.makedirs(args.work, exist_ok=True)

    vectors = np.load(os.path.join(args.embeddings, "doc_embeddings.npy")).astype(np.float32)
    lengths = np.load(os.path.join(args.embeddings, "doclens.npy"))
    documents = np.split(vectors, np.cumsum(lengths)[:-1])
    document_ids = json.load(open(os.path.join(args.embeddings, "doc_ids.json")))
    queries = np.load(os.path.join(args.embeddings, "query_embeddings.npy")).astype(np.float32)
    query_ids = json.load(open(os.path.join(args.embeddings, "query_ids.json")))
    qrels = read_qrels(args.qrels)
    exact = exhaustive_top10(args.plaid, args.embeddings, args.work)
    timed_queries = {name: np.ascontiguousarray(np.tile(queries, (args.repeat, 1, 1))) for name in BACKENDS}
    # fast-plaid on the CPU searches about one query a second: it is timed on the first queries only.
    timed_queries["PLAID (fast-plaid)"] = np.ascontiguousarray(queries[:args.slow_queries])
    print(f"{len(documents)} documents, {len(vectors)} vectors of dim {vectors.shape[1]}, {len(queries)} queries "
          f"(x{args.repeat} per timed call; fast-plaid: the first {args.slow_queries}), {args.rounds} rounds, "
          f"nbits {args.nbits}; torch {torch.__version__}; {os.cpu_count()} cores")

    built, build_seconds, quality = {}, {}, {}
    for name in BACKENDS:
        index = make(name, args.work, args.nbits)
        set_threads(name, index, os.cpu_count())
        started = time.perf_counter()
        index.add_documents(documents_ids=document_ids, documents_embeddings=documents)
        build_seconds[name] = time.perf_counter() - started
        set_threads(name, index, os.cpu_count())
        at100 = index(queries, k=100)
        # fast-plaid's search does not depend on k (n_ivf_probe and n_full_scores are fixed),
        # so its k=10 answer is its k=100 answer's top 10; it searches about one query a second
        # on these CPUs, and is spared the second pass.
        at10 = [hits[:10] for hits in at100] if name.startswith("PLAID") else index(queries, k=10)
        quality[name] = (ndcg_at_10(at100, query_ids, qrels), kept(at10, query_ids, exact), kept(at100, query_ids, exact))
        built[name] = index
        print(f"{name}: built in {build_seconds[name]:.1f} s", flush=True)
        if name == "PlaidIndex":
            check_parity(args.plaid, index, args.embeddings, query_ids, queries, args.work)

    rates = {(name, k, t): [] for name in BACKENDS for k in (10, 100) for t in (1, 2)}
    for round_number in range(args.rounds):
        order = BACKENDS[round_number % 3:] + BACKENDS[:round_number % 3]
        for k in (10, 100):
            for threads in (1, 2):
                for name in order:
                    set_threads(name, built[name], threads)
                    started = time.perf_counter()
                    built[name](timed_queries[name], k=k)
                    rates[(name, k, threads)].append(len(timed_queries[name]) / (time.perf_counter() - started))

    print()
    print("| | " + " | ".join(BACKENDS) + " |")
    print("|---|" + "---|" * len(BACKENDS))
    for k in (10, 100):
        for threads in (1, 2):
            cells = []
            for name in BACKENDS:
                mine = rates[(name, k, threads)]
                ratio = statistics.median(r / p for r, p in zip(mine, rates[("PlaidIndex", k, threads)]))
                cells.append(f"{statistics.median(mine):.1f}" + ("" if name == "PlaidIndex" else f" ({ratio:.2f}x)"))
            print(f"| search k={k}, {threads} thread{'s' if threads > 1 else ''}, queries/s | " + " | ".join(cells) + " |")
    print("| build, s | " + " | ".join(f"{build_seconds[n]:.1f}" for n in BACKENDS) + " |")
    print("| nDCG@10 at k=100 | " + " | ".join(f"{quality[n][0]:.4f}" for n in BACKENDS) + " |")
    print("| exact top-10 kept, k=10 / k=100 | " + " | ".join(f"{quality[n][1]:.4f} / {quality[n][2]:.4f}" for n in BACKENDS) + " |")


if __name__ == "__main__":
    main()
