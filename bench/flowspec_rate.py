#!/usr/bin/python3
"""How fast FlowSpec changes become rules: udpsieve-flowspec on a pipe in front of udpsieved.

Run by scripts/bench-flowspec.sh (which starts the daemon). Starts the feeder, lets it make its
first sync with one route, then writes ROUTES announcements (one /32 discard route per update
line, as ExaBGP 4.2 writes them) as fast as the pipe takes them, and polls the daemon until
every rule is in effect; then withdraws them all the same way. Prints one Markdown table row.

Usage: flowspec_rate.py FEEDER SOCKET ROUTES FEEDER_LOG
"""
import json
import subprocess
import sys
import time

from control_plane import ask


def bgp_rules(path):
    return ask(path, {"cmd": "rules", "source": "bgp", "limit": 1})["total"]


def dynamic(path):
    return ask(path, {"cmd": "stats"})["dynamic"]


def route(i):
    # 10.128.0.0/9 upwards: distinct /32 destinations, UDP port 53.
    address = "10.%d.%d.%d" % (128 + i // 65536 % 128, i // 256 % 256, i % 256)
    return {"destination-ipv4": [address + "/32"], "protocol": ["=udp"],
            "destination-port": ["=53"],
            "string": "flow destination-ipv4 %s/32 protocol =udp destination-port =53" % address}


def update(kind, routes):
    if kind == "announce":
        body = {"attribute": {"origin": "igp", "extended-community": [
            {"value": 9225060886715039744, "string": "rate-limit:0"}]},
            "announce": {"ipv4 flow": {"no-nexthop": routes}}}
    else:
        body = {"withdraw": {"ipv4 flow": routes}}
    return json.dumps({"exabgp": "4.0.1", "type": "update", "neighbor": {
        "address": {"local": "10.98.0.1", "peer": "10.98.0.2"},
        "message": {"update": body}}}) + "\n"


def wait_for(path, want, limit=600):
    start = time.monotonic()
    while bgp_rules(path) != want:
        if time.monotonic() - start > limit:
            raise SystemExit("flowspec_rate: %d bgp rules not reached in %d s" % (want, limit))
        time.sleep(0.005)


def main():
    feeder, path, routes, log = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    with open(log, "w") as out:
        proc = subprocess.Popen([feeder, "--socket", path], stdin=subprocess.PIPE,
                                stdout=out, stderr=out)
    # The first sync waits for a second of quiet; one route gets that behind us.
    proc.stdin.write(update("announce", [route(routes)]).encode())
    proc.stdin.flush()
    wait_for(path, 1, 30)
    before = dynamic(path)

    lines = b"".join(update("announce", [route(i)]).encode() for i in range(routes))
    start = time.monotonic()
    proc.stdin.write(lines)
    proc.stdin.flush()
    wait_for(path, routes + 1)
    announced = time.monotonic() - start
    middle = dynamic(path)

    lines = b"".join(update("withdraw", [route(i)]).encode() for i in range(routes))
    start = time.monotonic()
    proc.stdin.write(lines)
    proc.stdin.flush()
    wait_for(path, 1)
    withdrawn = time.monotonic() - start
    after = dynamic(path)
    proc.kill()
    proc.wait()
    print("| %d | %.3f s | %.0f | %d + %d | %d + %d | %.3f s | %.0f |" % (
        routes, announced, routes / announced, middle["syncs"] - before["syncs"],
        after["syncs"] - middle["syncs"], middle["builds"] - before["builds"],
        after["builds"] - middle["builds"], withdrawn, routes / withdrawn))


if __name__ == "__main__":
    main()
