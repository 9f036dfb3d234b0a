"""A build spread over processes from Python: one codebook, segments coded apart, attached in one commit."""

import numpy as np
import pytest

import plaid


def test_shards_coded_apart_and_attached_search_as_one_index(corpus, tmp_path):
    trained = plaid.train_codebook(tmp_path / "codebook", corpus.documents, centroids=64, seed=7)
    assert trained["centroids"] == 64 and trained["dim"] == corpus.dim
    thirds = [range(0, 130), range(130, 270), range(270, len(corpus.ids))]
    segments = []
    for s, third in enumerate(thirds):
        segments.append(tmp_path / "segments" / str(s))
        made = plaid.build_segment(segments[-1], tmp_path / "codebook", [corpus.documents[i] for i in third],
                                   [corpus.ids[i] for i in third], metadata=[corpus.metadata[i] for i in third])
        assert made["documents"] == len(third) and made["codebook_identity"] == trained["identity"]
    with plaid.Index.create(tmp_path / "attached", codebook=tmp_path / "codebook") as attached:
        summary = attached.attach(segments)
        assert summary["added"] == len(corpus.ids) and summary["segments"] == 3
        # The same segments again: their ids are in the index now.
        with pytest.raises(plaid.InvalidInputError, match="already in the index"):
            attached.attach(segments[:1])
        assert len(attached) == len(corpus.ids)
        # One index of everything, coded with the same codebook, as one segment.
        plaid.build_segment(tmp_path / "whole", tmp_path / "codebook", corpus.documents, corpus.ids, metadata=corpus.metadata)
        with plaid.Index.create(tmp_path / "single", codebook=tmp_path / "codebook") as single:
            single.attach([tmp_path / "whole"])
            for k in (10, 50):
                got, expected = attached.search(corpus.queries, k=k), single.search(corpus.queries, k=k)
                for q in range(len(corpus.queries)):
                    assert list(got.ids[q]) == list(expected.ids[q])
                    assert np.array_equal(got.scores[q], expected.scores[q])
            filtered = attached.search(corpus.queries, k=5, filter="topic = ?", filter_params=["cooking"], include_metadata=True)
            hits = [hit for query in filtered for hit in query]
            assert hits and all(hit["metadata"]["topic"] == "cooking" for hit in hits)


def test_segments_of_another_codebook_or_without_their_texts_are_refused(corpus, tmp_path):
    plaid.train_codebook(tmp_path / "a", corpus.documents, centroids=32, seed=1)
    plaid.train_codebook(tmp_path / "b", corpus.documents, centroids=32, seed=2)
    plaid.build_segment(tmp_path / "segment-b", tmp_path / "b", corpus.documents[:10], corpus.ids[:10])
    with plaid.Index.create(tmp_path / "index", codebook=tmp_path / "a") as index:
        with pytest.raises(plaid.InvalidInputError, match="coded with another codebook"):
            index.attach([tmp_path / "segment-b"])
        assert len(index) == 0
    plaid.train_codebook(tmp_path / "text", corpus.documents, centroids=32, store_text=True)
    with pytest.raises(plaid.InvalidInputError, match="stores text"):
        plaid.build_segment(tmp_path / "no-texts", tmp_path / "text", corpus.documents[:10], corpus.ids[:10])
    with pytest.raises(ValueError, match="come from the codebook"):
        plaid.Index.create(tmp_path / "other", codebook=tmp_path / "a", nbits=4)
