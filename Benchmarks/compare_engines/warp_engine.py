#!/usr/bin/env python3
"""xtr-warp-rs (WARP) on an embeddings folder in plaid's layout, for compare_engines.sh.

  warp_engine.py build  EMB_DIR INDEX_DIR NBITS BUILD_THREADS
  warp_engine.py search EMB_DIR QEMB_DIR INDEX_DIR K THREADS RUN_FILE

EMB_DIR holds doc_embeddings.npy [tokens, dim] float32, doclens.npy and doc_ids.json; QEMB_DIR
query_embeddings.npy [queries, tokens, dim] and query_ids.json. Each command prints one JSON
line. `search` times one call over the whole query batch (WARP's fastest way to search many
queries) after a warm-up, with WARP's own hyperparameters for K, and writes a TREC run whose
document ids are the doc_ids (WARP numbers documents in the order they were given).
"""
import json
import os
import sys
import time

import numpy as np
import torch
from xtr_warp import XTRWarp


def documents(emb_dir):
    lengths = np.load(os.path.join(emb_dir, "doclens.npy")).astype(np.int64)
    vectors = torch.from_numpy(np.ascontiguousarray(np.load(os.path.join(emb_dir, "doc_embeddings.npy")), dtype=np.float32))
    if vectors.shape[0] != int(lengths.sum()):
        sys.exit(f"{emb_dir}: doc_embeddings.npy has {vectors.shape[0]} rows, doclens.npy sums to {int(lengths.sum())}")
    return list(torch.split(vectors, lengths.tolist())), int(lengths.sum())


def folder_bytes(path):
    return sum(os.path.getsize(os.path.join(root, f)) for root, _, files in os.walk(path) for f in files)


def build(emb_dir, index_dir, nbits, threads):
    docs, tokens = documents(emb_dir)
    torch.set_num_threads(threads)
    started = time.perf_counter()
    XTRWarp(index=index_dir).create(docs, device="cpu", nbits=nbits, show_progress=False)
    seconds = time.perf_counter() - started
    print(json.dumps({"build_seconds": seconds, "bytes": folder_bytes(index_dir), "tokens": tokens}))


def search(emb_dir, qemb_dir, index_dir, k, threads, run_file):
    doc_ids = json.load(open(os.path.join(emb_dir, "doc_ids.json")))
    query_ids = json.load(open(os.path.join(qemb_dir, "query_ids.json")))
    queries = torch.from_numpy(np.load(os.path.join(qemb_dir, "query_embeddings.npy")).astype(np.float32))
    torch.set_num_threads(threads)
    index = XTRWarp(index=index_dir)
    index.load(device="cpu", dtype=torch.float32)
    index.search(queries[:32], top_k=k, num_threads=threads, show_progress=False)  # warm-up: pages, thread pool
    started = time.perf_counter()
    results = index.search(queries, top_k=k, num_threads=threads, show_progress=False)
    seconds = time.perf_counter() - started
    with open(run_file, "w") as out:
        for query, ranked in zip(query_ids, results):
            for rank, (document, score) in enumerate(ranked, start=1):
                out.write(f"{query} Q0 {doc_ids[document]} {rank} {score:.6f} warp\n")
    print(json.dumps({"queries": len(query_ids), "seconds": seconds, "queries_per_second": len(query_ids) / seconds}))
    index.free()


if __name__ == "__main__":
    command, args = sys.argv[1], sys.argv[2:]
    if command == "build" and len(args) == 4:
        build(args[0], args[1], int(args[2]), int(args[3]))
    elif command == "search" and len(args) == 6:
        search(args[0], args[1], args[2], int(args[3]), int(args[4]), args[5])
    else:
        sys.exit(__doc__)
