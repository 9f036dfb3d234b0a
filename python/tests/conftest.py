import os

import numpy as np
import pytest

REPOSITORY = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def unit(array):
    return (array / np.linalg.norm(array, axis=-1, keepdims=True)).astype(np.float32)


class Corpus:
    """Random unit token vectors: documents of 4 to 40 tokens and 32-token queries, dim 128."""

    def __init__(self, documents=400, queries=8, dim=128, seed=0):
        rng = np.random.default_rng(seed)
        self.dim = dim
        self.ids = [f"doc-{i}" for i in range(documents)]
        self.documents = [unit(rng.normal(size=(int(rng.integers(4, 40)), dim))) for _ in range(documents)]
        self.queries = unit(rng.normal(size=(queries, 32, dim)))
        self.metadata = [{"year": 2000 + i % 20, "topic": ["health", "science", "cooking"][i % 3]} for i in range(documents)]

    def exact_scores(self, query):
        """MaxSim of one [tokens, dim] query against every document."""
        return np.array([float((query @ d.T).max(axis=1).sum()) for d in self.documents])


@pytest.fixture(scope="session")
def corpus():
    return Corpus()


@pytest.fixture
def built(tmp_path, corpus):
    import plaid
    index = plaid.Index.build(tmp_path / "index", corpus.documents, corpus.ids, metadata=corpus.metadata, seed=7)
    yield index
    index.close()


def plaid_binary():
    """The command-line plaid built by `swift build -c release` (or PLAID_BINARY)."""
    path = os.environ.get("PLAID_BINARY") or os.path.join(REPOSITORY, ".build", "release", "plaid")
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path} does not exist: build plaid (swift build -c release) or set PLAID_BINARY")
    return path


def read_run(path):
    """A TREC run file as {query: [(document, score), ...]}, in the file's order."""
    hits = {}
    for line in path.read_text().splitlines():
        query, _, document, _, score, _ = line.split()
        hits.setdefault(query, []).append((document, float(score)))
    return hits
