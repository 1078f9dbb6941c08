#!/usr/bin/python3
"""The control plane at scale: udpsieved with a large rule set, measured over its socket.

Run by scripts/bench-control.sh (which starts the daemon). Measures, each as a median and
maximum over repeated requests:
  - `stats`, the first `rules` page, `rules --top 10`, `metrics`;
  - udpsievectl's full `rules` listing (every page);
  - how long `version` waits while another client lists every rule (a request every 10 ms);
then the resident memory with the set, after replacing it with one rule, and how long a
SIGTERM during a reload of the set takes to end the process.

Usage: control_plane.py BUILD_DIR WORK_DIR SOCKET PID RULES
"""
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time


def ask(path, request, timeout=300):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    sock.connect(path)
    sock.sendall((json.dumps(request) + "\n").encode())
    data = b""
    while not data.endswith(b"\n"):
        chunk = sock.recv(1 << 20)
        if not chunk:
            break
        data += chunk
    sock.close()
    return json.loads(data)


def timed(path, request, rounds=20):
    times = []
    for _ in range(rounds):
        start = time.monotonic()
        reply = ask(path, request)
        times.append((time.monotonic() - start) * 1000)
        if "error" in reply:
            raise SystemExit("%s: %s" % (request, reply["error"]))
    return statistics.median(times), max(times)


def resident_mib(pid):
    with open("/proc/%d/status" % pid) as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) // 1024
    return 0


def main():
    build, work, path, pid, rules = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), \
        int(sys.argv[5])
    ctl = os.path.join(build, "udpsievectl")
    print("rules in effect: %d" % ask(path, {"cmd": "stats"})["rules_total"])
    print("%-34s %10s %10s" % ("request", "median ms", "max ms"))
    for name, request in [("stats", {"cmd": "stats"}),
                          ("rules (first page of 1000)", {"cmd": "rules"}),
                          ("rules --top 10", {"cmd": "rules", "top": 10, "limit": 10}),
                          ("metrics", {"cmd": "metrics"}),
                          ("version", {"cmd": "version"})]:
        median, worst = timed(path, request)
        print("%-34s %10.1f %10.1f" % (name, median, worst))

    waits = []
    done = threading.Event()

    def poll_version():
        while not done.is_set():
            start = time.monotonic()
            ask(path, {"cmd": "version"})
            waits.append((time.monotonic() - start) * 1000)
            time.sleep(0.01)

    poller = threading.Thread(target=poll_version)
    poller.start()
    start = time.monotonic()
    listing = subprocess.run([ctl, "--socket", path, "rules", "--json"], capture_output=True,
                             text=True, check=True)
    listed = len(json.loads(listing.stdout)["rules"])
    elapsed = time.monotonic() - start
    done.set()
    poller.join()
    print("udpsievectl rules (all %d, paged): %.2f s" % (listed, elapsed))
    print("version during that listing: %d requests, median %.1f ms, max %.1f ms"
          % (len(waits), statistics.median(waits), max(waits)))

    print("resident memory with the set: %d MiB" % resident_mib(pid))
    with open(os.path.join(work, "rules.yaml"), "w") as f:
        f.write("rules:\n  - {id: only, match: {dst_port: 53}, action: drop}\n")
    subprocess.run([ctl, "--socket", path, "reload"], check=True, capture_output=True)
    time.sleep(2)
    print("resident memory after replacing it with 1 rule: %d MiB" % resident_mib(pid))


if __name__ == "__main__":
    main()
