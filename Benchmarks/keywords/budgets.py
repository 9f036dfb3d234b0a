#!/usr/bin/env python3
"""Budgets from the scores against PLAID's fixed budgets: the share of the exact top-10 each search
keeps, how far that is below the codec bound, and queries/s, binaries side by side.

For each query set it writes, once, the codec bound's run (NEW with every centroid probed, nothing
pruned and every candidate scored exactly: the best any staged search over these codes can do).
Then, for `--rounds` interleaved rounds, it runs `plaid query` at k = 10 and k = 100 on one thread
with the baseline binary, NEW at its defaults, and NEW with `--fixed-budgets --probe-margin 0`,
and reports the median queries/s of the rounds. "Kept" is the share of the reference run's
top-10 (exhaustive MaxSim over the uncompressed vectors: `plaid eval --run-dir` writes it as
exhaustive.run) in the search's top-10, over the reference's queries.

Usage: budgets.py --baseline OLD --plaid NEW --index INDEX --set NAME QUERIES REFERENCE [--set ...]
                  [--rounds 3] [--work DIR]
  QUERIES    a query embeddings folder (`plaid encode --queries`), searched in full
  REFERENCE  a TREC run whose top-10 is the truth (its queries are the ones counted)
"""
import argparse
import collections
import os
import re
import statistics
import subprocess


def top10(path):
    ranked = collections.defaultdict(list)
    with open(path) as f:
        for line in f:
            qid, _, doc, rank, _score, _tag = line.split()
            ranked[qid].append((int(rank), doc))
    return {q: [d for _, d in sorted(v)[:10]] for q, v in ranked.items()}


def kept(run, reference):
    return sum(len(set(run.get(q, [])) & set(truth)) / len(truth) for q, truth in reference.items()) / len(reference)


def search(binary, index, queries, k, output, extra=()):
    result = subprocess.run([binary, "query", "--index", index, "--queries", queries, "--k", str(k), "--threads", "1",
                             "--output", output, *extra], capture_output=True, text=True, check=True)
    match = re.search(r"\(([0-9.]+) queries/s\)", result.stderr + result.stdout)
    return float(match.group(1))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--baseline", required=True)
    parser.add_argument("--plaid", required=True)
    parser.add_argument("--index", required=True)
    parser.add_argument("--set", nargs=3, action="append", metavar=("NAME", "QUERIES", "REFERENCE"), required=True)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--work", default="budgets-work")
    args = parser.parse_args()
    os.makedirs(args.work, exist_ok=True)
    configurations = {"baseline": (args.baseline, ()), "fixed": (args.plaid, ("--fixed-budgets", "--probe-margin", "0")),
                      "adaptive": (args.plaid, ())}
    bounds = {}
    for name, queries, _ in args.set:
        bound = os.path.join(args.work, f"{name}-bound.run")
        if not os.path.exists(bound):
            search(args.plaid, args.index, queries, 100, bound,
                   ("--fixed-budgets", "--ncells", "1000000000", "--ndocs", str(1 << 26), "--centroid-score-threshold", "-100"))
        bounds[name] = top10(bound)
    speeds = collections.defaultdict(list)
    for _ in range(args.rounds):
        for name, queries, _ in args.set:
            for k in (10, 100):
                for configuration, (binary, extra) in configurations.items():
                    run = os.path.join(args.work, f"{name}-{configuration}-k{k}.run")
                    speeds[(name, k, configuration)].append(search(binary, args.index, queries, k, run, extra))
    print("| queries | k | search | exact top-10 kept | below the codec bound | queries/s (median) | rounds |")
    print("|---|---|---|---|---|---|---|")
    for name, _, reference_path in args.set:
        reference = top10(reference_path)
        bound = kept(bounds[name], reference)
        print(f"| {name} | — | codec bound | {bound:.4f} | — | — | — |")
        for k in (10, 100):
            for configuration in configurations:
                run = top10(os.path.join(args.work, f"{name}-{configuration}-k{k}.run"))
                share = kept(run, reference)
                rates = speeds[(name, k, configuration)]
                print(f"| {name} | {k} | {configuration} | {share:.4f} | {bound - share:.4f} | {statistics.median(rates):.0f} | "
                      f"{', '.join(f'{r:.0f}' for r in rates)} |")


if __name__ == "__main__":
    main()
