#!/usr/bin/python3
"""Writes the fuzzers' seed corpora under tests/fuzz/corpus/<target>/ from the repository's own
test data, so the seeds are real inputs of every kind the daemon sees:

  packet   every distinct frame of the committed scenario captures (tests/scenarios/*/in.pcap:
           IPv4, IPv6, 802.1Q, QinQ, IPv4 options, IPv6 extension headers, fragments,
           malformed), one frame of each shape from config/demo/traffic.pcap, and cuts of a few
           well-formed frames inside each header (truncated Ethernet, VLAN, IP, UDP)
  config   config/demo/*.yaml and tests/scenarios/*/{config,rules}.yaml, plus a few written
           here that use every key (and a few broken ones)
  request  control-socket request lines, valid and invalid (written here)
  runtime_request
           rule-add / rule-del / rule-sync request lines, valid and invalid, against the rules
           fuzz_runtime_request starts from (written here)

Pure Python (no scapy), deterministic; CI only reads the committed files.
Run: tests/fuzz/make_corpus.py   (rewrites tests/fuzz/corpus/)
"""
import hashlib
import json
import os
import shutil
import struct
import subprocess

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
CORPUS = os.path.join(HERE, "corpus")


def committed(pattern_dir, name):
    """Committed files called `name` one level below `pattern_dir` (all of them outside git)."""
    base = os.path.join(ROOT, pattern_dir)
    try:
        listed = subprocess.run(["git", "-C", ROOT, "ls-files", pattern_dir], check=True,
                                capture_output=True, text=True).stdout.split()
        paths = [os.path.join(ROOT, p) for p in listed if os.path.basename(p) == name]
    except (OSError, subprocess.CalledProcessError):
        paths = [os.path.join(base, d, name) for d in os.listdir(base)]
    return sorted(p for p in paths if os.path.isfile(p))


def read_pcap(path):
    with open(path, "rb") as f:
        data = f.read()
    magic = data[:4]
    endian = "<" if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    frames, at = [], 24
    while at + 16 <= len(data):
        _, _, caplen, _ = struct.unpack(endian + "IIII", data[at:at + 16])
        frames.append(data[at + 16:at + 16 + caplen])
        at += 16 + caplen
    return frames


def shape(frame):
    """What kind of frame this is, roughly: ethertypes, IP protocol, fragment bits, UDP port."""
    at, types = 12, []
    while at + 2 <= len(frame):
        ether_type = struct.unpack("!H", frame[at:at + 2])[0]
        types.append(ether_type)
        if ether_type not in (0x8100, 0x88A8):
            break
        at += 4
    ip = at + 2
    proto = frag = port = None
    if types and types[-1] == 0x0800 and ip + 20 <= len(frame):
        ihl = (frame[ip] & 15) * 4
        proto, frag = frame[ip + 9], struct.unpack("!H", frame[ip + 6:ip + 8])[0] & 0x3FFF
        if proto == 17 and ip + ihl + 4 <= len(frame):
            port = struct.unpack("!H", frame[ip + ihl + 2:ip + ihl + 4])[0]
    elif types and types[-1] == 0x86DD and ip + 40 <= len(frame):
        proto = frame[ip + 6]
        if proto == 17 and ip + 44 <= len(frame):
            port = struct.unpack("!H", frame[ip + 42:ip + 44])[0]
    if port is not None and port >= 1024:
        port = "high"  # the demo's floods and replies use many
    return (tuple(types), proto, bool(frag), port, len(frame) > 200)


def packet_corpus():
    seeds, seen = {}, set()

    def add(name, frame):
        digest = hashlib.sha1(frame).digest()
        if digest not in seen:
            seen.add(digest)
            seeds[name] = frame

    for path in committed("tests/scenarios", "in.pcap"):
        scenario = os.path.basename(os.path.dirname(path))
        for i, frame in enumerate(read_pcap(path)):
            add(f"{scenario}-{i:03d}", frame)
    shapes = set()
    for i, frame in enumerate(read_pcap(os.path.join(ROOT, "config/demo/traffic.pcap"))):
        if shape(frame) not in shapes:
            shapes.add(shape(frame))
            add(f"demo-{i:03d}", frame)
    # Cuts inside each header of a few well-formed frames of different kinds.
    cut_kinds = set()
    for name in sorted(seeds):
        frame = seeds[name]
        kind = shape(frame)
        if name.startswith("demo-") or kind[1] != 17:
            continue
        l2 = 14 + 4 * (len(kind[0]) - 1)
        l3 = (frame[l2] & 15) * 4 if kind[0][-1] == 0x0800 else 40
        if (kind[0], kind[2], l3) in cut_kinds:
            continue
        cut_kinds.add((kind[0], kind[2], l3))
        for cut in sorted({6, 13, l2 - 2, l2 + 1, l2 + l3 - 1, l2 + l3 + 3, len(frame) - 1}):
            if 0 < cut < len(frame):
                add(f"cut-{name}-{cut}", frame[:cut])
    return seeds


def config_corpus():
    seeds = {}
    for path in [os.path.join(ROOT, "config/demo/udpsieved.yaml"),
                 os.path.join(ROOT, "config/demo/rules.yaml")]:
        seeds["demo-" + os.path.basename(path)] = open(path, "rb").read()
    for name in ("config.yaml", "rules.yaml"):
        for path in committed("tests/scenarios", name):
            scenario = os.path.basename(os.path.dirname(path))
            seeds[f"{scenario}-{name}"] = open(path, "rb").read()
    seeds.update({name: text.encode() for name, text in EXTRA_CONFIGS.items()})
    unique, seen = {}, set()
    for name in sorted(seeds):
        if seeds[name] not in seen:
            seen.add(seeds[name])
            unique[name] = seeds[name]
    return unique


EXTRA_CONFIGS = {
    "every-config-key.yaml": """\
eal:
  lcores: [0, "1@1", 2]
  hugepages: required
  memory_mb: 1024
  file_prefix: fuzz
  extra_args: ["--log-level=lib.eal:debug", "-a", "0000:3b:00.0"]
ports:
  - {name: wan, device: "0000:3b:00.0", forward_to: lan, rx_descriptors: 2048, tx_descriptors: 512}
  - {name: lan, device: "net_pcap0,rx_pcap=in.pcap,tx_pcap=/tmp/out.pcap", forward_to: wan}
pipeline: {default_action: drop, non_udp: drop, rules: [rules.d/*.yaml, /etc/udpsieve/x.yaml]}
control: {socket: /tmp/fuzz.sock, stats_interval_ms: 1000, socket_mode: "0600", socket_group: root}
logging: {level: debug}
""",
    "hugepages-off.yaml": """\
eal: {lcores: [0, 1], hugepages: off, memory_mb: 64}
ports:
  - {name: only, device: net_null0, forward_to: only}
pipeline: {rules: []}
""",
    "every-rule-key.yaml": """\
rules:
  - id: limit-dns-from-wan
    match: {in_port: wan, src: [10.0.0.0/8, 192.0.2.1/32], dst: 198.51.100.0/24, src_port: [53, 1024-65535],
            dst_port: 53, ttl: 1-5, dscp: [46, 40-47], vlan: 100, length: 28-100, fragment: none,
            payload: {offset: 2, value: "0100", mask: "ff00"}}
    action: {rate_limit: {pps: 1000, burst: 100}}
  - id: bytes
    match: {src: "2001:db8::/32", dst: ["::/0"], fragment: first, payload: {offset: 1500, value: "00"}}
    action: {rate_limit: {bps: 8000000, burst_bytes: 100000}}
  - id: to-lan
    match: {fragment: non_first, vlan: [1-4094]}
    action: {forward: lan}
  - id: shadowed
    match: {src: 10.1.0.0/16, dst_port: 53}
    action: drop
  - id: everything
    match: {}
    action: forward
""",
    "shadowed-rules.yaml": """\
rules:
  - {id: ten, match: {src: 10.0.0.0/8, dst_port: 1-1024}, action: drop}
  - {id: dns-from-ten, match: {src: 10.1.0.0/16, dst_port: 53, ttl: 1-64}, action: forward}
  - {id: same-as-ten, match: {dst_port: 1-1024, src: [10.0.0.0/8]}, action: drop}
  - {id: v6, match: {src: "2001:db8::/32", payload: {offset: 4, value: "01", mask: "0f"}}, action: drop}
  - {id: v6-narrower, match: {src: "2001:db8:1::/48", payload: {offset: 4, value: "0102"}}, action: drop}
  - {id: first-frags, match: {fragment: first}, action: drop}
  - {id: first-frags-vlan, match: {fragment: first, vlan: 5-10}, action: drop}
""",
    "bad-host-bits.yaml": "rules:\n  - {id: a, match: {src: 203.0.113.1/24}, action: drop}\n",
    "bad-duplicate-id.yaml": "rules:\n  - {id: a, action: drop}\n  - {id: a, action: forward}\n",
    "bad-syntax.yaml": "rules:\n  - id: [a\n    action: drop\n",
    "bad-anchor-alias.yaml": "eal: &e {lcores: [0, 1]}\nports: *e\nx: *e\n",
}

REQUESTS = {
    "stats": '{"cmd": "stats"}',
    "ports": '{"cmd":"ports"}',
    "workers": '{"cmd": "workers"}',
    "rules": '{"cmd": "rules"}',
    "version": '{"cmd": "version", "extra": [1, 2.5, null, true, {"a": "b"}]}',
    "reload": '{"cmd": "reload"}',
    "check": '{"cmd": "check", "files": ["/etc/udpsieve/rules.d/10-ntp.yaml", "x.yaml"]}',
    "check-empty": '{"cmd": "check", "files": []}',
    "check-not-strings": '{"cmd": "check", "files": [1, {"x": 2}]}',
    "unknown-command": '{"cmd": "shutdown"}',
    "cmd-not-string": '{"cmd": 7}',
    "no-cmd": '{"command": "stats"}',
    "array": '["stats"]',
    "string": '"stats"',
    "not-json": "stats",
    "empty": "",
    "trailing-garbage": '{"cmd": "stats"} x',
    "unterminated": '{"cmd": "sta',
    "escapes": '{"cmd": "st\\u0061ts", "n": "\\ud83d\\ude00\\n\\t"}',
    "bad-utf8": '{"cmd": "\xff\xfe"}',
    "lone-surrogate": '{"cmd": "\\ud800"}',
    "big-numbers": '{"cmd": "stats", "a": 18446744073709551616, "b": -9223372036854775809, "c": 1e308}',
    # Found by fuzz_request: a number beyond double's range made json::parse throw out_of_range
    # (not parse_error), which parse_request did not catch.
    "number-overflow": "888E8888808",
    "deep-nesting": "[" * 200 + "]" * 200,
    "duplicate-keys": '{"cmd": "stats", "cmd": "reload"}',
}


# fuzz_runtime_request's set holds api rules a (payload offset 0), b and t (ttl), bgp rule c
# (offset 4); the file rules are ntp and dns (offset 2); ports wan and lan; at most 8 rules.
RUNTIME_REQUESTS = {
    "add": '{"cmd": "rule-add", "rules": [{"id": "x", "match": {"src": "192.0.2.0/24"}, '
           '"action": "drop"}]}',
    "add-every-key": '{"cmd": "rule-add", "source": "api", "ttl_s": 3600, "replace": true, '
                     '"rules": [{"id": "x", "match": {"in_port": "wan", "src": ["10.0.0.0/8", '
                     '"2001:db8::/32"], "dst": "198.51.100.0/24", "src_port": [53, "1024-65535"], '
                     '"dst_port": 53, "ttl": "1-5", "dscp": [46], "vlan": 100, "length": "28-100", '
                     '"fragment": "none", "payload": {"offset": 0, "value": "0100", "mask": "ff00"}}, '
                     '"action": {"rate_limit": {"pps": 1000, "burst": 100}}}, {"id": "y", '
                     '"action": {"forward": "lan"}}, {"id": "z", "action": {"rate_limit": '
                     '{"bps": 8000000, "burst_bytes": 100000}}}]}',
    "add-existing": '{"cmd": "rule-add", "rules": [{"id": "a", "action": "drop"}]}',
    "add-replace": '{"cmd": "rule-add", "replace": true, "rules": [{"id": "a", "match": '
                   '{"payload": {"offset": 8, "value": "01"}}, "action": "drop"}]}',
    "add-other-source": '{"cmd": "rule-add", "source": "bgp", "replace": true, '
                        '"rules": [{"id": "a", "action": "drop"}]}',
    "add-file-id": '{"cmd": "rule-add", "rules": [{"id": "ntp", "action": "drop"}]}',
    "add-fourth-offset": '{"cmd": "rule-add", "rules": [{"id": "p", "match": {"payload": '
                         '{"offset": 12, "value": "01"}}, "action": "drop"}]}',
    "add-slow-rate": '{"cmd": "rule-add", "rules": [{"id": "s", "action": {"rate_limit": '
                     '{"pps": 1, "burst": 1}}}]}',
    "add-too-many": '{"cmd": "rule-add", "rules": [' + ", ".join(
        '{"id": "n%d", "action": "drop"}' % i for i in range(6)) + ']}',
    "add-empty": '{"cmd": "rule-add", "rules": []}',
    "add-duplicate": '{"cmd": "rule-add", "rules": [{"id": "d", "action": "drop"}, '
                     '{"id": "d", "action": "forward"}]}',
    "add-bad-prefix": '{"cmd": "rule-add", "rules": [{"id": "x", "match": {"src": ["10.0.0.1/8"]}, '
                      '"action": "drop"}]}',
    "add-unknown-port": '{"cmd": "rule-add", "rules": [{"id": "x", "match": {"in_port": "dmz"}, '
                        '"action": {"forward": "dmz"}}]}',
    "add-bad-ttl": '{"cmd": "rule-add", "ttl_s": 31536001, "rules": [{"id": "x", "action": "drop"}]}',
    "add-bad-source": '{"cmd": "rule-add", "source": "file", "rules": [{"id": "x", "action": "drop"}]}',
    "add-unknown-field": '{"cmd": "rule-add", "ttl": 60, "rules": [{"id": "x", "action": "drop"}]}',
    "del": '{"cmd": "rule-del", "ids": ["a", "c"]}',
    "del-missing": '{"cmd": "rule-del", "ids": ["a", "gone"]}',
    "del-missing-ok": '{"cmd": "rule-del", "ids": ["gone", "t"], "missing_ok": true}',
    "del-file-rule": '{"cmd": "rule-del", "ids": ["dns"], "missing_ok": true}',
    "del-not-strings": '{"cmd": "rule-del", "ids": ["a", 1, null]}',
    "del-duplicate": '{"cmd": "rule-del", "ids": ["a", "a"]}',
    "sync": '{"cmd": "rule-sync", "source": "bgp", "ttl_s": 90, "rules": [{"id": "c", "action": '
            '"drop"}, {"id": "c2", "match": {"payload": {"offset": 4, "value": "02"}}, '
            '"action": "drop"}]}',
    "sync-empty": '{"cmd": "rule-sync", "source": "bgp", "rules": []}',
    "sync-api": '{"cmd": "rule-sync", "source": "api", "rules": [{"id": "b", "match": '
                '{"dst_port": 53}, "action": "forward"}]}',
    "sync-other-source-id": '{"cmd": "rule-sync", "source": "bgp", "rules": [{"id": "a", '
                            '"action": "drop"}]}',
    "sync-no-source": '{"cmd": "rule-sync", "rules": []}',
    "sync-new-source": '{"cmd": "rule-sync", "source": "flowspec-1", "rules": [{"id": "f", '
                       '"match": {"dst": "203.0.113.7", "dst_port": "0-1023"}, "action": "drop"}]}',
}


def exabgp_update(peer, kind, family, routes, communities=("rate-limit:0",)):
    """One line of ExaBGP 4.2's JSON encoder: an update announcing or withdrawing flow routes."""
    neighbor = {"address": {"local": "10.98.0.1", "peer": peer},
                "asn": {"local": 65000, "peer": 65000}, "direction": "in"}
    if kind == "announce":
        update = {"attribute": {"origin": "incomplete", "local-preference": 100,
                                "extended-community": [{"value": 9225060886715039744, "string": c}
                                                       for c in communities]},
                  "announce": {family: {"no-nexthop": routes}}}
    else:
        update = {"withdraw": {family: routes}}
    neighbor["message"] = {"update": update}
    return json.dumps({"exabgp": "4.0.1", "time": 1.0, "host": "box", "pid": 1, "ppid": 1,
                       "counter": 1, "type": "update", "neighbor": neighbor})


def exabgp_state(peer, state):
    return json.dumps({"exabgp": "4.0.1", "type": "state",
                       "neighbor": {"address": {"local": "10.98.0.1", "peer": peer},
                                    "state": state}})


def flowspec_corpus():
    dns = {"destination-ipv4": ["192.0.2.0/24"], "protocol": ["=udp"],
           "destination-port": ["=53"], "packet-length": [">=512"],
           "string": "flow destination-ipv4 192.0.2.0/24 protocol =udp destination-port =53"}
    ranges = {"source-port": [">=1000&<=2000", "=123", "!=0"], "port": ["=53"],
              "fragment": ["is-fragment", "!=dont-fragment"], "dscp": ["=46"]}
    v6 = {"destination-ipv6": ["2001:db8::/32/0"], "next-header": ["=udp"],
          "traffic-class": ["<8"], "flow-label": ["=5"]}
    tcp = {"tcp-flags": ["=syn", "ack&!fin"], "protocol": ["=tcp"]}
    return {
        "announce-withdraw": "\n".join([
            exabgp_state("10.98.0.2", "up"),
            exabgp_update("10.98.0.2", "announce", "ipv4 flow", [dns, ranges]),
            exabgp_update("10.98.0.2", "withdraw", "ipv4 flow", [dns])]),
        "rates-and-actions": "\n".join([
            exabgp_update("10.98.0.2", "announce", "ipv4 flow", [dns], ("rate-limit:125000",)),
            exabgp_update("10.98.0.3", "announce", "ipv4 flow", [ranges],
                          ("rate-limit:500:packets", "action sample")),
            exabgp_update("10.98.0.3", "announce", "ipv4 flow", [dns], ("redirect:65000:1",)),
            exabgp_update("10.98.0.3", "announce", "ipv4 flow", [tcp], ("mark 10",))]),
        "ipv6-and-down": "\n".join([
            exabgp_update("10.98.0.2", "announce", "ipv6 flow", [v6]),
            exabgp_state("10.98.0.2", "down"),
            exabgp_state("10.98.0.2", "up")]),
        "garbage": "not json\n[1]\n{\"type\": \"update\", \"neighbor\": 5}\n",
    }


def write(target, seeds):
    out = os.path.join(CORPUS, target)
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    for name, data in seeds.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data if isinstance(data, bytes) else data.encode("latin-1"))
    return len(seeds), sum(len(d) for d in seeds.values())


def main():
    for target, seeds in (("packet", packet_corpus()), ("config", config_corpus()),
                          ("request", REQUESTS), ("runtime_request", RUNTIME_REQUESTS),
                          ("flowspec", flowspec_corpus())):
        count, size = write(target, seeds)
        print(f"{target}: {count} seeds, {size} bytes")


if __name__ == "__main__":
    main()
