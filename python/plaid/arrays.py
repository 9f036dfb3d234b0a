"""Turning what callers pass as embeddings (numpy arrays, lists of them, torch tensors, nested
lists) into the C-contiguous float32 the C interface reads, or a clear error."""

import numpy as np

# Types converted to float32 without asking: floats of other widths. Integers, booleans and
# complex numbers are not embeddings, and are refused.
_CONVERTIBLE = (np.float16, np.float32, np.float64)


def _as_float32(array, what):
    if hasattr(array, "detach"):  # a torch tensor, which may need grad detached and to leave a GPU
        array = array.detach().cpu()
        if str(array.dtype) == "torch.bfloat16":  # numpy has no bfloat16; float32 holds it exactly
            array = array.float()
        array = array.numpy()
    try:
        array = np.asarray(array)
    except ValueError as error:
        raise ValueError(f"{what}: not an array of numbers ({error})") from None
    if array.dtype == object:
        raise ValueError(f"{what}: a ragged or mixed nested list, not an array of numbers; pass a numpy array")
    if array.dtype.type not in _CONVERTIBLE:
        raise ValueError(
            f"{what}: dtype {array.dtype} is not a float type; embeddings are float32 (float16 and "
            "float64 are converted)")
    return np.ascontiguousarray(array, dtype=np.float32)


def document_batch(embeddings, count_ids, what="documents"):
    """(vectors [rows, dim], lengths [n] int64, dim) from a list of [tokens, dim] arrays or one
    [n, tokens, dim] array. A contiguous float32 3-D array is used in place."""
    if isinstance(embeddings, np.ndarray) or hasattr(embeddings, "detach"):
        array = _as_float32(embeddings, what)
        if array.ndim != 3:
            raise ValueError(
                f"{what}: expected one [tokens, dim] array per document (a list), or one "
                f"[documents, tokens, dim] array; got an array of shape {array.shape}")
        n, tokens, dim = array.shape
        lengths = np.full(n, tokens, dtype=np.int64)
        vectors = array.reshape(n * tokens, dim)
    else:
        documents = [_as_float32(d, f"{what}[{i}]") for i, d in enumerate(embeddings)]
        for i, d in enumerate(documents):
            if d.ndim != 2:
                raise ValueError(f"{what}[{i}]: expected a [tokens, dim] array, got shape {d.shape}")
        dims = {d.shape[1] for d in documents}
        if len(dims) > 1:
            raise ValueError(f"{what}: the documents have different dimensions {sorted(dims)}; all must have one")
        dim = dims.pop() if dims else 0
        lengths = np.fromiter((d.shape[0] for d in documents), dtype=np.int64, count=len(documents))
        vectors = np.concatenate(documents) if documents else np.zeros((0, dim), dtype=np.float32)
        n = len(documents)
    if n != count_ids:
        raise ValueError(f"{what}: {n} documents were given for {count_ids} ids; give one id per document")
    return vectors, lengths, vectors.shape[1] if vectors.ndim == 2 else 0


def query_batch(queries, what="queries"):
    """[n, tokens, dim] float32 from one such array, a list of [tokens, dim] arrays (shorter ones
    padded with zero vectors, which add nothing to MaxSim), or a single [tokens, dim] query."""
    if isinstance(queries, np.ndarray) or hasattr(queries, "detach"):
        array = _as_float32(queries, what)
        if array.ndim == 2:
            array = array[None]
        if array.ndim != 3:
            raise ValueError(f"{what}: expected [queries, tokens, dim] (or one [tokens, dim] query); got shape {array.shape}")
        return array
    items = [_as_float32(q, f"{what}[{i}]") for i, q in enumerate(queries)]
    for i, q in enumerate(items):
        if q.ndim != 2:
            raise ValueError(f"{what}[{i}]: expected a [tokens, dim] array, got shape {q.shape}")
    if not items:
        return np.zeros((0, 1, 8), dtype=np.float32)
    dims = {q.shape[1] for q in items}
    if len(dims) > 1:
        raise ValueError(f"{what}: the queries have different dimensions {sorted(dims)}; all must have one")
    tokens = max(q.shape[0] for q in items)
    out = np.zeros((len(items), tokens, dims.pop()), dtype=np.float32)
    for i, q in enumerate(items):
        out[i, :q.shape[0]] = q
    return out
