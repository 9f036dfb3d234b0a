import numpy as np
import pytest

import plaid
from plaid import _version


def test_package_and_library_versions_agree():
    assert plaid.__version__ == _version.__version__


def test_build_then_search_finds_each_document_by_its_own_vectors(built, corpus):
    queries = [corpus.documents[i] for i in (3, 50, 222)]
    results = built.search(queries, k=5)
    assert [hits[0]["id"] for hits in results] == ["doc-3", "doc-50", "doc-222"]
    assert len(results) == 3 and all(len(hits) == 5 for hits in results)
    scores = results.scores[0]
    assert scores.dtype == np.float32 and list(scores) == sorted(scores, reverse=True)


def maxsim(query, documents):
    return np.array([float((query @ d.T).max(axis=1).sum()) for d in documents])


def test_a_search_that_keeps_every_candidate_is_exact_maxsim_over_the_decoded_vectors(built, corpus):
    # Random vectors score alike, so the reference is MaxSim over what the index stores.
    decoded = built.document_embeddings(corpus.ids)
    results = built.search(corpus.queries, k=10, ndocs=4096, ncells=64, centroid_score_threshold=-1)
    for q, hits in enumerate(results):
        exact = maxsim(corpus.queries[q], decoded)
        assert [h["id"] for h in hits] == [corpus.ids[i] for i in np.argsort(-exact, kind="stable")[:10]]
        assert [h["score"] for h in hits] == pytest.approx(sorted(exact, reverse=True)[:10], rel=1e-3)


def test_info_describes_the_index(built, corpus):
    info = built.info()
    assert info["documents"] == len(corpus.ids)
    assert info["dim"] == corpus.dim and info["nbits"] == 2
    assert {f["name"] for f in info["metadata_fields"]} == {"year", "topic"}
    assert len(built) == len(corpus.ids)


def test_add_delete_upsert_and_compact_change_what_search_finds(built, corpus):
    new = [corpus.documents[0] * -1, corpus.documents[1] * -1]
    summary = built.add(new, ["new-a", "new-b"], metadata=[{"year": 1990}, None])
    assert summary["added"] == 2 and summary["documents"] == len(corpus.ids) + 2
    assert built.search(new[0], k=1)[0][0]["id"] == "new-a"

    with pytest.raises(plaid.InvalidInputError, match="already in the index.*upsert=True"):
        built.add(new[:1], ["new-a"])

    summary = built.upsert([corpus.documents[9]], ["new-a"])
    assert summary["replaced"] == 1
    assert built.search(new[0], k=1)[0][0]["id"] != "new-a"

    summary = built.delete(["new-b", "never-there"])
    assert summary["deleted"] == 1 and summary["unknown"] == ["never-there"]
    assert all(h["id"] != "new-b" for h in built.search(new[1], k=20)[0])

    before = built.search(corpus.queries, k=10)
    summary = built.compact()
    assert summary["segments"] == 1
    after = built.search(corpus.queries, k=10)
    assert after.ids == before.ids
    assert all(np.array_equal(a, b) for a, b in zip(after.scores, before.scores))


def test_filter_and_metadata(built, corpus):
    results = built.search(corpus.queries, k=10, filter="year >= ? AND topic = ?", filter_params=[2015, "health"],
                           include_metadata=True)
    for hits in results:
        assert hits, "the filter matches documents"
        for hit in hits:
            assert hit["metadata"]["year"] >= 2015 and hit["metadata"]["topic"] == "health"
    with pytest.raises(plaid.InvalidInputError, match="no_such_field"):
        built.search(corpus.queries, filter="no_such_field = 1")


def test_subset_restricts_the_search_to_those_ids(built, corpus):
    subset = ["doc-5", "doc-6", "doc-7", "not-an-id"]
    results = built.search(corpus.queries, k=10, subset=subset)
    for q, hits in enumerate(results):
        assert {h["id"] for h in hits} == {"doc-5", "doc-6", "doc-7"}
        exact = maxsim(corpus.queries[q], built.document_embeddings(["doc-5", "doc-6", "doc-7"]))
        assert [h["id"] for h in hits] == [["doc-5", "doc-6", "doc-7"][i] for i in np.argsort(-exact)]
    assert built.search(corpus.queries[:1], subset=[])[0] == []


def test_document_embeddings_are_the_decoded_vectors(built, corpus):
    decoded = built.document_embeddings(["doc-4", "doc-8"])
    for got, original in zip(decoded, [corpus.documents[4], corpus.documents[8]]):
        assert got.shape == original.shape and got.dtype == np.float32
        cosine = (got * original).sum(axis=1) / np.linalg.norm(got, axis=1)
        assert cosine.min() > 0.8
    with pytest.raises(plaid.InvalidInputError, match="no live document has the id 'missing'"):
        built.document_embeddings(["missing"])


def test_rerank_is_exact_maxsim(corpus):
    query = corpus.queries[0]
    ranked = plaid.rerank(query, corpus.documents[:30], ids=corpus.ids[:30], k=5)
    exact = corpus.exact_scores(query)[:30]
    assert [r["id"] for r in ranked] == [corpus.ids[i] for i in np.argsort(-exact)[:5]]
    assert ranked[0]["score"] == pytest.approx(exact.max(), rel=1e-5)


def test_search_results_do_not_depend_on_threads(built, corpus):
    one = built.search(corpus.queries, k=10, threads=1)
    two = built.search(corpus.queries, k=10, threads=2)
    assert one.ids == two.ids


def test_ragged_queries_are_padded_without_changing_scores(built, corpus):
    short = corpus.queries[0][:7]
    alone = built.search([short], k=5)[0]
    padded = built.search([short, corpus.queries[1]], k=5)[0]
    assert alone == padded


def test_an_empty_index_is_built_only_from_documents(tmp_path):
    with pytest.raises(plaid.InvalidInputError, match="there is nothing to index"):
        plaid.Index.build(tmp_path / "empty", [], [])
    assert not (tmp_path / "empty").exists()


def test_an_index_created_empty_is_trained_by_its_first_batch(tmp_path, corpus):
    index = plaid.Index.create(tmp_path / "empty", corpus.dim, seed=7)
    assert index.info()["documents"] == 0 and index.info()["centroids"] == 0
    assert index.search(corpus.queries[:2], k=5).ids == [[], []]
    index.add(corpus.documents, corpus.ids)
    assert index.info()["centroids"] > 0
    assert index.search(corpus.documents[11], k=1)[0][0]["id"] == "doc-11"
    with pytest.raises(plaid.InvalidInputError, match="multiple of 8"):
        plaid.Index.create(tmp_path / "odd", 12)
    index.close()


def test_ids_of_any_unicode_and_with_nul_come_back_intact(tmp_path, corpus):
    ids = ["plain", "café", "caf\u0065\u0301", "with\0nul", "日本語", "emoji-\U0001F600", " spaced id "]
    index = plaid.Index.build(tmp_path / "unicode", corpus.documents[:len(ids)], ids, seed=1)
    results = index.search([corpus.documents[i] for i in range(len(ids))], k=1)
    assert [hits[0]["id"] for hits in results] == ids
    assert sorted(h["id"] for h in index.search(corpus.queries[:1], k=len(ids))[0]) == sorted(ids)
    index.close()


def test_searches_from_several_threads_at_once_equal_serial_ones(built, corpus):
    from concurrent.futures import ThreadPoolExecutor
    expected = [built.search(corpus.queries[i:i + 1], k=10).ids for i in range(len(corpus.queries))]
    with ThreadPoolExecutor(max_workers=4) as pool:
        got = list(pool.map(lambda i: built.search(corpus.queries[i:i + 1], k=10).ids, list(range(len(corpus.queries))) * 5))
    assert got == expected * 5


def test_writes_and_searches_from_threads_of_one_process(built, corpus):
    import threading
    errors = []

    def write():
        try:
            for i in range(5):
                built.add([corpus.documents[i] * -1], [f"threaded-{i}"])
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)

    writer = threading.Thread(target=write)
    writer.start()
    while writer.is_alive():
        assert len(built.search(corpus.queries[:2], k=10)) == 2
    writer.join()
    assert errors == []
    assert built.info()["documents"] == len(corpus.ids) + 5
    assert built.search(corpus.documents[4] * -1, k=1)[0][0]["id"] == "threaded-4"
