#!/usr/bin/python3
"""Every YAML example in README.md and docs/*.md is checked by udpsieved --check.

A block's top-level keys say what it is: configuration keys (eal, ports, sets, pipeline,
control, logging) go into a configuration, rule-file keys (rules, steering) into a rule file; a
block may hold both (an example of a port and the steering rules that go with it). What a block
leaves out comes from a base configuration with ports `wan` and `lan` and workers on lcores
1-3. Paths an example names for rule files are replaced by the block's own rules, set files by
empty ones (and a set the rules name without declaring it is declared so), and group
names by the test user's group (the docs' `udpsieve` group exists only where the package is
installed). The check must pass without a warning: an example with a rule that can never
match is a bad example.

Where a doc claims what an example matches, a scenario proves it: README.md's rule example is
tests/scenarios/readme-rules/rules.yaml, byte for byte (tests/scenarios/generate.py copies it
and states each packet's verdict; the scenario test runs it).

Usage: check_examples.py SOURCE_DIR BUILD_DIR
"""
import grp
import os
import re
import subprocess
import sys
import tempfile

import yaml

CONFIG_KEYS = {"eal", "ports", "sets", "pipeline", "control", "logging"}
RULE_KEYS = {"rules", "steering"}

BASE = {
    "eal": {"lcores": [0, 1, "2@1", "3@1"], "hugepages": "off", "memory_mb": 256},
    "ports": [
        {"name": "wan", "device": "net_null0", "forward_to": "lan"},
        {"name": "lan", "device": "net_null1", "forward_to": "wan"},
    ],
    "pipeline": {},
    "control": {"socket": "ctl.sock"},
}


def yaml_blocks(path):
    """(first line number, text) of each ```yaml block, dedented as a list item's would be."""
    blocks = []
    lines = open(path, encoding="utf-8").read().split("\n")
    i = 0
    while i < len(lines):
        opening = re.match(r"^(\s*)```yaml\s*$", lines[i])
        if not opening:
            i += 1
            continue
        indent = len(opening.group(1))
        start = i + 1
        body = []
        i += 1
        while i < len(lines) and lines[i].strip() != "```":
            body.append(lines[i][indent:] if lines[i][:indent].strip() == "" else lines[i])
            i += 1
        blocks.append((start + 1, "\n".join(body) + "\n"))
        i += 1
    return blocks


def set_names(rules):
    """The set names the rules' src_set / dst_set fields mention."""
    names = set()
    for rule in (rules or {}).get("rules") or []:
        match = rule.get("match") or {} if isinstance(rule, dict) else {}
        for key in ("src_set", "dst_set"):
            value = match.get(key) if isinstance(match, dict) else None
            names.update([value] if isinstance(value, str) else value or [])
    return names


def main():
    source, build = sys.argv[1], sys.argv[2]
    if os.geteuid() != 0 and os.environ.get("UDPSIEVE_CI", "0") in ("", "0"):
        print("SKIP: udpsieved --check needs root for DPDK's EAL (runs in CI, which is root)")
        return 77
    daemon = os.path.join(build, "udpsieved")
    docs = [os.path.join(source, "README.md")] + sorted(
        os.path.join(source, "docs", name) for name in os.listdir(os.path.join(source, "docs"))
        if name.endswith(".md"))
    group = grp.getgrgid(os.getgid()).gr_name
    failures = []
    checked = 0
    for doc in docs:
        for line, text in yaml_blocks(doc):
            where = "%s:%d" % (os.path.relpath(doc, source), line)
            try:
                parsed = yaml.safe_load(text)
            except yaml.YAMLError as e:
                failures.append("%s: not YAML: %s" % (where, e))
                continue
            if not isinstance(parsed, dict) or not set(parsed) <= CONFIG_KEYS | RULE_KEYS:
                failures.append("%s: top-level keys %s are neither configuration (%s) nor "
                                "rule-file (%s) keys" % (where, sorted(parsed or {}),
                                                          ", ".join(sorted(CONFIG_KEYS)),
                                                          ", ".join(sorted(RULE_KEYS))))
                continue
            with tempfile.TemporaryDirectory() as work:
                rules = {k: v for k, v in parsed.items() if k in RULE_KEYS}
                config = dict(BASE)
                config.update({k: v for k, v in parsed.items() if k in CONFIG_KEYS})
                pipeline = dict(config.get("pipeline") or {})
                listed = pipeline.get("rules", [])
                pipeline["rules"] = ["rules.yaml"] + (["dynamic"] if "dynamic" in listed else [])
                if "dynamic_state" in pipeline:
                    pipeline["dynamic_state"] = os.path.join(work, "dynamic.json")
                config["pipeline"] = pipeline
                control = dict(config.get("control") or {})
                for key in ("socket_group", "admin_group"):
                    if key in control:
                        control[key] = group
                control["socket"] = os.path.join(work, "ctl.sock")
                config["control"] = control
                sets = dict(config.get("sets") or {})
                for name in set_names(rules):
                    sets.setdefault(name, {})
                for index, name in enumerate(sorted(sets)):
                    path = os.path.join(work, "set%d.txt" % index)
                    open(path, "w").close()
                    sets[name] = {"file": path}
                if sets:
                    config["sets"] = sets
                with open(os.path.join(work, "rules.yaml"), "w") as f:
                    f.write(yaml.safe_dump(rules) if rules else "")
                config_path = os.path.join(work, "config.yaml")
                with open(config_path, "w") as f:
                    f.write(yaml.safe_dump(config))
                run = subprocess.run([daemon, "--config", config_path, "--check"],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
                checked += 1
                if run.returncode != 0 or "warning" in run.stdout:
                    failures.append("%s: udpsieved --check (exit %d):\n%s--- the block:\n%s"
                                    % (where, run.returncode, run.stdout, text))

    # README's rule example is the readme-rules scenario's rule file.
    readme_rules = [text for _, text in yaml_blocks(os.path.join(source, "README.md"))
                    if "rules" in (yaml.safe_load(text) or {})]
    scenario = os.path.join(source, "tests", "scenarios", "readme-rules", "rules.yaml")
    if len(readme_rules) != 1:
        failures.append("README.md: expected one rule example, found %d" % len(readme_rules))
    elif open(scenario, encoding="utf-8").read() != readme_rules[0]:
        failures.append("README.md's rule example differs from %s: run "
                        "tests/scenarios/generate.py" % os.path.relpath(scenario, source))

    for failure in failures:
        print("FAIL " + failure)
    print("%d YAML example(s) checked in %d file(s); %d failure(s)"
          % (checked, len(docs), len(failures)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
