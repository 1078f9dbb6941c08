#!/usr/bin/env python3
"""Runtime rule updates against a running udpsieved (scripts/bench-runtime-rules.sh starts it).

Every latency is measured by the client from sending the request to reading the reply, which
the daemon sends only once the change is in effect in every worker. Phases:

  single     N single-rule adds, each followed by its delete, one at a time
  sustained  RATE single-rule updates per second (adds and deletes of a rotating window of
             ids) for SECONDS, open loop over CONNECTIONS connections: a request that is late
             because an earlier one is slow still counts from its scheduled time
  hold       HOLD runtime rules added in batches of 1,000, then single-rule adds and deletes
             beside them, then all removed with one rule-sync

Prints one JSON object per phase (medians, p99, max in milliseconds) and a summary table.
"""

import argparse
import json
import socket
import statistics
import sys
import threading
import time


def connect(path):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(path)
    return sock, sock.makefile("rb")


def call(conn, request):
    sock, reader = conn
    sock.sendall((json.dumps(request, separators=(",", ":")) + "\n").encode())
    line = reader.readline()
    if not line:
        raise RuntimeError("the daemon closed the connection")
    reply = json.loads(line)
    if "error" in reply:
        raise RuntimeError(f"{request['cmd']}: {reply['error']}")
    return reply


def block_rule(index, prefix="bench"):
    # /32 sources inside the replayed capture's 100.64.0.0/16, so many of them drop traffic.
    return {"id": f"{prefix}-{index}",
            "match": {"src": f"100.64.{(index >> 8) & 0xff}.{index & 0xff}/32"},
            "action": "drop"}


def percentile(samples, fraction):
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def summary(name, samples_ms, **extra):
    out = {"phase": name, "samples": len(samples_ms),
           "median_ms": round(statistics.median(samples_ms), 3),
           "p99_ms": round(percentile(samples_ms, 0.99), 3),
           "max_ms": round(max(samples_ms), 3)}
    out.update(extra)
    print(json.dumps(out), flush=True)
    return out


def stats(path):
    conn = connect(path)
    try:
        return call(conn, {"cmd": "stats"})
    finally:
        conn[0].close()


def phase_single(path, count):
    conn = connect(path)
    adds, dels = [], []
    for i in range(count):
        rule = block_rule(i, "single")
        t0 = time.perf_counter()
        call(conn, {"cmd": "rule-add", "rules": [rule]})
        t1 = time.perf_counter()
        call(conn, {"cmd": "rule-del", "ids": [rule["id"]]})
        t2 = time.perf_counter()
        adds.append((t1 - t0) * 1e3)
        dels.append((t2 - t1) * 1e3)
    conn[0].close()
    return (summary("single-add", adds), summary("single-del", dels))


def phase_sustained(path, rate, seconds, connections, window):
    """Open loop: update k is due at start + k / rate; connection k % connections sends it."""
    total = int(rate * seconds)
    latencies = [None] * total
    errors = []
    start = time.perf_counter() + 0.2
    before = stats(path)["dynamic"]

    def worker(slot):
        conn = connect(path)
        try:
            for k in range(slot, total, connections):
                due = start + k / rate
                wait = due - time.perf_counter()
                if wait > 0:
                    time.sleep(wait)
                # Even updates add a new id, odd ones delete the id added `window` adds
                # earlier: every update changes one rule and the set stays near `window` rules.
                if k % 2 == 0:
                    request = {"cmd": "rule-add", "rules": [block_rule(k // 2, "sus")]}
                else:
                    request = {"cmd": "rule-del", "ids": [f"sus-{k // 2 - window}"],
                               "missing_ok": True}
                call(conn, request)
                latencies[k] = (time.perf_counter() - due) * 1e3
        except Exception as error:  # reported below; a failed update fails the benchmark
            errors.append(str(error))
        finally:
            conn[0].close()

    threads = [threading.Thread(target=worker, args=(s,)) for s in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    if errors:
        raise RuntimeError(f"sustained: {len(errors)} connection(s) failed: {errors[0]}")
    after = stats(path)["dynamic"]
    builds = after["builds"] - before["builds"]
    return summary("sustained", latencies, updates=total,
                   achieved_per_s=round(total / elapsed, 1), target_per_s=rate,
                   builds=builds, updates_per_build=round(total / max(builds, 1), 2),
                   runtime_rules_after=after["rules"])


def phase_hold(path, hold, singles):
    conn = connect(path)
    batches = []
    for first in range(0, hold, 1000):
        rules = [block_rule(i, "hold") for i in range(first, min(first + 1000, hold))]
        t0 = time.perf_counter()
        call(conn, {"cmd": "rule-add", "rules": rules})
        batches.append((time.perf_counter() - t0) * 1e3)
    held = stats(path)["dynamic"]
    results = [summary("hold-batches-of-1000", batches, runtime_rules=held["rules"],
                       last_build_ms=held["last_build_ms"])]
    adds, dels = [], []
    for i in range(singles):
        rule = block_rule(hold + i, "hold-single")
        t0 = time.perf_counter()
        call(conn, {"cmd": "rule-add", "rules": [rule]})
        t1 = time.perf_counter()
        call(conn, {"cmd": "rule-del", "ids": [rule["id"]]})
        adds.append((t1 - t0) * 1e3)
        dels.append((time.perf_counter() - t1) * 1e3)
    results.append(summary(f"single-add-beside-{hold}", adds))
    results.append(summary(f"single-del-beside-{hold}", dels))
    t0 = time.perf_counter()
    reply = call(conn, {"cmd": "rule-sync", "source": "api", "rules": []})
    results.append(summary("sync-remove-all", [(time.perf_counter() - t0) * 1e3],
                           deleted=len(reply["deleted"])))
    conn[0].close()
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--socket", required=True)
    parser.add_argument("--singles", type=int, default=300)
    parser.add_argument("--rate", type=float, default=1000)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--window", type=int, default=1000)
    parser.add_argument("--hold", type=int, default=100000)
    args = parser.parse_args()

    results = []
    results += phase_single(args.socket, args.singles)
    results.append(phase_sustained(args.socket, args.rate, args.seconds, args.connections,
                                   args.window))
    # The sustained phase leaves its window of rules: remove them before holding many.
    conn = connect(args.socket)
    call(conn, {"cmd": "rule-sync", "source": "api", "rules": []})
    conn[0].close()
    if args.hold > 0:
        results += phase_hold(args.socket, args.hold, min(args.singles, 10))

    print(f"\n{'phase':34} {'n':>6} {'median ms':>10} {'p99 ms':>8} {'max ms':>8}")
    for r in results:
        print(f"{r['phase']:34} {r['samples']:>6} {r['median_ms']:>10.2f} {r['p99_ms']:>8.2f} "
              f"{r['max_ms']:>8.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
