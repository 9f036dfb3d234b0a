"""The same embeddings through `plaid query` and through Python give the same ids and scores."""

import json
import subprocess

import numpy as np

import plaid
from conftest import plaid_binary, read_run


def write_queries(directory, queries):
    directory.mkdir()
    np.save(directory / "query_embeddings.npy", queries)
    (directory / "query_ids.json").write_text(json.dumps([f"q{i}" for i in range(len(queries))]))


def test_python_search_equals_plaid_query(built, corpus, tmp_path):
    write_queries(tmp_path / "queries", corpus.queries)
    # The defaults, and PLAID's fixed budgets without the probe margin.
    for k, fixed in ((10, False), (100, False), (10, True)):
        run = tmp_path / f"run-{k}-{fixed}.trec"
        flags = ["--fixed-budgets", "--probe-margin", "0"] if fixed else []
        subprocess.run([plaid_binary(), "query", "--index", built.path, "--queries", str(tmp_path / "queries"),
                        "--k", str(k), "--output", str(run), *flags], check=True, capture_output=True)
        expected = read_run(run)
        results = built.search(corpus.queries, k=k, **({"fixed_budgets": True, "probe_margin": 0} if fixed else {}))
        for q, hits in enumerate(results):
            # The run file prints each float32 score as a double: equal to float32 rounding. It
            # lists tied scores in trec_eval's order (ids in decreasing byte order), the search
            # in the index's; the random vectors here have no ties.
            assert [h["id"] for h in hits] == [d for d, _ in expected[f"q{q}"]]
            assert np.array_equal(np.float32([s for _, s in expected[f"q{q}"]]), results.scores[q])
