"""Three servers over three shards of one codebook answer, merged, as the single index does."""

import json
import re
import subprocess
import time

import numpy as np
import pytest

import plaid
from plaid import shards
from conftest import plaid_binary


def write_embeddings(directory, documents, ids):
    directory.mkdir()
    np.save(directory / "doc_embeddings.npy", np.concatenate(documents).astype(np.float32))
    np.save(directory / "doclens.npy", np.array([len(d) for d in documents], dtype=np.int64))
    (directory / "doc_ids.json").write_text(json.dumps(ids))


def run(*arguments):
    subprocess.run([plaid_binary(), *map(str, arguments)], check=True, capture_output=True)


def serve(index):
    """A read-only `plaid serve` of `index` on a free loopback port, and its address."""
    process = subprocess.Popen([plaid_binary(), "serve", "--index", str(index), "--read-only", "--port", "0"],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 60
    while time.time() < deadline:
        line = process.stdout.readline()
        found = re.search(r"listening on (http://127\.0\.0\.1:\d+)", line)
        if found:
            return process, found.group(1)
        if not line and process.poll() is not None:
            break
    process.kill()
    raise RuntimeError(f"plaid serve of {index} did not start")


def test_three_shards_merged_equal_the_single_index(corpus, tmp_path):
    thirds = [range(0, 130), range(130, 270), range(270, len(corpus.ids))]
    write_embeddings(tmp_path / "all", corpus.documents, corpus.ids)
    run("codebook", "train", "--embeddings", tmp_path / "all", "--centroids", "64", "--output", tmp_path / "codebook")
    run("build", "--codebook", tmp_path / "codebook", "--embeddings", tmp_path / "all", "--index", tmp_path / "single")
    for s, third in enumerate(thirds):
        write_embeddings(tmp_path / f"shard-{s}", [corpus.documents[i] for i in third], [corpus.ids[i] for i in third])
        run("build", "--codebook", tmp_path / "codebook", "--embeddings", tmp_path / f"shard-{s}", "--index", tmp_path / f"index-{s}")

    servers = [serve(tmp_path / f"index-{s}") for s in range(3)]
    try:
        for k in (10, 50):
            request = {"query_embeddings": corpus.queries.tolist(), "k": k}
            merged = shards.search([url for _, url in servers], request)
            with plaid.Index(tmp_path / "single") as single:
                expected = single.search(corpus.queries, k=k)
            assert len(merged) == len(corpus.queries)
            for q, hits in enumerate(merged):
                assert [hit["id"] for hit in hits] == list(expected.ids[q])
                assert np.allclose([hit["score"] for hit in hits], expected.scores[q], rtol=0, atol=1e-5)
        # A shard that is down is named, not skipped.
        servers[1][0].kill()
        servers[1][0].wait()
        with pytest.raises(shards.ShardError, match=re.escape(servers[1][1])):
            shards.search([url for _, url in servers], {"query_embeddings": corpus.queries[:1].tolist(), "k": 10}, timeout=5)
    finally:
        for process, _ in servers:
            process.kill()
            process.wait()


def test_merge_breaks_ties_by_shard_then_rank():
    hits = [[{"id": "a", "score": 2.0}, {"id": "b", "score": 1.0}], [{"id": "c", "score": 2.0}, {"id": "d", "score": 1.5}]]
    assert [hit["id"] for hit in shards.merge(hits, 3)] == ["a", "c", "d"]
    assert shards.merge([[], []], 10) == []
    with pytest.raises(ValueError):
        shards.merge(hits, -1)
    with pytest.raises(ValueError, match="do not compare"):
        shards.search(["http://127.0.0.1:9"], {"queries": ["q"], "mode": "bm25"})
    with pytest.raises(ValueError, match="at least one"):
        shards.search([], {"queries": ["q"]})
