"""plaid from Python: PLAID's compressed ColBERT index and staged search, native, on the CPU.

    import plaid
    index = plaid.Index.build("docs.plaid", document_embeddings, ids)
    results = index.search(query_embeddings, k=10)

``plaid.pylate.PlaidIndex`` is the same index as a PyLate backend."""

from . import _native, shards
from .encoder import Encoder, rerank
from .errors import (CorruptIndexError, IndexExistsError, IndexLockedError, IndexNotFoundError, InvalidInputError,
                     PlaidError)
from .index import Index, SearchResults, build_segment, train_codebook

__version__ = _native.plaid_version().decode()

__all__ = ["Index", "SearchResults", "Encoder", "rerank", "shards", "train_codebook", "build_segment", "PlaidError", "InvalidInputError", "IndexNotFoundError",
           "IndexLockedError", "IndexExistsError", "CorruptIndexError", "__version__"]
