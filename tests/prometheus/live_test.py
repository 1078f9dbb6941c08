#!/usr/bin/env python3
"""Debian's real Prometheus scraping a live udpsieved, and the shipped dashboard and alerts run
against what it scraped (ctest prometheus_live).

udpsieved runs on net_null ports (the RX one generating frames at full speed) with a drop rule,
a per-source rate limit and a prefix set, and serves /metrics on a loopback port. Prometheus
scrapes it every second and evaluates config/prometheus/udpsieve-alerts.yml. Once it holds a few
scrapes, every query of config/grafana/udpsieve.json (Grafana's $__rate_interval as 15s,
$instance as .*) must parse and return at least one series; every alert rule must be loaded and
evaluated without error, its expression must parse, and every metric it names must have
series. Needs prometheus (scripts/setup.sh); outside CI it skips (77) without it.

    tests/prometheus/live_test.py BUILD_DIR
"""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
DASHBOARD = os.path.join(ROOT, "config/grafana/udpsieve.json")
ALERTS = os.path.join(ROOT, "config/prometheus/udpsieve-alerts.yml")


def say(text):
    print("prometheus-live: " + text, flush=True)


def in_ci():
    return os.environ.get("UDPSIEVE_CI", "0") not in ("", "0")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(what, check, seconds=60):
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            if check():
                return True
        except (OSError, ValueError, KeyError):
            pass
        time.sleep(0.5)
    say("FAIL: timed out waiting for " + what)
    return False


class Prometheus:
    def __init__(self, port):
        self.base = "http://127.0.0.1:%d" % port

    def get(self, path, **params):
        url = self.base + path + ("?" + urllib.parse.urlencode(params) if params else "")
        try:
            with urllib.request.urlopen(url, timeout=10) as reply:
                return json.load(reply)
        except urllib.error.HTTPError as e:  # a bad query answers 400 with a JSON error
            return json.load(e)

    def query(self, expr):
        return self.get("/api/v1/query", query=expr)


def dashboard_queries():
    with open(DASHBOARD) as f:
        dashboard = json.load(f)
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            expr = target["expr"].replace("$__rate_interval", "15s").replace("$instance", ".*")
            yield panel["title"], expr


def main():
    build = os.path.abspath(sys.argv[1])
    for tool in ("prometheus", "promtool"):
        if shutil.which(tool) is None:
            if in_ci():
                say("FAIL: %s missing (apt-get install prometheus)" % tool)
                return 1
            say("SKIP: %s missing (apt-get install prometheus)" % tool)
            return 77
    work = tempfile.mkdtemp(prefix="udpsieve-prom.")
    metrics_port, web_port = free_port(), free_port()
    with open(os.path.join(work, "rules.yaml"), "w") as f:
        f.write("rules:\n"
                "  - {id: feed, match: {src_set: feed}, action: drop}\n"
                "  - id: dns\n    match: {dst_port: 53}\n"
                "    action: {rate_limit: {pps: 100, burst: 100, per_source: 32}}\n"
                "  - {id: ntp, match: {dst_port: 123}, action: drop}\n")
    with open(os.path.join(work, "set.txt"), "w") as f:
        f.write("192.0.2.0/24\n2001:db8::/32\n")
    with open(os.path.join(work, "udpsieve.yaml"), "w") as f:
        f.write("eal:\n  lcores: [0, 1]\n  hugepages: off\n  memory_mb: 1024\n"
                "ports:\n"
                "  - {name: wan, device: net_null0, forward_to: lan}\n"
                "  - {name: lan, device: \"net_null1,no-rx=1\", forward_to: wan}\n"
                "sets: {feed: {file: set.txt}}\n"
                "pipeline:\n  default_action: forward\n  rules: [rules.yaml]\n"
                "control:\n  stats_interval_ms: 100\n  metrics_listen: 127.0.0.1:%d\n"
                % metrics_port)
    with open(os.path.join(work, "prometheus.yml"), "w") as f:
        f.write("global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
                "rule_files: [%s]\n"
                "scrape_configs:\n"
                "  - job_name: udpsieve\n"
                "    static_configs: [{targets: ['127.0.0.1:%d']}]\n" % (ALERTS, metrics_port))
    daemon_log = open(os.path.join(work, "udpsieved.log"), "w")
    daemon = subprocess.Popen(
        [os.path.join(build, "udpsieved"), "--config", os.path.join(work, "udpsieve.yaml"),
         "--file-prefix", "prom%d" % os.getpid(), "--socket", os.path.join(work, "ctl.sock")],
        stdout=daemon_log, stderr=subprocess.STDOUT, cwd=work)
    prom_log = open(os.path.join(work, "prometheus.log"), "w")
    prom = None
    failures = []
    try:
        def metrics_up():
            if daemon.poll() is not None:
                raise SystemExit("udpsieved exited with %d" % daemon.returncode)
            with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % metrics_port,
                                        timeout=2) as reply:
                return b"udpsieve_uptime_seconds" in reply.read()
        try:
            if not wait_for("udpsieved's /metrics", metrics_up):
                return 1
        except SystemExit as e:
            with open(os.path.join(work, "udpsieved.log")) as f:
                say("FAIL: %s:\n%s" % (e, f.read()[-3000:]))
            return 1
        prom = subprocess.Popen(
            ["prometheus", "--config.file=" + os.path.join(work, "prometheus.yml"),
             "--storage.tsdb.path=" + os.path.join(work, "data"),
             "--web.listen-address=127.0.0.1:%d" % web_port],
            stdout=prom_log, stderr=subprocess.STDOUT, cwd=work)
        api = Prometheus(web_port)

        def scraped():
            reply = api.query('count_over_time(up{job="udpsieve"}[1m])')
            result = reply["data"]["result"]
            return result and float(result[0]["value"][1]) >= 8 and \
                api.query('up{job="udpsieve"}')["data"]["result"][0]["value"][1] == "1"
        if not wait_for("eight scrapes of udpsieved", scraped):
            return 1

        for title, expr in dashboard_queries():
            reply = api.query(expr)
            if reply.get("status") != "success":
                failures.append("dashboard panel %r: %s: %s" % (title, expr, reply.get("error")))
            elif not reply["data"]["result"]:
                failures.append("dashboard panel %r: no series for %s" % (title, expr))

        with open(ALERTS) as f:
            alerts = [rule for group in yaml.safe_load(f)["groups"] for rule in group["rules"]]

        def rules_evaluated():
            groups = api.get("/api/v1/rules")["data"]["groups"]
            loaded = [rule for group in groups for rule in group["rules"]]
            return len(loaded) == len(alerts) and all(r["health"] == "ok" for r in loaded)
        if not wait_for("Prometheus to evaluate every alert rule", rules_evaluated, 30):
            failures.append("alert rules not all loaded and healthy: %s"
                            % json.dumps(api.get("/api/v1/rules")["data"])[:2000])
        for alert in alerts:
            reply = api.query(alert["expr"])
            if reply.get("status") != "success":
                failures.append("alert %s: %s" % (alert["alert"], reply.get("error")))
            for metric in sorted(set(re.findall(r"\b(udpsieve_[a-z0-9_]+|up)\{", alert["expr"]) +
                                     re.findall(r"\b(udpsieve_[a-z0-9_]+)\[", alert["expr"]))):
                if not api.query("group(%s)" % metric)["data"]["result"]:
                    failures.append("alert %s: no series of %s" % (alert["alert"], metric))
        firing = [a["labels"]["alertname"] for a in api.get("/api/v1/alerts")["data"]["alerts"]]
        say("%d dashboard queries, %d alert rules checked; pending or firing now: %s"
            % (sum(1 for _ in dashboard_queries()), len(alerts), ", ".join(firing) or "none"))
    finally:
        if prom is not None:
            prom.terminate()
            prom.wait(timeout=30)
        daemon.send_signal(signal.SIGTERM)
        code = daemon.wait(timeout=60)
        if code != 0:
            failures.append("udpsieved exited with %d" % code)
    for failure in failures:
        say("FAIL: " + failure)
    if failures:
        with open(os.path.join(work, "udpsieved.log")) as f:
            say("udpsieved's log:\n" + f.read()[-3000:])
        return 1
    shutil.rmtree(work, ignore_errors=True)
    say("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
