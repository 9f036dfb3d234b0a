"""Text in the index from Python: stored texts, BM25 and hybrid search (docs/text.md)."""

import json
import subprocess

import numpy as np
import pytest

import plaid
from conftest import plaid_binary, read_run

WORDS = ["vitamin", "bone", "calcium", "sleep", "memory", "tide", "moon", "coffee", "yeast", "protein",
         "cell", "gene", "tumor", "immune", "virus", "heart", "brain", "muscle", "insulin", "liver"]


def texts_for(count, seed=3):
    rng = np.random.default_rng(seed)
    return [" ".join(WORDS[j] for j in rng.integers(0, len(WORDS), size=int(rng.integers(3, 12)))) for _ in range(count)]


QUESTIONS = ["vitamin and bone", "sleep memory brain", "insulin liver", "coffee"]


@pytest.fixture
def with_text(tmp_path, corpus):
    index = plaid.Index.build(tmp_path / "text-index", corpus.documents, corpus.ids, texts=texts_for(len(corpus.ids)), seed=7)
    yield index
    index.close()


def by_score(ids, scores):
    """The ids grouped by equal score, best first: few words make many ties, which the run file
    and the search list in different orders."""
    groups = {}
    for i, s in zip(ids, scores):
        groups.setdefault(float(s), set()).add(i)
    return sorted(groups.items(), reverse=True)


def test_bm25_equals_plaid_query_on_the_same_index(with_text, tmp_path):
    questions = tmp_path / "questions.jsonl"
    questions.write_text("".join(json.dumps({"_id": f"q{i}", "text": q}) + "\n" for i, q in enumerate(QUESTIONS)))
    run = tmp_path / "bm25.run"
    subprocess.run([plaid_binary(), "query", "--index", with_text.path, "--queries", str(questions), "--mode", "bm25",
                    "--k", "10", "--output", str(run)], check=True, capture_output=True)
    expected = read_run(run)
    results = with_text.search(texts=QUESTIONS, mode="bm25", k=10)
    for q, hits in enumerate(results):
        assert np.array_equal(np.float32([s for _, s in expected[f"q{q}"]]), results.scores[q])
        assert by_score(results.ids[q], results.scores[q]) == by_score([d for d, _ in expected[f"q{q}"]], results.scores[q])


def test_hybrid_weights_move_between_plaid_and_bm25(with_text, corpus):
    queries = corpus.queries[:len(QUESTIONS)]
    plaid_hits = with_text.search(queries, k=10)
    bm25_hits = with_text.search(texts=QUESTIONS, mode="bm25", k=100)
    all_plaid = with_text.search(queries, k=10, texts=QUESTIONS, mode="hybrid", alpha=1.0)
    all_bm25 = with_text.search(queries, k=10, texts=QUESTIONS, mode="hybrid", alpha=0.0)
    even = with_text.search(queries, k=10, texts=QUESTIONS, mode="hybrid")
    rrf = with_text.search(queries, k=10, texts=QUESTIONS, mode="hybrid", fusion="rrf")
    for q in range(len(QUESTIONS)):
        assert [h["id"] for h in all_plaid[q]] == [h["id"] for h in plaid_hits[q]]
        # BM25's order, up to ties (the best 10 of 100 whose ties may be cut in another place).
        ranks = {i: r for r, (_, group) in enumerate(by_score(bm25_hits.ids[q], bm25_hits.scores[q])) for i in group}
        assert [ranks[i] for i in all_bm25.ids[q]] == sorted(ranks[i] for i in all_bm25.ids[q])
        assert ranks[all_bm25.ids[q][0]] == 0
        assert len(even[q]) == 10 and len(rrf[q]) == 10
        assert list(even.scores[q]) == sorted(even.scores[q], reverse=True)


def test_texts_added_later_are_found_and_an_index_without_text_refuses_text_modes(built, corpus, tmp_path):
    with pytest.raises(plaid.InvalidInputError, match="stores no text"):
        built.search(texts=["vitamin"], mode="bm25")
    with pytest.raises(plaid.InvalidInputError, match="stores no text"):
        built.add([corpus.documents[0]], ["x"], texts=["vitamin"])
    with plaid.Index.create(tmp_path / "empty", corpus.dim, store_text=True) as index:
        index.add(corpus.documents[:50], corpus.ids[:50], texts=texts_for(50))
        index.add([corpus.documents[60]], ["zebra"], texts=["zebrafish fins regenerate"])
        assert index.search(texts=["zebrafish"], mode="bm25", k=3)[0][0]["id"] == "zebra"


def test_mistakes_are_named(with_text, corpus):
    with pytest.raises(ValueError, match="mode must be"):
        with_text.search(corpus.queries, mode="lexical")
    with pytest.raises(ValueError, match="give texts, not vectors"):
        with_text.search(corpus.queries, texts=["a"], mode="bm25")
    with pytest.raises(ValueError, match="needs texts"):
        with_text.search(corpus.queries, mode="hybrid")
    with pytest.raises(ValueError, match="2 texts for 8"):
        with_text.search(corpus.queries, texts=["a", "b"], mode="hybrid")
    with pytest.raises(ValueError, match="plaid search reads the vectors alone"):
        with_text.search(corpus.queries, texts=["a"] * 8)
    with pytest.raises(plaid.InvalidInputError, match="fusion must be"):
        with_text.search(corpus.queries, texts=["a"] * 8, mode="hybrid", fusion="max")
    with pytest.raises(plaid.InvalidInputError, match="alpha must be between 0 and 1"):
        with_text.search(corpus.queries, texts=["a"] * 8, mode="hybrid", alpha=2)
    with pytest.raises(plaid.InvalidInputError, match="fusion and alpha go with mode hybrid"):
        with_text.search(corpus.queries, alpha=0.3)
    with pytest.raises(ValueError, match="3 texts for 400 documents"):
        plaid.Index.build("/tmp/never", corpus.documents, corpus.ids, texts=["a", "b", "c"])
    with pytest.raises(TypeError, match="one string"):
        with_text.add([corpus.documents[0]], ["y"], texts="just one")
    with pytest.raises(plaid.InvalidInputError, match="NUL"):
        with_text.add([corpus.documents[0]], ["y"], texts=["a\x00b"])
    # Words that look like FTS5 syntax are words.
    for question in ['"NEAR(', "*", "AND OR", ""]:
        assert len(with_text.search(texts=[question], mode="bm25")[0]) == 0


def test_probe_defects_of_texts_from_python(with_text, corpus):
    # Texts left out of an add or upsert on an index that stores text are warned about (their
    # documents store an empty text, which BM25 never finds), as the command line warns.
    with pytest.warns(UserWarning, match="no text for 1 of the 1 documents"):
        with_text.upsert([corpus.documents[4]], ["doc-4"])
    # A lone surrogate names the text, not the options' JSON.
    with pytest.raises(ValueError, match=r"texts\[1\] is not valid Unicode"):
        with_text.search(texts=["coffee", "\ud800x"], mode="bm25")
    # Any iterable of strings, a generator included; a dict is not a list of texts.
    assert len(with_text.search(texts=(t for t in ["coffee"]), mode="bm25")) == 1
    with pytest.raises(TypeError, match="texts is a dict"):
        with_text.search(texts={"a": "coffee"}, mode="bm25")
    with pytest.raises(ValueError, match="2 texts for 8 queries"):
        with_text.search(corpus.queries, texts=["a", "b"], mode="hybrid")
