"""plaid's native ColBERT encoder (BERT and ModernBERT on the CPU, no torch), and exact MaxSim
reranking."""

import ctypes
import json
import os

import numpy as np

from . import _native as native
from .arrays import document_batch, query_batch


class Encoder:
    """A ColBERT model folder (PyLate / sentence-transformers layout), loaded natively.
    ``precision``: "int16" (the default; cosine within 1e-6 of float32) or "float32".
    ``pool_factor`` merges each document's vectors by that factor (1 keeps all)."""

    def __init__(self, model, *, precision=None, batch_size=None, pool_factor=None):
        self.model = native.path_argument(model)
        options = json.dumps({name: value for name, value in
                              {"precision": precision, "batch_size": batch_size, "pool_factor": pool_factor}.items()
                              if value is not None}).encode()
        self._handle = ctypes.c_void_p()
        native.call(native.plaid_encoder_open, self.model.encode(), options, ctypes.byref(self._handle))
        dimension, query_length = ctypes.c_int64(), ctypes.c_int64()
        native.plaid_encoder_shape(self._handle, ctypes.byref(dimension), ctypes.byref(query_length))
        self.dimension = dimension.value
        self.query_length = query_length.value

    def encode(self, texts, *, is_query=False):
        """Each text's token vectors, a [tokens, dimension] float32 array: documents without
        their skiplist tokens, queries with all ``query_length`` vectors (as PyLate)."""
        if isinstance(texts, str):
            raise TypeError("encode takes a list of texts; wrap a single text in a list")
        items = native.Strings(list(texts), "texts")
        if not self._handle:
            raise ValueError("the encoder is closed")
        handle = ctypes.c_void_p()
        native.call(native.plaid_encoder_encode, self._handle, items.buffer_pointer, items.offsets_pointer,
                    items.count, int(bool(is_query)), ctypes.byref(handle))
        return native.take_vectors(handle)

    def close(self):
        handle, self._handle = self._handle, None
        if handle:
            native.plaid_encoder_close(handle)

    def __del__(self):
        if getattr(self, "_handle", None):
            self.close()


def rerank(query, documents, ids=None, k=None):
    """Orders ``documents`` (a list of [tokens, dim] arrays) by exact MaxSim against ``query``
    ([tokens, dim]), best first, as PyLate's ``rank.rerank`` scores them. Returns a list of
    ``{"id", "score"}`` (ids default to the documents' positions), at most ``k`` of them."""
    q = query_batch(query, what="query")
    if q.shape[0] != 1:
        raise ValueError(f"query: expected one [tokens, dim] query, got {q.shape[0]} queries")
    k = 0 if k is None else native.integer_argument("k", k, 1, 2**62)
    documents = list(documents)
    ids = list(range(len(documents))) if ids is None else list(ids)
    vectors, lengths, dim = document_batch(list(documents), len(ids), what="documents")
    n = len(lengths)
    if n == 0:
        return []
    if dim != q.shape[2]:
        raise ValueError(f"the query has dimension {q.shape[2]} but the documents have {dim}")
    positions = np.zeros(n, dtype=np.int64)
    scores = np.zeros(n, dtype=np.float32)
    count = ctypes.c_int64()
    native.call(native.plaid_rerank, native.pointer(q), q.shape[1], q.shape[2], native.pointer(vectors),
                native.pointer(lengths), n, k, native.pointer(positions), native.pointer(scores),
                ctypes.byref(count))
    return [{"id": ids[positions[i]], "score": float(scores[i])} for i in range(count.value)]
