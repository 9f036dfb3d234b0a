#!/usr/bin/env python3
"""A BEIR dataset whose queries are cut to their 3 rarest words: short keyword queries against
the same documents, the shape of data where PLAID's staged search keeps the fewest of the exact
top results (issue 21).

A word is a maximal run of letters and digits, lowercased; its rarity is the number of corpus
documents (title and text) that contain it, and a word no document contains counts as rarest.
Ties go to the word that comes first in the query; the kept words stay in the query's order.

Usage: keyword_queries.py DATASET OUT [WORDS]
  DATASET  a BEIR folder (corpus.jsonl, queries.jsonl, qrels/)
  OUT      the new folder: corpus.jsonl and qrels/ linked to DATASET's, queries.jsonl cut
  WORDS    words kept per query (default 3)
"""
import json
import os
import re
import sys

WORD = re.compile(r"[^\W_]+")


def words(text):
    return [w.lower() for w in WORD.findall(text)]


def main():
    dataset, out = sys.argv[1], sys.argv[2]
    keep = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    frequency = {}
    with open(os.path.join(dataset, "corpus.jsonl"), encoding="utf-8") as corpus:
        for line in corpus:
            document = json.loads(line)
            for w in set(words(document.get("title", "") + " " + document.get("text", ""))):
                frequency[w] = frequency.get(w, 0) + 1
    os.makedirs(out, exist_ok=True)
    for name in ("corpus.jsonl", "qrels"):
        target = os.path.join(out, name)
        if not os.path.lexists(target):
            os.symlink(os.path.abspath(os.path.join(dataset, name)), target)
    with open(os.path.join(dataset, "queries.jsonl"), encoding="utf-8") as queries, \
            open(os.path.join(out, "queries.jsonl"), "w", encoding="utf-8") as cut:
        for line in queries:
            query = json.loads(line)
            unique = list(dict.fromkeys(words(query["text"])))
            rarest = sorted(range(len(unique)), key=lambda i: (frequency.get(unique[i], 0), i))[:keep]
            query["text"] = " ".join(unique[i] for i in sorted(rarest))
            cut.write(json.dumps(query, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
