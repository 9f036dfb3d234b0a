"""Bad input from Python: a clear exception, and nothing written."""

import numpy as np
import pytest

import plaid


def generation(index):
    return index.info()["generation"]


def test_a_missing_index_is_index_not_found(tmp_path):
    with pytest.raises(plaid.IndexNotFoundError, match="does not exist"):
        plaid.Index(tmp_path / "nowhere")


def test_building_over_an_index_needs_overwrite(built, corpus):
    with pytest.raises(plaid.IndexExistsError, match="overwrite=True"):
        plaid.Index.build(built.path, corpus.documents[:50], corpus.ids[:50])
    assert built.info()["documents"] == len(corpus.ids)
    rebuilt = plaid.Index.build(built.path, corpus.documents[:50], corpus.ids[:50], overwrite=True)
    assert rebuilt.info()["documents"] == 50
    rebuilt.close()


def test_queries_of_the_wrong_dimension_are_a_value_error(built, corpus):
    with pytest.raises(ValueError, match="dimension 64 but the index has 128"):
        built.search(np.ones((2, 32, 64), dtype=np.float32))


@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.bool_, np.complex64])
def test_queries_and_documents_of_a_non_float_dtype_are_refused_with_nothing_written(built, corpus, dtype):
    before = generation(built)
    with pytest.raises(ValueError, match=f"dtype {np.dtype(dtype)} is not a float type"):
        built.search(np.ones((1, 32, 128), dtype=dtype))
    with pytest.raises(ValueError, match="is not a float type"):
        built.add([np.ones((4, 128), dtype=dtype)], ["ints"])
    assert generation(built) == before


@pytest.mark.parametrize("dtype", [np.float16, np.float64])
def test_other_float_widths_are_converted(built, corpus, dtype):
    query = corpus.queries[:2]
    converted = built.search(query.astype(dtype), k=5)
    assert converted.ids == built.search(query.astype(dtype).astype(np.float32), k=5).ids
    summary = built.add([corpus.documents[0].astype(dtype)], [f"converted-{np.dtype(dtype)}"])
    assert summary["added"] == 1


def test_non_contiguous_arrays_are_copied_into_order(built, corpus):
    strided = np.asfortranarray(corpus.queries[:3])
    sliced = np.concatenate([corpus.queries[:3], corpus.queries[:3]], axis=2)[:, :, ::2]
    assert not strided.flags.c_contiguous and not sliced.flags.c_contiguous
    expected = built.search(corpus.queries[:3], k=5).ids
    assert built.search(strided, k=5).ids == expected
    assert built.search(np.ascontiguousarray(sliced), k=5).ids == built.search(sliced, k=5).ids


def test_ids_that_are_not_strings_are_a_type_error_with_nothing_written(built, corpus):
    before = generation(built)
    with pytest.raises(TypeError, match="position 1 is int"):
        built.add(corpus.documents[:2], ["fine", 7])
    with pytest.raises(TypeError, match="document ids must be strings"):
        built.delete([3])
    assert generation(built) == before


def test_documents_and_ids_must_match_in_number(built, corpus):
    with pytest.raises(ValueError, match="3 documents were given for 2 ids"):
        built.add(corpus.documents[:3], ["a", "b"])


def test_bad_vectors_are_refused_naming_the_row_with_nothing_written(built, corpus):
    before = generation(built)
    bad = corpus.documents[0].copy()
    bad[2, 5] = np.nan
    with pytest.raises(plaid.InvalidInputError, match="row 2 holds NaN"):
        built.add([bad], ["nan-doc"])
    with pytest.raises(plaid.InvalidInputError, match="zero vector"):
        built.add([np.zeros((3, 128), dtype=np.float32)], ["zero-doc"])
    with pytest.raises(plaid.InvalidInputError, match="NaN"):
        built.search(np.full((1, 32, 128), np.inf, dtype=np.float32))
    assert generation(built) == before


def test_wrong_shapes_are_a_value_error(built, corpus):
    with pytest.raises(ValueError, match="shape"):
        built.search(np.ones(128, dtype=np.float32))
    with pytest.raises(ValueError, match=r"expected a \[tokens, dim\] array"):
        built.add([np.ones(128, dtype=np.float32)], ["flat"])
    with pytest.raises(ValueError, match="different dimensions"):
        built.add([corpus.documents[0], np.ones((3, 64), dtype=np.float32)], ["a", "b"])


def test_bad_search_options_and_filters_are_clear(built, corpus):
    with pytest.raises(plaid.InvalidInputError, match="'k' must be between 1"):
        built.search(corpus.queries, k=0)
    with pytest.raises(plaid.InvalidInputError, match="filter_params was given without a filter"):
        built.search(corpus.queries, filter_params=[1])
    with pytest.raises(plaid.InvalidInputError, match="placeholder"):
        built.search(corpus.queries, filter="year > ?")
    with pytest.raises(plaid.InvalidInputError):
        built.search(corpus.queries, filter="year > 1; DROP TABLE metadata")


def test_metadata_must_be_one_dict_per_document(built, corpus):
    with pytest.raises(ValueError, match="2 entries for 1 documents"):
        built.add(corpus.documents[:1], ["m"], metadata=[{}, {}])
    with pytest.raises(TypeError, match=r"metadata\[0\] is str"):
        built.add(corpus.documents[:1], ["m"], metadata=["year=1"])


def test_a_closed_index_says_so(built):
    built.close()
    with pytest.raises(ValueError, match="is closed"):
        built.search(np.ones((1, 32, 128), dtype=np.float32))


# Found by probing the API (each the probe's input, before its fix).

def test_a_query_of_half_a_million_tokens_is_refused_not_a_crash(tmp_path):
    rng = np.random.default_rng(0)
    index = plaid.Index.build(tmp_path / "q500k", [rng.standard_normal((5, 32)).astype(np.float32) for _ in range(200)],
                              [f"d{i}" for i in range(200)], seed=1)
    with pytest.raises(plaid.InvalidInputError, match="500000 vectors per query; at most 8192"):
        index.search(np.ones((1, 500_000, 32), np.float32), k=3)
    index.close()


def test_an_index_replaced_under_a_writer_is_not_written_by_it(tmp_path, corpus):
    import shutil
    path = tmp_path / "replaced"
    index = plaid.Index.build(path, corpus.documents[:200], corpus.ids[:200], seed=1)
    index.add(corpus.documents[200:201], ["n1"])        # takes the writer lock
    shutil.rmtree(path)                                   # the lock file goes with the folder
    plaid.Index.build(path, corpus.documents[:20], corpus.ids[:20], seed=1).close()
    with pytest.raises(plaid.InvalidInputError, match="changed on disk"):
        index.add(corpus.documents[201:202], ["n2"])
    with plaid.Index(path) as fresh:
        assert fresh.info()["documents"] == 20
    index.close()


def test_paths_with_nul_are_refused(tmp_path, corpus):
    with pytest.raises(ValueError, match="embedded null byte"):
        plaid.Index.build(str(tmp_path) + "/b\x00c", corpus.documents[:20], corpus.ids[:20])
    with pytest.raises(ValueError, match="embedded null byte"):
        plaid.Index.create(str(tmp_path) + "/c\x00zz", 32)
    assert not (tmp_path / "b").exists() and not (tmp_path / "c").exists()


def test_integers_are_checked_not_wrapped(tmp_path, corpus):
    with pytest.raises(ValueError, match="dim must be"):
        plaid.Index.create(tmp_path / "wrapped", 2**64 + 32)
    with pytest.raises(TypeError, match="dim must be an integer"):
        plaid.Index.create(tmp_path / "float", 32.7)
    with pytest.raises(ValueError, match="k must be"):
        plaid.rerank(corpus.queries[0], corpus.documents[:3], k=2**64 + 1)
    with pytest.raises(ValueError, match="k must be"):
        plaid.rerank(corpus.queries[0], corpus.documents[:3], k=0)
    assert not (tmp_path / "wrapped").exists()


def test_one_string_where_ids_are_expected_is_a_type_error(built, corpus):
    before = built.info()["generation"]
    with pytest.raises(TypeError, match="not one string"):
        built.delete("doc-1")
    with pytest.raises(TypeError, match="not one string"):
        built.add(corpus.documents[:3], "xyz")
    with pytest.raises(TypeError, match="not one string"):
        built.search(corpus.queries, subset="doc-1")
    assert built.info()["generation"] == before


def test_numpy_scalars_are_taken_and_non_finite_options_refused(built, corpus):
    assert built.search(corpus.queries[:1], k=np.int64(3)).ids == built.search(corpus.queries[:1], k=3).ids
    hits = built.search(corpus.queries[:1], k=5, filter="year >= ?", filter_params=[np.int64(2015)], include_metadata=True)
    assert all(h["metadata"]["year"] >= 2015 for h in hits[0])
    with pytest.raises(ValueError, match="centroid_score_threshold must be a finite number"):
        built.search(corpus.queries[:1], centroid_score_threshold=float("nan"))
    with pytest.raises(plaid.InvalidInputError, match="probe_margin must be between 0 and 2"):
        built.search(corpus.queries[:1], probe_margin=3)


def test_a_dimension_past_the_index_format_is_an_input_error_not_a_damaged_index(tmp_path):
    with pytest.raises(plaid.InvalidInputError, match="at most 65536"):
        plaid.Index.build(tmp_path / "wide", [np.ones((1, 131072), np.float32) / 500] * 2, ["a", "b"])
    assert not (tmp_path / "wide").exists()


def test_bfloat16_tensors_are_converted(built, corpus):
    import torch
    query = torch.from_numpy(corpus.queries[:2]).to(torch.bfloat16)
    expected = built.search(query.float().numpy(), k=5).ids
    assert built.search(query, k=5).ids == expected
