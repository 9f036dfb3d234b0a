"""Writes pooling.json: documents of unit vectors and what PyLate 1.6's hierarchical token
pooling (ColBERT.pool_embeddings_hierarchical: the first token kept, the rest clustered by SciPy's
Ward linkage on 1 - cosine similarity computed in float32, cut with fcluster maxclust at
max(n // pool_factor, 1) clusters, cluster means) makes of them, for TokenPoolingTests.

    python3 make_pooling_fixture.py   # numpy and scipy
"""
import json

import numpy as np
from scipy.cluster import hierarchy


def pooled_like_pylate(vectors: np.ndarray, factor: int) -> np.ndarray:
    kept, rest = vectors[:1], vectors[1:]
    n = len(rest)
    clusters = max(n // factor, 1)
    if clusters >= n:
        return vectors
    distances = 1 - rest @ rest.T
    condensed = distances[np.triu_indices(n, k=1)]
    labels = hierarchy.fcluster(hierarchy.linkage(condensed, method="ward"), t=clusters, criterion="maxclust") - 1
    means = [rest[labels == c].mean(axis=0) for c in range(labels.max() + 1) if (labels == c).any()]
    return np.concatenate([kept, np.stack(means)]).astype(np.float32)


def document(rng, tokens: int, dimension: int, topics: int) -> np.ndarray:
    centers = rng.normal(size=(topics, dimension))
    vectors = centers[rng.integers(0, topics, size=tokens)] + 0.35 * rng.normal(size=(tokens, dimension))
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


rng = np.random.default_rng(7)
cases = []
for tokens, dimension, topics, factor in [(13, 8, 3, 2), (41, 16, 6, 3), (76, 16, 9, 4), (31, 8, 4, 100), (120, 32, 12, 2), (3, 8, 2, 2)]:
    vectors = document(rng, tokens, dimension, topics)
    cases.append({
        "dimension": dimension,
        "factor": factor,
        "vectors": [float(x) for x in vectors.ravel()],
        "pooled": [float(x) for x in pooled_like_pylate(vectors, factor).ravel()],
    })
with open("pooling.json", "w") as out:
    json.dump(cases, out)
