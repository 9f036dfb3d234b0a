"""Shards of one index behind their own ``plaid serve``: one request to every shard, the answers merged.

Segments coded with one codebook (``plaid codebook train``, ``plaid segment build``) give scores that
compare, so an index too large for one machine can be cut into shard indexes (``plaid build --codebook``
and ``plaid attach`` on each machine), each served by its own ``plaid serve``. A query goes to every
shard with the same request, and the per-shard top-k lists are merged by score::

    from plaid import shards
    results = shards.search(["http://10.0.0.1:8080", "http://10.0.0.2:8080"], {"queries": ["bone health"], "k": 10})

Only the standard library is used; the servers do the searching.
"""

import json
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor


class ShardError(RuntimeError):
    """A shard did not answer, or answered with an error; names the shard and what it said."""


def merge(per_shard, k):
    """Merges one query's hits from every shard (lists of ``{"id", "score", ...}``, best first, shards in
    order) into the best ``k``. Ties in score go to the earlier shard and then to the earlier hit: with
    shards that hold consecutive runs of one collection, in order, that is the order one index of the whole
    collection gives its ties (by the documents' positions)."""
    if k < 0:
        raise ValueError(f"k must not be negative, not {k}")
    ranked = sorted(((-float(hit["score"]), shard, rank, hit)
                     for shard, hits in enumerate(per_shard) for rank, hit in enumerate(hits)),
                    key=lambda entry: entry[:3])
    return [entry[3] for entry in ranked[:k]]


def search(urls, request, *, timeout=30.0, api_key=None):
    """Sends the ``POST /search`` body ``request`` to every server in ``urls`` at once and returns, per
    query, the hits merged to the request's ``k`` (default 10), as one index would answer. Only the plaid
    mode's scores compare across shards (BM25 and the fusions are each shard's own), so another ``mode``
    is refused. A shard that fails raises ``ShardError`` naming it: a partial answer is never passed off
    as a whole one."""
    if not urls:
        raise ValueError("give the address of at least one shard's server")
    if request.get("mode", "plaid") != "plaid":
        # BM25's term statistics and the fusions' normalizations are each shard's own.
        raise ValueError(f"mode {request['mode']!r} scores documents against each shard's own statistics, so the shards' "
                         "scores do not compare; only the plaid mode's can be merged")
    k = int(request.get("k", 10))
    body = json.dumps(request).encode()
    headers = {"Content-Type": "application/json"}
    if api_key is not None:
        headers["Authorization"] = f"Bearer {api_key}"

    def ask(url):
        address = url.rstrip("/") + "/search"
        try:
            with urllib.request.urlopen(urllib.request.Request(address, data=body, headers=headers), timeout=timeout) as answer:
                return json.load(answer)["results"]
        except urllib.error.HTTPError as error:
            detail = error.read().decode(errors="replace")
            raise ShardError(f"shard {url} answered {error.code}: {detail}") from None
        except (urllib.error.URLError, OSError, ValueError, KeyError) as error:
            raise ShardError(f"shard {url} did not answer the search: {error}") from None

    with ThreadPoolExecutor(max_workers=max(1, len(urls))) as pool:
        answers = list(pool.map(ask, urls))
    queries = {len(answer) for answer in answers}
    if len(queries) != 1:
        raise ShardError(f"the shards answered different numbers of queries ({sorted(queries)})")
    return [merge([answer[q] for answer in answers], k) for q in range(queries.pop())]
