"""An index on disk, from Python: build it from numpy arrays, add, delete, upsert and compact it,
and search it in batches with filters."""

import ctypes
import json
import os
import warnings

import numpy as np

from . import _native as native
from .arrays import document_batch, query_batch


class SearchResults:
    """The hits of a batch search: per query, ids (best first), their scores and, when asked for,
    their metadata. Indexing or iterating gives per query a list of ``{"id", "score"}`` dicts
    (with ``"metadata"`` when asked for), the shape PyLate's indexes return."""

    def __init__(self, ids, scores, metadata=None):
        self.ids = ids
        self.scores = scores
        self.metadata = metadata

    def __len__(self):
        return len(self.ids)

    def __getitem__(self, query):
        hits = [{"id": i, "score": s} for i, s in zip(self.ids[query], self.scores[query].tolist())]
        if self.metadata is not None:
            for hit, fields in zip(hits, self.metadata[query]):
                hit["metadata"] = fields
        return hits

    def __iter__(self):
        return (self[q] for q in range(len(self)))

    def __repr__(self):
        return f"SearchResults({len(self)} queries, {sum(len(i) for i in self.ids)} hits)"


class Index:
    """An open plaid index. Searches read the newest commit (this object's or another process's);
    the first write takes the index's writer lock, held until ``close()``, so another process
    that writes meanwhile gets ``IndexLockedError``. Each write is one atomic commit.

    Use as a context manager, or call ``close()``, to release the lock promptly."""

    def __init__(self, path, _handle=None):
        self.path = native.path_argument(path)
        if _handle is None:
            _handle = ctypes.c_void_p()
            native.call(native.plaid_index_open, self.path.encode(), ctypes.byref(_handle))
        self._handle = _handle

    @classmethod
    def build(cls, path, embeddings, ids, *, metadata=None, texts=None, store_text=None, fts_tokenizer=None, nbits=2,
              centroids=None, kmeans_iterations=None, seed=None, overwrite=False):
        """Builds an index at ``path`` from the documents' token vectors (a list of [tokens, dim]
        arrays, or one [documents, tokens, dim] array) and their string ids, and opens it.
        ``metadata``: one dict (or None) per document, fields to filter on. ``texts``: one string
        per document, stored with it for BM25 and hybrid search (``store_text`` defaults to
        whether texts are given; ``fts_tokenizer`` is SQLite FTS5's, docs/text.md). An index
        already at ``path`` is replaced only with ``overwrite=True``; the old one stays until the
        new one is complete."""
        path = native.path_argument(path)
        names = native.Strings(ids, "document ids")
        vectors, lengths, dim = document_batch(embeddings, names.count)
        options = _options(nbits=nbits, centroids=centroids, kmeans_iterations=kmeans_iterations, seed=seed,
                           overwrite=overwrite, store_text=store_text, fts_tokenizer=fts_tokenizer,
                           texts=_texts(texts, names.count))
        handle = ctypes.c_void_p()
        native.call(native.plaid_index_build, path.encode(), options, native.pointer(vectors),
                    native.int64_pointer(lengths), names.count, dim, names.buffer_pointer, names.offsets_pointer,
                    _metadata_json(metadata, names.count), ctypes.byref(handle))
        return cls(path, _handle=handle)

    @classmethod
    def create(cls, path, dim=None, *, codebook=None, store_text=False, fts_tokenizer=None, nbits=2, kmeans_iterations=None,
               seed=None, overwrite=False):
        """Creates an index of no documents for vectors of dimension ``dim`` and opens it; the
        first ``add`` trains its centroids, as a build on that batch would. With
        ``store_text=True`` its documents keep the texts ``add`` is given. With ``codebook`` (a
        path from ``plaid.train_codebook``, or an index's), the index takes that codebook and its
        text settings instead, for ``attach`` (``dim`` may be left out)."""
        path = native.path_argument(path)
        if codebook is not None:
            if store_text or fts_tokenizer is not None or nbits != 2 or kmeans_iterations is not None or seed is not None:
                raise ValueError("store_text, fts_tokenizer, nbits, kmeans_iterations and seed go with training; "
                                 "with codebook= they come from the codebook")
            dim = 0 if dim is None else native.integer_argument("dim", dim, 8, 1 << 16)
            handle = ctypes.c_void_p()
            native.call(native.plaid_index_create, path.encode(), dim,
                        _options(codebook=native.path_argument(codebook), overwrite=overwrite), ctypes.byref(handle))
            return cls(path, _handle=handle)
        if dim is None:
            raise ValueError("give dim, the dimension of the vectors, or codebook=")
        dim = native.integer_argument("dim", dim, 8, 1 << 16)
        options = _options(nbits=nbits, kmeans_iterations=kmeans_iterations, seed=seed, overwrite=overwrite,
                           store_text=store_text or None, fts_tokenizer=fts_tokenizer)
        handle = ctypes.c_void_p()
        native.call(native.plaid_index_create, path.encode(), dim, options, ctypes.byref(handle))
        return cls(path, _handle=handle)

    # Writing

    def add(self, embeddings, ids, *, metadata=None, texts=None, upsert=False):
        """Adds documents in one commit. An id already in the index is an error unless
        ``upsert=True``, which replaces it. ``texts``: one string per document, stored with it
        (on an index that stores text). Returns a summary dict."""
        names = native.Strings(ids, "document ids")
        vectors, lengths, dim = document_batch(embeddings, names.count)
        summary = ctypes.c_void_p()
        native.call(native.plaid_index_add, self._live(), native.pointer(vectors), native.int64_pointer(lengths),
                    names.count, dim, names.buffer_pointer, names.offsets_pointer,
                    _metadata_json(metadata, names.count), _options(upsert=bool(upsert), texts=_texts(texts, names.count)),
                    ctypes.byref(summary))
        summary = json.loads(native.take_text(summary))
        if summary.get("without_text"):
            warnings.warn(f"no text for {summary['without_text']} of the {names.count} documents: the index stores text, and "
                          "they store an empty one, which BM25 never finds; pass texts=", UserWarning, stacklevel=2)
        return summary

    def attach(self, segments, *, upsert=False):
        """Attaches segment directories (``plaid.build_segment``, on any machine) in one commit, in
        the order given. Every segment is checked first: complete, undamaged, coded with this
        index's codebook, of its dimension, model and text settings, with ids new to the index
        (unless ``upsert=True`` replaces those documents) and to each other. Returns a summary dict."""
        paths = native.Strings([native.path_argument(segment) for segment in segments], "segment paths")
        summary = ctypes.c_void_p()
        native.call(native.plaid_index_attach, self._live(), paths.buffer_pointer, paths.offsets_pointer, paths.count,
                    _options(upsert=bool(upsert)), ctypes.byref(summary))
        return json.loads(native.take_text(summary))

    def upsert(self, embeddings, ids, *, metadata=None, texts=None):
        """Adds documents, replacing those of the same ids, in one commit."""
        return self.add(embeddings, ids, metadata=metadata, texts=texts, upsert=True)

    def delete(self, ids):
        """Deletes the documents of these ids in one commit; ids not in the index are listed
        under ``"unknown"`` in the summary."""
        names = native.Strings(ids, "document ids")
        summary = ctypes.c_void_p()
        native.call(native.plaid_index_delete, self._live(), names.buffer_pointer, names.offsets_pointer,
                    names.count, ctypes.byref(summary))
        return json.loads(native.take_text(summary))

    def compact(self):
        """Rewrites the index as one segment of its live documents; results do not change."""
        summary = ctypes.c_void_p()
        native.call(native.plaid_index_compact, self._live(), ctypes.byref(summary))
        return json.loads(native.take_text(summary))

    # Reading

    def info(self):
        """Counts, codebook, sizes, model and metadata fields of the current commit."""
        description = ctypes.c_void_p()
        native.call(native.plaid_index_info, self._live(), ctypes.byref(description))
        return json.loads(native.take_text(description))

    def __len__(self):
        return self.info()["documents"]

    def search(self, queries=None, k=10, *, texts=None, mode="plaid", fusion=None, alpha=None, filter=None,
               filter_params=None, subset=None, include_metadata=False, ncells=None, ndocs=None,
               centroid_score_threshold=None, probe_margin=None, fixed_budgets=None, threads=1):
        """Searches a batch of queries: one [queries, tokens, dim] array, a list of [tokens, dim]
        arrays, or one [tokens, dim] query. ``filter`` is an SQL condition on the metadata
        (``"year > ?"``) with ``filter_params`` bound to its ``?``; ``subset`` restricts the
        search to these document ids. ``ncells``, ``ndocs`` and ``centroid_score_threshold``
        are PLAID's parameters (their defaults depend on k); ``probe_margin`` (default 0.02)
        and ``fixed_budgets`` are plaid's (docs/cli.md, "How a search chooses its budgets").

        On an index that stores text, ``mode`` chooses the ranking (docs/text.md): ``"plaid"``
        (MaxSim over the vectors), ``"bm25"`` (over the stored text; give ``texts``, the queries'
        texts, and no vectors) or ``"hybrid"`` (both fused, by ``fusion="relative"`` with
        ``alpha``, PLAID's weight, 0.5 by default, or ``"rrf"``; give vectors and ``texts``).
        Returns ``SearchResults``."""
        if mode not in ("plaid", "bm25", "hybrid"):
            raise ValueError(f"mode must be 'plaid', 'bm25' or 'hybrid', not {mode!r}")
        if mode == "plaid" and texts is not None:
            raise ValueError("texts are read by mode='bm25' and mode='hybrid'; a plaid search reads the vectors alone")
        if mode == "bm25":
            if queries is not None:
                raise ValueError("mode='bm25' ranks by the stored text alone; give texts, not vectors")
            if texts is None:
                raise ValueError("mode='bm25' needs texts, the queries' texts")
            questions = _texts(texts, None, "queries", "query")
            array, shape = None, (len(questions), 0, 0)
        else:
            if queries is None:
                raise ValueError(f"mode={mode!r} needs the queries' vectors")
            array = query_batch(queries)
            shape = array.shape
            questions = None if texts is None else _texts(texts, shape[0], "queries", "query")
            if mode == "hybrid" and questions is None:
                raise ValueError("mode='hybrid' needs texts, the queries' texts, beside their vectors")
        if shape[0] == 0:
            return SearchResults([], [], [] if include_metadata else None)
        options = _options(k=k, filter=filter, filter_params=filter_params, include_metadata=include_metadata,
                           ncells=ncells, ndocs=ndocs, centroid_score_threshold=centroid_score_threshold,
                           probe_margin=probe_margin, fixed_budgets=fixed_budgets, threads=threads,
                           mode=None if mode == "plaid" else mode, questions=questions, fusion=fusion, alpha=alpha)
        chosen = native.Strings(subset, "subset ids") if subset is not None else None
        results = ctypes.c_void_p()
        native.call(native.plaid_index_search, self._live(), native.pointer(array) if array is not None else None,
                    shape[0], shape[1], shape[2], options, chosen.buffer_pointer if chosen else None,
                    chosen.offsets_pointer if chosen else None, chosen.count if chosen else -1,
                    ctypes.byref(results))
        return _take_results(results)

    def document_embeddings(self, ids):
        """The decoded token vectors ([tokens, dim] float32) of these documents, as the index
        stores them (centroid plus quantized residual)."""
        names = native.Strings(ids, "document ids")
        handle = ctypes.c_void_p()
        native.call(native.plaid_index_document_vectors, self._live(), names.buffer_pointer, names.offsets_pointer,
                    names.count, ctypes.byref(handle))
        return native.take_vectors(handle)

    # Lifetime

    def close(self):
        """Releases the writer lock (if this object took it) and the index."""
        handle, self._handle = self._handle, None
        if handle:
            native.plaid_index_close(handle)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        if getattr(self, "_handle", None):
            self.close()

    def __repr__(self):
        return f"plaid.Index({self.path!r})"

    def _live(self):
        if not self._handle:
            raise ValueError(f"the index at {self.path} is closed")
        return self._handle


def _options(**values):
    """The options JSON the C interface takes, without the unset ones. numpy scalars are taken as
    Python numbers; a number that is not finite is refused here (JSON has none)."""
    def plain(name, value):
        if isinstance(value, np.generic):
            value = value.item()
        if isinstance(value, float) and not np.isfinite(value):
            raise ValueError(f"{name} must be a finite number, not {value}")
        if isinstance(value, (list, tuple)):
            return [plain(f"{name}[{i}]", v) for i, v in enumerate(value)]
        return value
    return json.dumps({name: plain(name, value) for name, value in values.items() if value is not None},
                      allow_nan=False).encode()


def _texts(texts, count, what="documents", one="document"):
    """The texts as the options take them: a list of one string per document (or query); any
    iterable of strings, checked here so that a mistake names the text. ``count`` None: any."""
    if texts is None:
        return None
    if isinstance(texts, (str, bytes)):
        raise TypeError(f"texts is one string; give a list of one string per {one}")
    if isinstance(texts, dict):
        raise TypeError(f"texts is a dict; give a list of one string per {one}")
    texts = list(texts)
    if count is not None and len(texts) != count:
        raise ValueError(f"texts: {len(texts)} texts for {count} {what}; give one string per {one}")
    for position, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(f"texts[{position}] is {type(text).__name__}; give a string")
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as error:
            raise ValueError(f"texts[{position}] is not valid Unicode ({error.reason} at {error.start}: a lone surrogate?)") from None
    return texts


def _metadata_json(metadata, count):
    if metadata is None:
        return None
    metadata = list(metadata)
    if len(metadata) != count:
        raise ValueError(f"metadata: {len(metadata)} entries for {count} documents; give one dict (or None) per document")
    for position, fields in enumerate(metadata):
        if fields is not None and not isinstance(fields, dict):
            raise TypeError(f"metadata[{position}] is {type(fields).__name__}; give a dict of fields (or None)")
    try:
        return json.dumps(metadata, allow_nan=False).encode()
    except (TypeError, ValueError) as error:
        raise ValueError(f"metadata: a value is not JSON ({error}); use strings, numbers, booleans, lists and dicts") from None


def _take_results(handle):
    try:
        queries, hits, id_bytes = ctypes.c_int64(), ctypes.c_int64(), ctypes.c_int64()
        native.plaid_results_shape(handle, ctypes.byref(queries), ctypes.byref(hits), ctypes.byref(id_bytes))
        # At least one element each: the C side takes non-null pointers.
        counts = np.zeros(max(queries.value, 1), dtype=np.int64)
        scores = np.zeros(max(hits.value, 1), dtype=np.float32)
        offsets = np.zeros(hits.value + 1, dtype=np.int64)
        buffer = np.zeros(max(id_bytes.value, 1), dtype=np.uint8)
        native.plaid_results_copy(handle, native.pointer(counts), native.pointer(scores), native.pointer(offsets),
                                  native.pointer(buffer))
        metadata_text = native.plaid_results_metadata(handle)
        metadata = json.loads(metadata_text.decode("utf-8")) if metadata_text is not None else None
    finally:
        native.plaid_results_free(handle)
    ids = native.decode_terminated_strings(buffer[:id_bytes.value], offsets)
    bounds = np.concatenate([[0], np.cumsum(counts[:queries.value])]).tolist()
    per_query_ids = [ids[bounds[q]:bounds[q + 1]] for q in range(queries.value)]
    per_query_scores = [scores[bounds[q]:bounds[q + 1]] for q in range(queries.value)]
    per_query_metadata = None
    if metadata is not None:
        per_query_metadata = [metadata[bounds[q]:bounds[q + 1]] for q in range(queries.value)]
    return SearchResults(per_query_ids, per_query_scores, per_query_metadata)


def train_codebook(path, embeddings, ids=None, *, nbits=2, centroids=None, kmeans_iterations=None, seed=None,
                   store_text=False, fts_tokenizer=None, overwrite=False):
    """Trains the codebook a build spread over machines shares (docs/distributed.md) on documents'
    token vectors (a sample of the corpus) and writes it at ``path``: what ``Index.build`` would train
    on them. With ``store_text=True``, segments coded with it store their texts. Returns a summary
    dict (``identity``, ``centroids``, ``dim``, ``nbits``)."""
    path = native.path_argument(path)
    count = len(embeddings)
    names = native.Strings([str(i) for i in range(count)] if ids is None else ids, "document ids")
    vectors, lengths, dim = document_batch(embeddings, names.count)
    options = _options(nbits=nbits, centroids=centroids, kmeans_iterations=kmeans_iterations, seed=seed,
                       overwrite=overwrite, store_text=store_text or None, fts_tokenizer=fts_tokenizer)
    summary = ctypes.c_void_p()
    native.call(native.plaid_codebook_train, path.encode(), options, native.pointer(vectors), native.int64_pointer(lengths),
                names.count, dim, names.buffer_pointer, names.offsets_pointer, None, ctypes.byref(summary))
    return json.loads(native.take_text(summary))


def build_segment(path, codebook, embeddings, ids, *, metadata=None, texts=None, overwrite=False):
    """Codes documents with ``codebook`` (``train_codebook``'s path, or an index's) into a segment
    directory at ``path``, for ``Index.attach``: on any machine, from any process. ``texts`` are
    required when the codebook stores text. A segment already at ``path`` is replaced only with
    ``overwrite=True``. Returns a summary dict (``documents``, ``tokens``, ``outlier_tokens``,
    ``codebook_identity``)."""
    path, codebook = native.path_argument(path), native.path_argument(codebook)
    names = native.Strings(ids, "document ids")
    vectors, lengths, dim = document_batch(embeddings, names.count)
    summary = ctypes.c_void_p()
    native.call(native.plaid_segment_build, codebook.encode(), path.encode(),
                _options(overwrite=overwrite, texts=_texts(texts, names.count)), native.pointer(vectors),
                native.int64_pointer(lengths), names.count, dim, names.buffer_pointer, names.offsets_pointer,
                _metadata_json(metadata, names.count), ctypes.byref(summary))
    return json.loads(native.take_text(summary))
