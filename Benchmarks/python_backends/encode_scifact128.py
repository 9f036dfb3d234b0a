"""The 128-dim SciFact set of docs/benchmarks.md: MiniLM (the default model's weights) wrapped
by PyLate 1.6 as a ColBERT model with embedding_size=128 after torch.manual_seed(0), so that
PyLate adds a seeded random Dense 384->128; SciFact encoded by PyLate into plaid's embeddings
layout (doc_embeddings.npy, doclens.npy, doc_ids.json, query_embeddings.npy, query_ids.json).

    python encode_scifact128.py MODEL_DIR DATASET_DIR OUT_DIR   (MODEL_DIR: models/minilm-colbert)

Runs in a venv with PyLate 1.6 and torch (../shared/python-reference.md)."""

import json
import os
import sys

import numpy as np
import torch
from pylate import models


def read_jsonl(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def main(model_dir, dataset, out):
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(0)
    model = models.ColBERT(model_name_or_path=model_dir, local_files_only=True, embedding_size=128, device="cpu")
    corpus = read_jsonl(os.path.join(dataset, "corpus.jsonl"))
    texts = [(d.get("title", "") + " " + d["text"]).strip() for d in corpus]
    documents = model.encode(texts, is_query=False, batch_size=64, show_progress_bar=False)
    np.save(os.path.join(out, "doc_embeddings.npy"), np.concatenate(documents).astype(np.float32))
    np.save(os.path.join(out, "doclens.npy"), np.array([len(d) for d in documents], dtype=np.int64))
    with open(os.path.join(out, "doc_ids.json"), "w") as f:
        json.dump([d["_id"] for d in corpus], f)
    tested = set()
    with open(os.path.join(dataset, "qrels", "test.tsv")) as f:
        next(f)
        tested = {line.split("\t")[0] for line in f if line.strip()}
    queries = [q for q in read_jsonl(os.path.join(dataset, "queries.jsonl")) if q["_id"] in tested]
    encoded = model.encode([q["text"] for q in queries], is_query=True, batch_size=64, show_progress_bar=False)
    np.save(os.path.join(out, "query_embeddings.npy"), np.stack(encoded).astype(np.float32))
    with open(os.path.join(out, "query_ids.json"), "w") as f:
        json.dump([q["_id"] for q in queries], f)
    print(f"{len(documents)} documents ({sum(len(d) for d in documents)} vectors), {len(queries)} queries -> {out}")


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    main(*sys.argv[1:])
