"""plaid as a PyLate index backend: ``retrieve.ColBERT(index=PlaidIndex(...))``.

Importing this module imports PyLate (and so torch); the rest of the package needs neither."""

import os
import shutil

from pylate.indexes.base import Base

from .errors import IndexExistsError
from .index import Index

# The file every plaid index (format 2) has; `override` removes a folder only when it holds one.
_MANIFEST = "manifest.plaid"


class PlaidIndex(Base):
    """A plaid index in ``index_folder/index_name``, as PyLate's backends take them.

    The first ``add_documents`` builds the index (``nbits``, ``centroids``,
    ``kmeans_iterations`` and ``seed`` are the build's settings); later ones add to it, replacing
    documents of the same ids. ``override=True`` replaces an index already there. ``ncells``,
    ``ndocs`` and ``centroid_score_threshold`` are PLAID's search parameters (defaults by k),
    and ``num_threads`` the threads searching a batch of queries."""

    is_end_to_end_index = True

    def __init__(self, index_folder="indexes", index_name="plaid", override=False, nbits=2, centroids=None,
                 kmeans_iterations=None, seed=None, ncells=None, ndocs=None, centroid_score_threshold=None,
                 num_threads=1, show_progress=False):
        self.index_folder = index_folder
        self.index_name = index_name
        self.index_path = os.path.join(index_folder, index_name)
        self.build_options = {"nbits": nbits, "centroids": centroids, "kmeans_iterations": kmeans_iterations, "seed": seed}
        self.search_options = {"ncells": ncells, "ndocs": ndocs, "centroid_score_threshold": centroid_score_threshold,
                               "threads": num_threads}
        if override and os.path.exists(self.index_path):
            if os.path.isfile(self.index_path) or (
                    not os.path.exists(os.path.join(self.index_path, _MANIFEST)) and os.listdir(self.index_path)):
                raise IndexExistsError(
                    f"{self.index_path} exists and is not a plaid index; override only replaces an index. "
                    "Choose another index_folder or index_name")
            shutil.rmtree(self.index_path)
        self.index = Index(self.index_path) if os.path.exists(os.path.join(self.index_path, _MANIFEST)) else None

    def add_documents(self, documents_ids, documents_embeddings, batch_size=None, **kwargs):
        """Adds documents (built into a new index the first time), replacing those of the same ids."""
        if isinstance(documents_ids, str):
            documents_ids = [documents_ids]
        documents_ids = list(documents_ids)
        if self.index is None:
            os.makedirs(self.index_folder, exist_ok=True)
            self.index = Index.build(self.index_path, list(documents_embeddings), documents_ids, **self.build_options)
        else:
            self.index.upsert(list(documents_embeddings), documents_ids)
        return self

    def remove_documents(self, documents_ids):
        """Deletes these documents; ids not in the index are passed over."""
        if isinstance(documents_ids, str):
            documents_ids = [documents_ids]
        if self.index is not None:
            self.index.delete(list(documents_ids))
        return self

    def __call__(self, queries_embeddings, k=10, subset=None):
        """Per query, the best ``k`` documents as ``{"id", "score"}``. ``subset``: ids to search
        within, one list for every query or one list per query."""
        if self.index is None:
            raise ValueError("The index is empty. Please add documents before querying.")
        if subset is None:
            return list(self.index.search(queries_embeddings, k=k, **self.search_options))
        if len(subset) > 0 and isinstance(subset[0], (list, tuple)):
            queries = list(queries_embeddings)
            if len(subset) != len(queries):
                raise ValueError(f"subset has {len(subset)} lists for {len(queries)} queries; give one per query, or one list for all")
            return [self.index.search([query], k=k, subset=list(ids), **self.search_options)[0]
                    for query, ids in zip(queries, subset)]
        return list(self.index.search(queries_embeddings, k=k, subset=list(subset), **self.search_options))

    def get_documents_embeddings(self, documents_ids):
        """The decoded vectors of the documents, grouped as the ids are (a list per query)."""
        if self.index is None:
            raise ValueError("The index is empty. Please add documents first.")
        if any(isinstance(group, str) for group in documents_ids):
            raise TypeError("documents_ids is a list of lists of ids (one list per query), as PyLate passes them")
        return [self.index.document_embeddings(list(group)) for group in documents_ids]

    def close(self):
        if self.index is not None:
            self.index.close()
