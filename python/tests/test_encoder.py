"""plaid's native encoder from Python, against PyLate's on the same model folder."""

import os

import numpy as np
import pytest

import plaid
from conftest import REPOSITORY

MODEL = os.path.join(REPOSITORY, "models", "minilm-colbert")
TEXTS = ["Vitamin D helps the body absorb calcium, which keeps bones strong.",
         "Espresso forces hot water through finely ground coffee at high pressure.",
         "Tides."]


@pytest.fixture(scope="module")
def encoder():
    assert os.path.exists(os.path.join(MODEL, "model.safetensors")), "run scripts/setup.sh: it assembles the default model"
    encoder = plaid.Encoder(MODEL)
    yield encoder
    encoder.close()


@pytest.fixture(scope="module")
def pylate_model():
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from pylate import models
    return models.ColBERT(model_name_or_path=MODEL, local_files_only=True, device="cpu")


@pytest.mark.parametrize("is_query", [False, True])
def test_vectors_match_pylate(encoder, pylate_model, is_query):
    mine = encoder.encode(TEXTS, is_query=is_query)
    theirs = pylate_model.encode(TEXTS, is_query=is_query)
    for a, b in zip(mine, theirs):
        b = np.asarray(b, dtype=np.float32)
        assert a.shape == b.shape
        cosine = (a * b).sum(axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
        assert cosine.min() > 0.9999


def test_queries_have_query_length_vectors(encoder):
    queries = encoder.encode(["what keeps bones healthy?"], is_query=True)
    assert queries[0].shape == (encoder.query_length, encoder.dimension)


def test_pooling_merges_document_vectors(encoder):
    pooled = plaid.Encoder(MODEL, pool_factor=2)
    full, halved = encoder.encode(TEXTS[:1])[0], pooled.encode(TEXTS[:1])[0]
    assert len(full) // 2 <= len(halved) < len(full)
    pooled.close()


def test_bad_models_and_texts_are_clear(tmp_path, encoder):
    with pytest.raises(plaid.IndexNotFoundError, match="does not exist"):
        plaid.Encoder(tmp_path / "no-model")
    with pytest.raises(plaid.InvalidInputError, match="precision must be"):
        plaid.Encoder(MODEL, precision="int4")
    with pytest.raises(TypeError, match="list of texts"):
        encoder.encode("one text")
    with pytest.raises(TypeError, match="position 1 is int"):
        encoder.encode(["fine", 3])
