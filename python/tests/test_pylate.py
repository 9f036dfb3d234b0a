"""plaid as a PyLate 1.6 index backend: `retrieve.ColBERT(index=PlaidIndex(...))`, PyLate's
reranking and BEIR evaluation over it, on precomputed arrays (no model download)."""

import numpy as np
import pytest
import torch
from pylate import evaluation, rank, retrieve

import plaid
from plaid.pylate import PlaidIndex


@pytest.fixture
def backend(tmp_path, corpus):
    index = PlaidIndex(index_folder=str(tmp_path), index_name="plaid", override=True, seed=7)
    # The first call builds, the second adds.
    index.add_documents(corpus.ids[:300], corpus.documents[:300])
    index.add_documents(corpus.ids[300:], corpus.documents[300:])
    yield index
    index.close()


def test_retrieve_colbert_returns_what_plaid_finds(backend, corpus):
    results = retrieve.ColBERT(index=backend).retrieve(queries_embeddings=corpus.queries, k=10)
    with plaid.Index(backend.index_path) as direct:
        expected = direct.search(corpus.queries, k=10)
    assert len(results) == len(corpus.queries)
    for got, want in zip(results, expected):
        assert [r["id"] for r in got] == [w["id"] for w in want]
        assert [r["score"] for r in got] == pytest.approx([w["score"] for w in want], rel=1e-6)


def test_torch_tensors_and_lists_of_arrays_are_taken(backend, corpus):
    as_array = backend(corpus.queries, k=5)
    assert backend(torch.from_numpy(corpus.queries), k=5) == as_array
    assert backend([q for q in corpus.queries], k=5) == as_array


def test_subset_shared_and_per_query(backend, corpus):
    shared = retrieve.ColBERT(index=backend).retrieve(queries_embeddings=corpus.queries[:2], k=10,
                                                      subset=["doc-1", "doc-2", "doc-3"])
    assert all({r["id"] for r in hits} == {"doc-1", "doc-2", "doc-3"} for hits in shared)
    per_query = backend(corpus.queries[:2], k=10, subset=[["doc-1"], ["doc-7", "doc-8"]])
    assert [{r["id"] for r in hits} for hits in per_query] == [{"doc-1"}, {"doc-7", "doc-8"}]
    with pytest.raises(ValueError, match="one per query"):
        backend(corpus.queries[:2], k=10, subset=[["doc-1"]])


def test_add_again_replaces_and_remove_deletes(backend, corpus):
    flipped = corpus.documents[5] * -1
    backend.add_documents(["doc-5"], [flipped])
    assert backend([flipped], k=1)[0][0]["id"] == "doc-5"
    backend.remove_documents(["doc-5", "not-there"])
    assert all(r["id"] != "doc-5" for r in backend([flipped], k=50)[0])


def test_documents_embeddings_feed_pylate_rerank(backend, corpus):
    candidates = [["doc-1", "doc-2", "doc-3"], ["doc-4", "doc-5"]]
    embeddings = backend.get_documents_embeddings(candidates)
    assert [[e.shape for e in group] for group in embeddings] == [
        [corpus.documents[i].shape for i in (1, 2, 3)], [corpus.documents[i].shape for i in (4, 5)]]
    reranked = rank.rerank(documents_ids=candidates, queries_embeddings=list(corpus.queries[:2]),
                           documents_embeddings=embeddings)
    assert [{r["id"] for r in hits} for hits in reranked] == [set(c) for c in candidates]
    mine = plaid.rerank(corpus.queries[0], embeddings[0], ids=candidates[0])
    assert [r["id"] for r in reranked[0]] == [r["id"] for r in mine]


def test_pylate_beir_evaluation_reads_the_results(backend, corpus):
    queries = [f"q{i}" for i in range(len(corpus.queries))]
    results = retrieve.ColBERT(index=backend).retrieve(queries_embeddings=corpus.queries, k=10)
    # Each query's relevant document is its own top hit: every metric is perfect.
    qrels = {q: {hits[0]["id"]: 1} for q, hits in zip(queries, results)}
    scores = evaluation.evaluate(scores=results, qrels=qrels, queries=queries, metrics=["ndcg@10", "recall@10"])
    assert scores["ndcg@10"] == pytest.approx(1.0) and scores["recall@10"] == pytest.approx(1.0)


def test_override_replaces_only_a_plaid_index(tmp_path, corpus):
    other = tmp_path / "not-an-index"
    other.mkdir()
    (other / "keep.txt").write_text("mine")
    with pytest.raises(plaid.IndexExistsError, match="is not a plaid index"):
        PlaidIndex(index_folder=str(tmp_path), index_name="not-an-index", override=True)
    assert (other / "keep.txt").read_text() == "mine"
    (tmp_path / "a-file").write_text("mine too")
    with pytest.raises(plaid.IndexExistsError, match="is not a plaid index"):
        PlaidIndex(index_folder=str(tmp_path), index_name="a-file", override=True)
    assert (tmp_path / "a-file").read_text() == "mine too"


def test_an_index_is_reopened_by_name(backend, corpus, tmp_path):
    again = PlaidIndex(index_folder=backend.index_folder, index_name="plaid")
    assert again(corpus.queries[:1], k=3) == backend(corpus.queries[:1], k=3)
    empty = PlaidIndex(index_folder=str(tmp_path), index_name="empty")
    with pytest.raises(ValueError, match="empty"):
        empty(corpus.queries[:1], k=3)
