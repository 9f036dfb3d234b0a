"""Searches in a loop keep resident memory flat: results and their buffers are released."""

import os

import plaid


def resident_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def test_one_hundred_searches_keep_rss_flat(built, corpus):
    for _ in range(20):  # warm up: snapshot, lookup tables, allocator pools
        built.search(corpus.queries, k=400, include_metadata=True, subset=corpus.ids)
    start = resident_bytes()
    for _ in range(100):
        results = built.search(corpus.queries, k=400, include_metadata=True, subset=corpus.ids)
        assert len(results) == len(corpus.queries)
    grown = resident_bytes() - start
    # A leak of the results (8 queries x 400 hits with ids and metadata) would add about
    # 100 x 200 KB; allow allocator noise of 2 MB.
    assert grown < 2 * 1024 * 1024, f"resident memory grew by {grown / 1e6:.1f} MB over 100 searches"


def test_encoder_and_index_handles_are_released(built, corpus, tmp_path):
    start = None
    for i in range(60):
        index = plaid.Index(built.path)
        index.search(corpus.queries[:1], k=5)
        index.close()
        if i == 10:
            start = resident_bytes()
    assert resident_bytes() - start < 4 * 1024 * 1024
