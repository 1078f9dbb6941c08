#!/usr/bin/python3
"""Plots a flood and its drops over time from what a real Prometheus scraped of the demo.

Runs udpsieved on the demo (config/demo: net_pcap replaying traffic.pcap, a mix of DNS, NTP,
game and VoIP traffic with NTP, SSDP and memcached reflection floods, at full speed) with
/metrics on a loopback port, and Debian's prometheus scraping it every second. The daemon starts
with no rules (the flood goes through), after PHASE seconds the demo's rules are loaded with a
reload (the reflection floods are dropped, DNS is rate-limited), and after another PHASE seconds a
runtime rule (`udpsievectl rule add`) drops all NTP, including what the demo rules let through. Then it asks
Prometheus for the rates over the run and draws them: received and forwarded packets per
second, and the drops stacked by reason.

    scripts/plot-flood.py [OUT.png [PHASE_SECONDS]]    (default docs/img/flood-drops.png, 12)

Needs a build (build/udpsieved, build/udpsievectl), prometheus and python3-matplotlib.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def query_range(base, expr, start, end):
    params = urllib.parse.urlencode({"query": expr, "start": start, "end": end, "step": "1"})
    with urllib.request.urlopen(base + "/api/v1/query_range?" + params, timeout=30) as reply:
        data = json.load(reply)
    if data.get("status") != "success":
        raise SystemExit("query failed: %s: %s" % (expr, data))
    return data["data"]["result"]


def main():
    out = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else
                          os.path.join(ROOT, "docs/img/flood-drops.png"))
    phase = int(sys.argv[2]) if len(sys.argv) > 2 else 12
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise SystemExit("needs python3-matplotlib (apt-get install python3-matplotlib)")
    if shutil.which("prometheus") is None:
        raise SystemExit("needs prometheus (apt-get install prometheus)")
    build = os.path.join(ROOT, "build")
    work = tempfile.mkdtemp(prefix="udpsieve-plot.")
    metrics_port, web_port = free_port(), free_port()
    demo = os.path.join(ROOT, "config/demo")
    with open(os.path.join(work, "none.yaml"), "w") as f:
        f.write("rules: []\n")
    shutil.copy(os.path.join(demo, "rules.yaml"), os.path.join(work, "demo.yaml"))
    os.symlink(os.path.join(work, "none.yaml"), os.path.join(work, "rules.yaml"))
    config = os.path.join(work, "udpsieved.yaml")
    with open(config, "w") as f:
        f.write("eal: {lcores: [0, 1], hugepages: auto, memory_mb: 512}\n"
                "ports:\n"
                "  - {name: wan, device: \"net_pcap0,rx_pcap=%s,infinite_rx=1\", forward_to: lan}\n"
                "  - {name: lan, device: \"net_null0,no-rx=1\", forward_to: wan}\n"
                "pipeline: {default_action: forward, non_udp: forward, rules: [rules.yaml],\n"
                "           dynamic_state: %s}\n"
                "control: {stats_interval_ms: 100, metrics_listen: \"127.0.0.1:%d\"}\n"
                % (os.path.join(demo, "traffic.pcap"), os.path.join(work, "dynamic.json"),
                   metrics_port))
    with open(os.path.join(work, "prometheus.yml"), "w") as f:
        f.write("global: {scrape_interval: 1s}\n"
                "scrape_configs:\n"
                "  - job_name: udpsieve\n"
                "    static_configs: [{targets: ['127.0.0.1:%d']}]\n" % metrics_port)
    sock = os.path.join(work, "ctl.sock")
    ctl = [os.path.join(build, "udpsievectl"), "--socket", sock]
    logs = open(os.path.join(work, "log"), "w")
    prom = subprocess.Popen(
        ["prometheus", "--config.file=" + os.path.join(work, "prometheus.yml"),
         "--storage.tsdb.path=" + os.path.join(work, "data"),
         "--web.listen-address=127.0.0.1:%d" % web_port], stdout=logs, stderr=logs)
    daemon = None
    try:
        time.sleep(2)  # Prometheus up before the traffic starts
        start = time.time()
        daemon = subprocess.Popen(
            [os.path.join(build, "udpsieved"), "--config", config, "--socket", sock,
             "--file-prefix", "plot%d" % os.getpid()], stdout=logs, stderr=logs)
        for _ in range(300):
            if subprocess.run(ctl + ["version"], capture_output=True).returncode == 0:
                break
            time.sleep(0.1)
        time.sleep(phase)
        os.unlink(os.path.join(work, "rules.yaml"))
        os.symlink(os.path.join(work, "demo.yaml"), os.path.join(work, "rules.yaml"))
        subprocess.run(ctl + ["reload"], check=True, capture_output=True)
        reload_at = time.time()
        time.sleep(phase)
        subprocess.run(ctl + ["rule", "add", "--ttl", "10m", "-"], check=True, capture_output=True,
                       input=b"rules:\n  - {id: no-ntp, match: {src_port: 123}, action: drop}\n")
        block_at = time.time()
        time.sleep(phase)
        end = time.time()
        time.sleep(2)  # the last scrape
        base = "http://127.0.0.1:%d" % web_port
        window = "[3s]"
        rx = query_range(base, "sum(rate(udpsieve_worker_rx_packets_total%s))" % window,
                         start, end)
        fwd = query_range(base, "sum(rate(udpsieve_worker_forwarded_packets_total%s))" % window,
                          start, end)
        drops = query_range(base, "sum by (reason) (rate(udpsieve_dropped_packets_total%s))"
                            % window, start, end)
    finally:
        if daemon is not None:
            daemon.send_signal(signal.SIGTERM)
            daemon.wait(timeout=60)
        prom.terminate()
        prom.wait(timeout=30)

    def series(result):
        return ([float(t) - start for t, _ in result[0]["values"]],
                [float(v) / 1e6 for _, v in result[0]["values"]]) if result else ([], [])

    fig, ax = plt.subplots(figsize=(9, 4.5), dpi=100)
    reasons = [r for r in drops if any(float(v) > 0 for _, v in r["values"])]
    if reasons:
        times = [float(t) - start for t, _ in reasons[0]["values"]]
        stacks = []
        for r in reasons:
            by_time = {float(t): float(v) / 1e6 for t, v in r["values"]}
            stacks.append([by_time.get(t + start, 0.0) for t in times])
        ax.stackplot(times, stacks, labels=["dropped: " + r["metric"]["reason"] for r in reasons],
                     alpha=0.6)
    t, v = series(rx)
    ax.plot(t, v, color="black", linewidth=1.5, label="received")
    t, v = series(fwd)
    ax.plot(t, v, color="tab:green", linewidth=1.5, linestyle="--", label="forwarded")
    for at, text in ((reload_at, "reload: demo rules"), (block_at, "rule add: drop src_port 123")):
        ax.axvline(at - start, color="grey", linestyle=":")
        ax.text(at - start + 0.3, ax.get_ylim()[1] * 0.95, text, fontsize=8, va="top")
    ax.set_xlabel("seconds")
    ax.set_ylabel("million packets per second")
    ax.set_title("udpsieved on the demo traffic (Prometheus, 1 s scrapes, rate over 3 s)")
    ax.legend(loc="lower left", fontsize=8)
    ax.set_xlim(0, end - start)
    ax.set_ylim(bottom=0)
    fig.tight_layout()
    fig.savefig(out)
    shutil.rmtree(work, ignore_errors=True)
    print("wrote %s (%.0f s of data)" % (out, end - start))


if __name__ == "__main__":
    main()
