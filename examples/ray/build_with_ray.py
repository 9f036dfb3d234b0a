#!/usr/bin/env python3
"""Builds a plaid index of a JSONL text collection with Ray: shards encoded and coded on Ray's workers,
attached in one commit at the end.

    python examples/ray/build_with_ray.py --collection corpus.jsonl --work /shared/job --index /shared/index \
        --shards 8 [--codebook CB | --sample-documents 10000] [--address auto] [--plaid /path/to/plaid]

Three steps, each a plain plaid command, so the same job runs under any engine (docs/distributed.md):
1. a codebook is trained once on a sample (`plaid codebook train`), unless --codebook names one;
2. one Ray task per shard reads its byte range of the collection and runs `plaid segment build`;
3. the driver creates the index from the codebook if it is not there (`plaid build --codebook`) and
   attaches the segments in shard order (`plaid attach`): one commit, or none.

--work and --index must be on storage every worker reads and writes (NFS, a bucket mount). A task that
fails is retried by Ray; `--overwrite` lets its retry replace what the failed try left. Prints a JSON
summary (timings per step and per shard) on stdout.
"""

import argparse
import json
import os
import socket
import subprocess
import time

import ray


def plaid(binary, *arguments, threads=None):
    """Runs one plaid command; its error sentence becomes the exception's message."""
    environment = dict(os.environ)
    if threads is not None:
        environment["PLAID_THREADS"] = str(threads)
    done = subprocess.run([binary, *map(str, arguments)], env=environment, capture_output=True, text=True)
    lines = [line.strip() for line in done.stderr.replace("\r", "\n").splitlines() if line.strip()]
    if done.returncode != 0:
        raise RuntimeError(f"plaid {arguments[0]} failed ({done.returncode}): {lines[-1] if lines else ''}")
    return lines[-1] if lines else ""


def shard_ranges(collection, shards):
    """Byte ranges of `shards` runs of whole lines of about equal line counts, in order."""
    starts = [0]
    with open(collection, "rb") as lines:
        for line in lines:
            starts.append(starts[-1] + len(line))
    count = len(starts) - 1
    if count == 0:
        raise SystemExit(f"{collection} holds no documents")
    shards = min(shards, count)
    bounds = [count * s // shards for s in range(shards + 1)]
    return [(starts[bounds[s]], starts[bounds[s + 1]]) for s in range(shards)]


@ray.remote(max_retries=2)
def build_segment(binary, collection, byte_range, codebook, segment, model, threads):
    """Worker: copies its byte range of the collection beside the segment, and codes it."""
    started = time.time()
    shard = segment + ".jsonl"
    first, last = byte_range
    with open(collection, "rb") as source, open(shard, "wb") as target:
        source.seek(first)
        target.write(source.read(last - first))
    arguments = ["segment", "build", "--codebook", codebook, "--collection", shard, "--output", segment, "--overwrite"]
    if model:
        arguments += ["--model", model]
    try:
        report = plaid(binary, *arguments, threads=threads)
    finally:
        os.remove(shard)
    return {"segment": segment, "seconds": round(time.time() - started, 2), "host": socket.gethostname(), "report": report}


@ray.remote
def train_codebook(binary, collection, codebook, model, sample_documents, threads):
    arguments = ["codebook", "train", "--collection", collection, "--output", codebook, "--overwrite"]
    if sample_documents:
        arguments += ["--sample-documents", sample_documents]
    if model:
        arguments += ["--model", model]
    return plaid(binary, *arguments, threads=threads)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--collection", required=True, help="JSONL collection (one document per line) on shared storage")
    parser.add_argument("--work", required=True, help="shared folder for the codebook and the segments")
    parser.add_argument("--index", required=True, help="the index to attach to (created from the codebook if missing)")
    parser.add_argument("--shards", type=int, default=4, help="segments to build (tasks)")
    parser.add_argument("--threads-per-task", type=int, default=1, help="PLAID_THREADS of each task; Ray gives each as many CPUs")
    parser.add_argument("--codebook", help="a trained codebook to use (default: train one into WORK/codebook)")
    parser.add_argument("--sample-documents", type=int, default=10000, help="documents the codebook is trained on")
    parser.add_argument("--model", help="the ColBERT model folder (default: plaid's default model)")
    parser.add_argument("--plaid", default="plaid", help="the plaid executable, the same build on every worker")
    parser.add_argument("--address", default=None, help="Ray cluster address ('auto' for a running one; default: a local Ray)")
    args = parser.parse_args()

    ray.init(address=args.address, logging_level="ERROR")
    work = os.path.abspath(args.work)
    os.makedirs(os.path.join(work, "segments"), exist_ok=True)
    collection = os.path.abspath(args.collection)
    timings = {}

    started = time.time()
    codebook = os.path.abspath(args.codebook) if args.codebook else os.path.join(work, "codebook")
    if not args.codebook:
        ray.get(train_codebook.options(num_cpus=args.threads_per_task).remote(
            args.plaid, collection, codebook, args.model, args.sample_documents, args.threads_per_task))
    timings["codebook_seconds"] = round(time.time() - started, 2)

    started = time.time()
    ranges = shard_ranges(collection, args.shards)
    segments = [os.path.join(work, "segments", f"shard-{s:05d}") for s in range(len(ranges))]
    tasks = [build_segment.options(num_cpus=args.threads_per_task).remote(
                 args.plaid, collection, byte_range, codebook, segment, args.model, args.threads_per_task)
             for byte_range, segment in zip(ranges, segments)]
    shards = ray.get(tasks)
    timings["segments_seconds"] = round(time.time() - started, 2)

    started = time.time()
    if not os.path.exists(os.path.join(args.index, "manifest.plaid")):
        plaid(args.plaid, "build", "--codebook", codebook, "--index", args.index)
    attached = plaid(args.plaid, "attach", "--index", args.index, *segments)
    timings["attach_seconds"] = round(time.time() - started, 2)
    print(json.dumps({"index": os.path.abspath(args.index), "codebook": codebook, "shards": shards, "attach": attached, **timings}, indent=2))


if __name__ == "__main__":
    main()
