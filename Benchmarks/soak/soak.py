#!/usr/bin/env python3
"""soak: `plaid serve` under searches, writes, hostile requests and `kill -9`, checked for lost
writes, crashes, latency and memory.

    swift build -c release
    python3 Benchmarks/soak/soak.py [--seconds 600] [--kill-every 60] [--work DIR]

It builds a small synthetic index (dimension 32) in WORK, starts `plaid serve` on it, and runs
8 searcher threads, one writer adding documents under fresh ids and one deleter deleting ids the
writer was answered for. For the first BASELINE seconds (default 30) that is all: the p99 of
those searches is the unloaded p99. Then, for SECONDS more, one thread also sends hostile
requests (filters that escape their parentheses or run without bound, huge values, malformed and
oversized bodies, cross-origin writes, a client that never finishes its body), and every
KILL_EVERY seconds the server is killed with SIGKILL and restarted on the same index.

Invariants, checked after every restart and at the end (the script exits 1 if one fails):
- every write answered 2xx is in the index: an added id is found by a search filtered on it, a
  deleted id is not; a write answered with an error left nothing (its ids are absent);
- the server never exits but by our SIGKILL or the final SIGTERM;
- the p99 of the searchers' searches under attack stays within 3x of the unloaded p99;
- the resident memory (VmRSS, sampled each second) stays below RSS_LIMIT_MIB (default 2048).

Only loopback addresses are used. All loops stop by themselves when SECONDS have passed.
"""
import argparse
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

DIM = 32


def unit(rng, tokens):
    rows = []
    for _ in range(tokens):
        v = [rng.uniform(-1, 1) for _ in range(DIM)]
        n = sum(x * x for x in v) ** 0.5 or 1.0
        rows.append([x / n for x in v])
    return rows


class Server:
    def __init__(self, plaid, index, log_dir):
        self.plaid, self.index, self.log_dir = plaid, index, log_dir
        self.process = None
        self.port = None
        self.starts = 0

    def start(self):
        self.starts += 1
        out = open(os.path.join(self.log_dir, f"serve-{self.starts}.out"), "w")
        err = open(os.path.join(self.log_dir, f"serve-{self.starts}.err"), "w")
        self.process = subprocess.Popen([self.plaid, "serve", "--index", self.index, "--port", "0", "--threads", "2"],
                                        stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        deadline = time.time() + 120
        while time.time() < deadline:
            text = open(out.name).read()
            if "listening on http://127.0.0.1:" in text:
                self.port = int(text.split("listening on http://127.0.0.1:")[1].split()[0].rstrip(")").split("/")[0])
                return
            if self.process.poll() is not None:
                raise RuntimeError(f"plaid serve exited at start: {open(err.name).read()}")
            time.sleep(0.05)
        raise RuntimeError("plaid serve did not start")

    def rss_mib(self):
        try:
            for line in open(f"/proc/{self.process.pid}/status"):
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        except OSError:
            return 0
        return 0


def request(port, method, path, body=None, headers=None, timeout=30):
    data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
    h = {"Content-Type": "application/json"} if data is not None else {}
    h.update(headers or {})
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, method=method, headers=h)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=600)
    parser.add_argument("--baseline", type=float, default=30)
    parser.add_argument("--kill-every", type=float, default=60)
    parser.add_argument("--work", default="/tmp/plaid-soak")
    parser.add_argument("--plaid", default=".build/release/plaid")
    parser.add_argument("--rss-limit-mib", type=float, default=float(os.environ.get("RSS_LIMIT_MIB", 2048)))
    args = parser.parse_args()

    shutil.rmtree(args.work, ignore_errors=True)
    os.makedirs(args.work)
    index = os.path.join(args.work, "index")
    subprocess.run([args.plaid, "synthesize", "--documents", "2000", "--dim", str(DIM), "--min-tokens", "10", "--max-tokens", "40",
                    "--seed", "5", "--output", os.path.join(args.work, "emb")], check=True, capture_output=True)
    subprocess.run([args.plaid, "build", "--embeddings", os.path.join(args.work, "emb"), "--index", index, "--centroids", "256"],
                   check=True, capture_output=True)

    server = Server(args.plaid, index, args.work)
    server.start()
    rng = random.Random(1)
    queries = [unit(rng, 16) for _ in range(50)]

    def search_once(port, q):
        started = time.time()
        status, _ = request(port, "POST", "/search", {"query_embeddings": [q], "k": 10})
        return status, time.time() - started

    lock = threading.Lock()
    state = {"answered_added": set(), "answered_deleted": set(), "refused_added": set(), "latencies": [], "baseline": [],
             "search_errors": 0, "hostile": 0, "hostile_5xx": [], "unexpected_exits": 0, "max_rss": 0.0,
             "restarts": 0, "writes": 0, "deletes": 0, "exit_codes": [], "unanswered_deleted": set()}
    attack_at = time.time() + args.baseline
    stop_at = attack_at + args.seconds
    restarting = threading.Event()
    # Held while the server is killed and restarted, so that the watcher never takes our SIGKILL
    # for a crash (and starts a second server) in the middle.
    process_lock = threading.Lock()

    def port():
        return server.port

    def searcher(seed):
        r = random.Random(seed)
        while time.time() < stop_at:
            if restarting.is_set():
                time.sleep(0.05)
                continue
            try:
                status, seconds = search_once(port(), queries[r.randrange(len(queries))])
            except (OSError, urllib.error.URLError):
                continue
            with lock:
                if status == 200:
                    state["latencies" if time.time() >= attack_at else "baseline"].append(seconds)
                elif status >= 500:
                    state["search_errors"] += 1

    def writer():
        r = random.Random(2)
        n = 0
        while time.time() < stop_at:
            ids = [f"w{n}-{j}" for j in range(5)]
            n += 1
            body = {"documents": [{"id": i, "embeddings": unit(r, r.randint(5, 20))} for i in ids]}
            try:
                status, _ = request(port(), "POST", "/documents", body)
            except (OSError, urllib.error.URLError):
                continue  # unanswered: either outcome is allowed
            with lock:
                state["writes"] += 1
                if 200 <= status < 300:
                    state["answered_added"].update(ids)
                else:
                    state["refused_added"].update(ids)
            time.sleep(0.05)

    def deleter():
        r = random.Random(3)
        while time.time() < stop_at:
            time.sleep(0.3)
            with lock:
                candidates = sorted(state["answered_added"] - state["answered_deleted"])
            if len(candidates) < 20:
                continue
            victim = candidates[r.randrange(len(candidates))]
            try:
                status, _ = request(port(), "DELETE", "/documents", {"ids": [victim]})
            except (OSError, urllib.error.URLError):
                with lock:
                    state["unanswered_deleted"].add(victim)  # it may or may not have landed
                continue
            if 200 <= status < 300:
                with lock:
                    state["answered_deleted"].add(victim)
                    state["deletes"] += 1

    def slow_client():
        try:
            s = socket.create_connection(("127.0.0.1", port()), timeout=5)
            s.sendall(b"POST /documents HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"docu")
            time.sleep(2)
            s.close()
        except OSError:
            pass

    hostile_requests = [
        ("POST", "/search", {"query_embeddings": [unit(random.Random(9), 2)], "filter": "0) UNION ALL SELECT -1 WHERE (1"}, {}),
        ("POST", "/search", {"query_embeddings": [unit(random.Random(9), 2)],
                             "filter": "(SELECT count(*) FROM metadata a, metadata b, metadata c, metadata d) > 0"}, {}),
        ("POST", "/search", {"query_embeddings": [unit(random.Random(9), 2)], "filter": "length(randomblob(900000000)) > 0"}, {}),
        ("POST", "/documents", {"documents": [{"id": "huge", "embeddings": [[1e38] + [0] * (DIM - 1)]}]}, {}),
        ("POST", "/search", {"query_embeddings": [[[1e38] + [0] * (DIM - 1)]]}, {}),
        ("POST", "/documents", b"{\"documents\": [", {}),
        ("POST", "/documents", {"documents": [{"id": "csrf", "embeddings": unit(random.Random(8), 2)}]},
         {"Content-Type": "text/plain", "Origin": "http://evil.example"}),
        ("POST", "/search", b"{" + b",".join(b'"k%d":1' % i for i in range(80000)) + b"}", {}),
        ("POST", "/search", b"[" + b",".join([b"[0]"] * 200000) + b"]", {}),
    ]

    def hostile():
        r = random.Random(4)
        while time.time() < stop_at:
            time.sleep(0.5)
            if restarting.is_set() or time.time() < attack_at:
                continue
            if r.random() < 0.15:
                threading.Thread(target=slow_client, daemon=True).start()
                continue
            method, path, body, headers = hostile_requests[r.randrange(len(hostile_requests))]
            try:
                status, answer = request(port(), method, path, body, headers, timeout=60)
            except (OSError, urllib.error.URLError):
                continue
            with lock:
                state["hostile"] += 1
                if status >= 500 and status != 503:
                    state["hostile_5xx"].append((path, status, answer[:200].decode(errors="replace")))

    def watch():
        while time.time() < stop_at:
            time.sleep(1)
            with lock:
                state["max_rss"] = max(state["max_rss"], server.rss_mib())
            with process_lock:
                if server.process.poll() is None:
                    continue
                with lock:
                    state["unexpected_exits"] += 1
                    state["exit_codes"].append(server.process.returncode)
                restarting.set()
                server.start()
                restarting.clear()

    threads = [threading.Thread(target=searcher, args=(10 + i,)) for i in range(8)]
    threads += [threading.Thread(target=f) for f in (writer, deleter, hostile, watch)]
    for t in threads:
        t.start()

    failures = []

    def check_writes(label):
        with lock:
            added = set(state["answered_added"])
            deleted = set(state["answered_deleted"])
            refused = set(state["refused_added"]) - added
            uncertain = set(state["unanswered_deleted"]) - deleted
        sample = random.Random(len(added)).sample(sorted(added - uncertain), min(60, len(added - uncertain)))
        for doc in sample + sorted(refused)[:20]:
            try:
                status, answer = request(server.port, "POST", "/search", {"query_embeddings": [unit(random.Random(0), 2)], "k": 1,
                                                                           "filter": "id = ?", "filter_params": [doc]})
            except (OSError, urllib.error.URLError) as error:
                failures.append(f"{label}: checking {doc} got no answer ({error})")
                continue
            if status != 200:
                failures.append(f"{label}: checking {doc} answered {status}")
                continue
            found = bool(json.loads(answer)["results"][0])
            expected = doc in added and doc not in deleted
            if found != expected:
                failures.append(f"{label}: id {doc} {'found' if found else 'missing'}, expected {'present' if expected else 'absent'}")

    next_kill = attack_at + args.kill_every
    while time.time() < stop_at:
        time.sleep(0.5)
        if time.time() >= next_kill and time.time() < stop_at - 5:
            with process_lock:
                restarting.set()
                server.process.send_signal(signal.SIGKILL)
                server.process.wait()
                server.start()
                restarting.clear()
            with lock:
                state["restarts"] += 1
            check_writes(f"after restart {state['restarts']}")
            next_kill = time.time() + args.kill_every
    for t in threads:
        t.join()
    check_writes("at the end")
    server.process.send_signal(signal.SIGTERM)
    try:
        code = server.process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        server.process.kill()
        code = "did not stop in 60 s"
    if code != 0:
        failures.append(f"SIGTERM: the server exited with {code}")

    unloaded = sorted(state["baseline"])
    unloaded_p99 = unloaded[int(0.99 * (len(unloaded) - 1))] if unloaded else 0
    latencies = sorted(state["latencies"])
    loaded_p99 = latencies[int(0.99 * (len(latencies) - 1))] if latencies else float("inf")
    if state["unexpected_exits"]:
        failures.append(f"the server exited by itself {state['unexpected_exits']} times")
    if loaded_p99 > 3 * unloaded_p99:
        failures.append(f"loaded p99 {loaded_p99 * 1000:.1f} ms is over 3x the unloaded {unloaded_p99 * 1000:.1f} ms")
    if state["max_rss"] > args.rss_limit_mib:
        failures.append(f"RSS reached {state['max_rss']:.0f} MiB (limit {args.rss_limit_mib:.0f})")
    for path, status, answer in state["hostile_5xx"][:5]:
        failures.append(f"hostile {path} answered {status}: {answer}")

    print(json.dumps({
        "baseline_seconds": args.baseline, "seconds": args.seconds, "restarts": state["restarts"],
        "baseline_searches": len(unloaded), "searches": len(latencies),
        "search_5xx": state["search_errors"], "writes": state["writes"], "answered_added_ids": len(state["answered_added"]),
        "deletes": state["deletes"], "hostile_requests": state["hostile"], "hostile_5xx": len(state["hostile_5xx"]),
        "unloaded_p99_ms": round(unloaded_p99 * 1000, 2), "loaded_p99_ms": round(loaded_p99 * 1000, 2),
        "max_rss_mib": round(state["max_rss"], 1), "unexpected_exits": state["unexpected_exits"],
        "exit_codes": sorted(set(state["exit_codes"])), "failures": failures,
    }, indent=2))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
