#!/usr/bin/python3
"""Writes the datapath scenarios under tests/scenarios/.

Each scenario lists its input frames with the verdict the author intends for each one
(forward to a port, or drop with a reason and maybe a rule id). From that list this script
writes in.pcap, expected*.pcap (the forwarded frames per output port, in order) and
expect.yaml (counts). The expectations are written by hand here, not computed by udpsieve's
code, so the scenario test compares the daemon against an independent statement of intent.

Needs scapy (apt-get install python3-scapy); CI only reads the committed files.
Run: tests/scenarios/generate.py
"""
import os
import struct
from collections import Counter, defaultdict

from scapy.all import (ARP, ICMP, IP, TCP, UDP, Dot1AD, Dot1Q, Ether, ICMPv6EchoRequest, IPv6,
                       IPv6ExtHdrDestOpt, IPv6ExtHdrFragment, IPv6ExtHdrHopByHop,
                       IPv6ExtHdrRouting, IPOption_RR, PadN, Raw, RawPcapReader)

HERE = os.path.dirname(os.path.abspath(__file__))
MAC = dict(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")


def eth():
    return Ether(**MAC)


def udp4(src, dst, sport, dport, payload=b"q" * 16, **ip):
    return eth() / IP(src=src, dst=dst, **ip) / UDP(sport=sport, dport=dport) / Raw(payload)


def udp6(src, dst, sport, dport, payload=b"q" * 16, ext=None):
    packet = IPv6(src=src, dst=dst)
    for header in ext or []:
        packet = packet / header
    return eth() / packet / UDP(sport=sport, dport=dport) / Raw(payload)


def fwd(port="out"):
    return ("forward", port, None)


def rule_fwd(rule, port="out"):
    return ("forward", port, rule)


def drop(reason, rule=None):
    return ("drop", reason, rule)


CONFIG = """\
# Scenario: {title}
eal:
  lcores: [0, 1]
  hugepages: auto
  memory_mb: 256
  file_prefix: scenario
ports:
{ports}
pipeline:
  default_action: {default_action}
  non_udp: {non_udp}
  rules: [rules.yaml]
control:
  socket: ctl.sock
  stats_interval_ms: 20
"""

ONE_PORT = """\
  - name: wan
    device: "net_pcap0,rx_pcap=in.pcap,tx_pcap=out.pcap"
    forward_to: wan"""


def write_pcap(path, frames):
    """Writes frames (bytes) as a pcap with fixed timestamps, so a rerun writes the same bytes.
    A file already holding exactly these frames is left alone (whatever its timestamps)."""
    if os.path.exists(path):
        reader = RawPcapReader(path)
        try:
            if [bytes(data) for data, _ in reader] == list(frames):
                return
        finally:
            reader.close()
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1))
        for i, frame in enumerate(frames):
            f.write(struct.pack("<IIII", 1700000000 + i, 0, len(frame), len(frame)))
            f.write(frame)


def rate_limited_ids(rules):
    """Ids of the rules whose action is a rate_limit (each rule's text starts at "- id:")."""
    ids = []
    for block in rules.split("- id:")[1:]:
        if "rate_limit" in block:
            ids.append(block.split()[0])
    return ids


def write(name, title, rules, cases, default_action="forward", non_udp="forward",
          ports=ONE_PORT, port_files=None, inputs=None):
    """cases: list of (frame, verdict), or (frame, verdict, input port) when `inputs` maps input
    ports to capture files. port_files maps output ports to expected-file suffixes."""
    port_files = port_files or {"out": ""}
    inputs = inputs or {None: "in.pcap"}
    folder = os.path.join(HERE, name)
    os.makedirs(folder, exist_ok=True)
    cases = [case if len(case) == 3 else (case[0], case[1], None) for case in cases]
    frames = [bytes(frame) for frame, _, _ in cases]
    for port, file_name in inputs.items():
        write_pcap(os.path.join(folder, file_name),
                   [f for f, (_, _, source) in zip(frames, cases) if source == port])
    outputs = defaultdict(list)
    drops = Counter()
    rule_hits = Counter()
    passed = Counter()
    limited = Counter()
    for frame, (kind, where, rule) in zip(frames, (v for _, v, _ in cases)):
        if rule:
            rule_hits[rule] += 1
        if kind == "forward":
            outputs[where].append(frame)
            passed[rule] += 1
        else:
            drops[where] += 1
            if where == "rate_limit":
                limited[rule] += 1
    for port, suffix in port_files.items():
        write_pcap(os.path.join(folder, "expected%s.pcap" % suffix), outputs.get(port, []))
    forwarded = sum(len(v) for v in outputs.values())
    with open(os.path.join(folder, "config.yaml"), "w") as f:
        f.write(CONFIG.format(title=title, ports=ports, default_action=default_action,
                              non_udp=non_udp))
    with open(os.path.join(folder, "rules.yaml"), "w") as f:
        f.write(rules)
    limited_ids = rate_limited_ids(rules)
    with open(os.path.join(folder, "expect.yaml"), "w") as f:
        f.write("# Written by generate.py from the per-packet intent listed there.\n")
        f.write("totals: {rx_packets: %d, forwarded_packets: %d, dropped_packets: %d}\n"
                % (len(frames), forwarded, sum(drops.values())))
        reasons = ["rule", "default", "non_udp", "malformed", "tx_full"]
        if limited_ids:
            reasons.append("rate_limit")
        f.write("drops: {%s}\n" % ", ".join("%s: %d" % (r, drops[r]) for r in reasons))
        ids = [line.split("id:")[1].strip() for line in rules.splitlines() if "id:" in line]
        f.write("rules: {%s}\n" % ", ".join("%s: %d" % (i, rule_hits[i]) for i in ids))
        if limited_ids:
            # Per rate-limited rule: packets within the rate (forwarded) and beyond it (dropped).
            f.write("limits: {%s}\n" % ", ".join("%s: {passed: %d, limited: %d}"
                                                  % (i, passed[i], limited[i])
                                                  for i in limited_ids))
    print("%-22s %3d frames, %3d forwarded, %3d dropped" % (name, len(frames), forwarded,
                                                           sum(drops.values())))


def basic_ipv4():
    rules = """\
rules:
  - id: drop-ntp-reflection
    match:
      src: [203.0.113.0/24]
      src_port: 123
    action: drop
  - id: drop-ssdp
    match: {dst_port: 1900}
    action: drop
  - id: dns-ok
    match: {dst: 198.51.100.10, dst_port: 53}
    action: forward
  - id: drop-high-ports-from-bad-net
    match:
      src: [192.0.2.0/25, 192.0.2.128/26]
      dst_port: 1024-65535
    action: drop
"""
    cases = [
        (udp4("203.0.113.5", "198.51.100.10", 123, 40000), drop("rule", "drop-ntp-reflection")),
        (udp4("203.0.114.5", "198.51.100.10", 123, 40000), fwd()),          # other /24
        (udp4("203.0.113.5", "198.51.100.10", 124, 40000), fwd()),          # other port
        (udp4("10.1.1.1", "239.255.255.250", 5000, 1900), drop("rule", "drop-ssdp")),
        (udp4("10.1.1.1", "198.51.100.10", 5353, 53), rule_fwd("dns-ok")),
        (udp4("10.1.1.1", "198.51.100.11", 5353, 53), fwd()),               # other dst
        (udp4("192.0.2.1", "198.51.100.10", 1, 1024), drop("rule", "drop-high-ports-from-bad-net")),
        (udp4("192.0.2.190", "198.51.100.10", 1, 65535), drop("rule", "drop-high-ports-from-bad-net")),
        (udp4("192.0.2.192", "198.51.100.10", 1, 65535), fwd()),            # outside both
        (udp4("192.0.2.1", "198.51.100.10", 1, 1023), fwd()),               # below range
        (eth() / ARP(psrc="10.0.0.1", pdst="10.0.0.2"), fwd()),
        (eth() / IP(src="10.0.0.1", dst="10.0.0.2") / TCP(sport=1, dport=80), fwd()),
        (eth() / IP(src="10.0.0.1", dst="10.0.0.2") / ICMP(), fwd()),
        # First match wins: SSDP from the NTP network hits drop-ntp-reflection first.
        (udp4("203.0.113.9", "239.255.255.250", 123, 1900), drop("rule", "drop-ntp-reflection")),
        (udp4("10.9.9.9", "10.9.9.8", 40000, 40001, payload=b"z" * 1400), fwd()),
    ]
    write("basic-ipv4", "IPv4 prefixes and ports, first match wins, non-UDP forwarded",
          rules, cases)


def allowlist():
    rules = """\
rules:
  - id: allow-dns
    match: {dst: 198.51.100.10/32, dst_port: 53}
    action: forward
  - id: allow-ntp
    match: {dst: 198.51.100.10, dst_port: [123, "10000-10010"]}
    action: forward
"""
    cases = [
        (udp4("10.0.0.1", "198.51.100.10", 5000, 53), rule_fwd("allow-dns")),
        (udp4("10.0.0.1", "198.51.100.10", 5000, 123), rule_fwd("allow-ntp")),
        (udp4("10.0.0.1", "198.51.100.10", 5000, 10005), rule_fwd("allow-ntp")),
        (udp4("10.0.0.1", "198.51.100.10", 5000, 10011), drop("default")),
        (udp4("10.0.0.1", "198.51.100.11", 5000, 53), drop("default")),
        (udp6("2001:db8::1", "2001:db8::2", 5000, 53), drop("default")),
        (eth() / ARP(), drop("non_udp")),
        (eth() / IP() / TCP(), drop("non_udp")),
        (eth() / IPv6() / ICMPv6EchoRequest(), drop("non_udp")),
    ]
    write("default-drop-allowlist", "allow-list: default_action drop, non_udp drop", rules,
          cases, default_action="drop", non_udp="drop")


def ipv6():
    rules = """\
rules:
  - id: drop-v6-net
    match: {src: "2001:db8:bad::/48"}
    action: drop
  - id: drop-dns-any-family
    match:
      src: [10.66.0.0/16, "2001:db8:66::/48"]
      dst_port: 53
    action: drop
  - id: drop-v6-host-port
    match: {dst: "2001:db8::53", dst_port: 5353}
    action: drop
"""
    cases = [
        (udp6("2001:db8:bad::1", "2001:db8::1", 1000, 2000), drop("rule", "drop-v6-net")),
        (udp6("2001:db8:bad:ffff::1", "2001:db8::1", 1000, 2000), drop("rule", "drop-v6-net")),
        (udp6("2001:db8:bae::1", "2001:db8::1", 1000, 2000), fwd()),
        (udp4("10.66.1.1", "10.0.0.1", 1000, 53), drop("rule", "drop-dns-any-family")),
        (udp6("2001:db8:66::7", "2001:db8::1", 1000, 53), drop("rule", "drop-dns-any-family")),
        (udp6("2001:db8:67::7", "2001:db8::1", 1000, 53), fwd()),
        (udp6("2001:db8::9", "2001:db8::53", 1000, 5353), drop("rule", "drop-v6-host-port")),
        (udp6("2001:db8::9", "2001:db8::54", 1000, 5353), fwd()),
        # An IPv4 packet whose address bytes look like the IPv6 prefix start never matches it.
        (udp4("32.1.13.184", "10.0.0.1", 1000, 2000), fwd()),
        (eth() / IPv6(src="2001:db8:bad::1") / TCP(), fwd()),   # non-UDP forwarded
    ]
    write("ipv6", "IPv6 prefixes, mixed-family rules", rules, cases)


def vlan():
    rules = """\
rules:
  - id: drop-inner-src
    match: {src: 10.7.0.0/16}
    action: drop
"""
    def tagged(*tags, src="10.7.1.1"):
        frame = eth()
        for t in tags:
            frame = frame / t
        return frame / IP(src=src, dst="10.0.0.1") / UDP(sport=1, dport=2) / Raw(b"v" * 8)

    three = eth() / Dot1AD(vlan=1) / Dot1Q(vlan=2) / Dot1Q(vlan=3) / IP(src="10.8.0.1") / UDP()
    cases = [
        (tagged(Dot1Q(vlan=100)), drop("rule", "drop-inner-src")),
        (tagged(Dot1Q(vlan=100), src="10.8.1.1"), fwd()),
        (tagged(Dot1AD(vlan=10), Dot1Q(vlan=20)), drop("rule", "drop-inner-src")),
        (tagged(Dot1AD(vlan=10), Dot1Q(vlan=20), src="10.8.1.1"), fwd()),
        (tagged(Dot1Q(vlan=4095, prio=7), Dot1Q(vlan=1)), drop("rule", "drop-inner-src")),
        (three, drop("malformed")),                                   # more than two tags
        (eth() / Dot1Q(vlan=5) / ARP(), fwd()),
        (Ether(bytes(eth() / Dot1Q(vlan=5) / IP() / UDP())[:16]), drop("malformed")),  # cut tag
    ]
    write("vlan-qinq", "802.1Q and QinQ tags, rules on the inner IP", rules, cases)


def fragments():
    rules = """\
rules:
  - id: drop-port-9999
    match: {dst_port: 9999}
    action: drop
  - id: drop-all-from-frag-host
    match: {src: [10.9.0.1/32, "2001:db8::f"]}
    action: drop
"""
    big = b"F" * 64
    first4 = eth() / IP(src="10.1.0.1", dst="10.0.0.1", flags="MF", id=7, proto=17) / \
        UDP(sport=1, dport=9999, len=8 + 200) / Raw(big)
    second4 = eth() / IP(src="10.1.0.1", dst="10.0.0.1", frag=9, id=7, proto=17) / Raw(big)
    host_first = eth() / IP(src="10.9.0.1", dst="10.0.0.1", flags="MF", id=8, proto=17) / \
        UDP(sport=1, dport=2, len=8 + 200) / Raw(big)
    host_second = eth() / IP(src="10.9.0.1", dst="10.0.0.1", frag=9, id=8, proto=17) / Raw(big)
    frag_tcp = eth() / IP(src="10.9.0.1", dst="10.0.0.1", frag=9, proto=6) / Raw(big)
    first6 = eth() / IPv6(src="2001:db8::1", dst="2001:db8::2") / \
        IPv6ExtHdrFragment(offset=0, m=1, id=5, nh=17) / UDP(sport=1, dport=9999, len=300) / Raw(big)
    second6 = eth() / IPv6(src="2001:db8::1", dst="2001:db8::2") / \
        IPv6ExtHdrFragment(offset=100, m=0, id=5, nh=17) / Raw(big)
    host6 = eth() / IPv6(src="2001:db8::f", dst="2001:db8::2") / \
        IPv6ExtHdrFragment(offset=100, m=0, id=6, nh=17) / Raw(big)
    cases = [
        (first4, drop("rule", "drop-port-9999")),        # first fragment carries the ports
        (second4, fwd()),                                # non-first: port rules never match
        (host_first, drop("rule", "drop-all-from-frag-host")),
        (host_second, drop("rule", "drop-all-from-frag-host")),  # address rules still match
        (frag_tcp, fwd()),                               # non-UDP fragment: non_udp forward
        (first6, drop("rule", "drop-port-9999")),
        (second6, fwd()),
        (host6, drop("rule", "drop-all-from-frag-host")),
    ]
    write("fragments", "IPv4 and IPv6 fragments: ports only on first fragments", rules, cases)


def malformed():
    rules = """\
rules:
  - id: count-all-udp
    match: {}
    action: forward
"""
    good = udp4("10.0.0.1", "10.0.0.2", 1, 2, payload=b"m" * 10)
    raw = bytes(good)

    def patch(data, offset, value):
        return data[:offset] + value + data[offset + len(value):]

    cases = [
        (good, rule_fwd("count-all-udp")),
        (Raw(raw[:10]), drop("malformed")),                          # runt
        (Ether(raw[:14]), drop("malformed")),                        # Ethernet only
        (Ether(raw[:30]), drop("malformed")),                        # IPv4 cut
        (Ether(raw[:38]), drop("malformed")),                        # UDP header cut
        (Ether(patch(raw, 14, b"\x44")), drop("malformed")),          # IHL 4
        (Ether(patch(raw, 14, b"\x4f")), drop("malformed")),          # IHL 15 past the frame
        (Ether(patch(raw, 16, b"\x05\xdc")), drop("malformed")),      # total length 1500
        (Ether(patch(raw, 16, b"\x00\x10")), drop("malformed")),      # total length < IHL*4
        (Ether(patch(raw, 38, b"\x00\x04")), drop("malformed")),      # UDP length 4
        (Ether(patch(raw, 38, b"\x00\xff")), drop("malformed")),      # UDP length past IP
        (Ether(patch(raw, 14, b"\x65")), drop("malformed")),          # version 6 in IPv4
        (Ether(bytes(udp6("2001:db8::1", "2001:db8::2", 1, 2))[:50]), drop("malformed")),
        (eth() / IPv6(src="2001:db8::1", dst="2001:db8::2", nh=0) /
         IPv6ExtHdrHopByHop(nh=60) / IPv6ExtHdrDestOpt(nh=60) / IPv6ExtHdrDestOpt(nh=60) /
         IPv6ExtHdrDestOpt(nh=60) / IPv6ExtHdrDestOpt(nh=60) / IPv6ExtHdrDestOpt(nh=60) /
         IPv6ExtHdrDestOpt(nh=60) / IPv6ExtHdrDestOpt(nh=60) / IPv6ExtHdrDestOpt(nh=17) /
         UDP(sport=1, dport=2), drop("malformed")),                  # nine extension headers
        (udp6("2001:db8::1", "2001:db8::2", 3, 4), rule_fwd("count-all-udp")),
        (good, rule_fwd("count-all-udp")),
    ]
    write("malformed", "truncated and inconsistent frames are dropped as malformed", rules, cases)


def options_and_extensions():
    rules = """\
rules:
  - id: drop-dst-port-7
    match: {dst_port: 7}
    action: drop
"""
    cases = [
        (udp4("10.0.0.1", "10.0.0.2", 1, 7, options=[IPOption_RR(routers=["1.2.3.4"])]),
         drop("rule", "drop-dst-port-7")),
        (udp4("10.0.0.1", "10.0.0.2", 1, 8, options=[IPOption_RR(routers=["1.2.3.4"])]), fwd()),
        (udp6("2001:db8::1", "2001:db8::2", 1, 7,
              ext=[IPv6ExtHdrHopByHop(), IPv6ExtHdrRouting(), IPv6ExtHdrDestOpt()]),
         drop("rule", "drop-dst-port-7")),
        (udp6("2001:db8::1", "2001:db8::2", 1, 8, ext=[IPv6ExtHdrDestOpt()]), fwd()),
        (udp6("2001:db8::1", "2001:db8::2", 1, 7,
              ext=[IPv6ExtHdrFragment(offset=0, m=0, nh=17)]),   # atomic fragment
         drop("rule", "drop-dst-port-7")),
    ]
    write("ipv4-options-ipv6-ext", "IPv4 options and IPv6 extension headers before UDP", rules,
          cases)


def two_ports():
    rules = """\
rules:
  - id: hairpin-dns
    match: {dst_port: 53}
    action: {forward: wan}
  - id: drop-chargen
    match: {dst_port: 19}
    action: drop
"""
    ports = """\
  - name: wan
    device: "net_pcap0,rx_pcap=in.pcap,tx_pcap=out.pcap"
    forward_to: lan
  - name: lan
    device: "net_pcap1,tx_pcap=out-lan.pcap"
    forward_to: wan"""
    cases = [
        (udp4("10.0.0.1", "10.0.0.2", 1, 53), rule_fwd("hairpin-dns", "wan")),
        (udp4("10.0.0.1", "10.0.0.2", 1, 54), fwd("lan")),
        (udp4("10.0.0.1", "10.0.0.2", 1, 19), drop("rule", "drop-chargen")),
        (eth() / ARP(), fwd("lan")),
        (udp6("2001:db8::1", "2001:db8::2", 1, 53), rule_fwd("hairpin-dns", "wan")),
        (udp6("2001:db8::1", "2001:db8::2", 1, 80), fwd("lan")),
    ]
    write("forward-to-port", "forward_to and {forward: PORT} across two ports", rules, cases,
          ports=ports, port_files={"wan": "", "lan": "-lan"})


def in_port():
    rules = """\
rules:
  - id: drop-dns-from-wan
    match: {in_port: wan, dst_port: 53}
    action: drop
  - id: count-dns-from-lan
    match: {in_port: [lan], dst_port: 53}
    action: forward
  - id: drop-ntp-either-port
    match: {in_port: [wan, lan], dst_port: 123}
    action: drop
  - id: drop-net-from-lan
    match: {in_port: lan, src: 10.99.0.0/16}
    action: drop
"""
    ports = """\
  - name: wan
    device: "net_pcap0,rx_pcap=in.pcap,tx_pcap=out.pcap"
    forward_to: lan
  - name: lan
    device: "net_pcap1,rx_pcap=in-lan.pcap,tx_pcap=out-lan.pcap"
    forward_to: wan"""
    # Each output gets the frames of one input only, so its order is that input's order.
    cases = [
        (udp4("10.0.0.1", "10.0.0.2", 1000, 53), drop("rule", "drop-dns-from-wan"), "wan"),
        (udp4("10.0.0.1", "10.0.0.2", 1000, 53), rule_fwd("count-dns-from-lan", "wan"), "lan"),
        (udp6("2001:db8::1", "2001:db8::2", 1000, 53), drop("rule", "drop-dns-from-wan"), "wan"),
        (udp6("2001:db8::1", "2001:db8::2", 1000, 53), rule_fwd("count-dns-from-lan", "wan"),
         "lan"),
        (udp4("10.0.0.1", "10.0.0.2", 1000, 123), drop("rule", "drop-ntp-either-port"), "wan"),
        (udp6("2001:db8::1", "2001:db8::2", 1000, 123), drop("rule", "drop-ntp-either-port"),
         "lan"),
        (udp4("10.99.1.1", "10.0.0.2", 1000, 80), drop("rule", "drop-net-from-lan"), "lan"),
        (udp4("10.99.1.1", "10.0.0.2", 1000, 80), fwd("lan"), "wan"),      # lan-only rule
        (udp4("10.98.1.1", "10.0.0.2", 1000, 80), fwd("wan"), "lan"),      # other network
        (udp4("10.0.0.1", "10.0.0.2", 1000, 54), fwd("lan"), "wan"),
        (eth() / ARP(psrc="10.0.0.1", pdst="10.0.0.2"), fwd("wan"), "lan"),
        (eth() / ARP(psrc="10.0.0.3", pdst="10.0.0.4"), fwd("lan"), "wan"),
        # First match wins per input port: DNS from lan's 10.99 network is counted by
        # count-dns-from-lan before drop-net-from-lan can see it.
        (udp4("10.99.2.2", "10.0.0.2", 1000, 53), drop("rule", "drop-dns-from-wan"), "wan"),
        (udp4("10.99.2.2", "10.0.0.2", 1000, 53), rule_fwd("count-dns-from-lan", "wan"), "lan"),
    ]
    write("in-port", "in_port: rules for one input port or a list of them", rules, cases,
          ports=ports, port_files={"wan": "", "lan": "-lan"},
          inputs={"wan": "in.pcap", "lan": "in-lan.pcap"})


def length():
    rules = """\
rules:
  - id: empty-v4-udp
    match: {length: 28}
    action: drop
  - id: amplification-sizes
    match: {length: ["400-500", 1400-1500]}
    action: drop
  - id: small-v6
    match: {length: 48-60, dst: "2001:db8::/32"}
    action: drop
"""
    def v4(payload_size, **ip):
        return udp4("10.0.0.1", "10.0.0.2", 1000, 2000, payload=b"L" * payload_size, **ip)

    def v6(payload_size, dst="2001:db8::2", ext=None):
        return udp6("2001:db8::1", dst, 1000, 2000, payload=b"L" * payload_size, ext=ext)

    padded = Ether(bytes(v4(0)) + b"\x00" * 18)      # 60-byte frame, IP total length 28
    tagged = eth() / Dot1Q(vlan=7) / IP(src="10.0.0.1", dst="10.0.0.2") / UDP(sport=1, dport=2)
    rr = [IPOption_RR(routers=["1.2.3.4"])]            # 8 option bytes: header 28
    cases = [
        (v4(0), drop("rule", "empty-v4-udp")),                    # 20 + 8 = 28
        (padded, drop("rule", "empty-v4-udp")),                   # padding is not IP length
        (tagged, drop("rule", "empty-v4-udp")),                   # tags are not IP length
        (v4(1), fwd()),                                           # 29
        (v4(371), fwd()),                                         # 399
        (v4(372), drop("rule", "amplification-sizes")),           # 400
        (v4(472), drop("rule", "amplification-sizes")),           # 500
        (v4(473), fwd()),                                         # 501
        (v4(1371), fwd()),                                        # 1399
        (v4(1372), drop("rule", "amplification-sizes")),          # 1400
        (v4(1472), drop("rule", "amplification-sizes")),          # 1500
        (v4(364, options=rr), drop("rule", "amplification-sizes")),  # 28 + 8 + 364 = 400
        (v4(363, options=rr), fwd()),                             # 399
        (v6(0), drop("rule", "small-v6")),                        # 40 + 8 = 48
        (v6(12), drop("rule", "small-v6")),                       # 60
        (v6(13), fwd()),                                          # 61
        (v6(0, dst="2001:db9::2"), fwd()),                        # outside the prefix
        (v6(0, ext=[IPv6ExtHdrDestOpt()]), drop("rule", "small-v6")),  # 40 + 8 + 8 = 56
        (v6(352), drop("rule", "amplification-sizes")),           # 400: both families
        (v6(353, dst="2001:db9::2"), drop("rule", "amplification-sizes")),  # 401
        (v6(461), fwd()),                                         # 509
        (eth() / IP(src="10.0.0.1", dst="10.0.0.2") / Raw(b"x" * 8), fwd()),  # 28, not UDP
    ]
    write("length", "length: the IPv4 total length / 40 + IPv6 payload length", rules, cases)


def ttl_dscp():
    rules = """\
rules:
  - id: low-ttl
    match: {ttl: 1-5}
    action: drop
  - id: zero-ttl
    match: {ttl: 0}
    action: drop
  - id: expedited-or-cs4
    match: {dscp: [46, "32-39"]}
    action: drop
  - id: cs1-from-far
    match: {ttl: 255, dscp: 8}
    action: drop
"""
    def v4(ttl=64, tos=0):
        return udp4("10.0.0.1", "10.0.0.2", 1000, 2000, ttl=ttl, tos=tos)

    def v6(hlim=64, tc=0):
        return eth() / IPv6(src="2001:db8::1", dst="2001:db8::2", hlim=hlim, tc=tc) / \
            UDP(sport=1000, dport=2000) / Raw(b"q" * 16)

    cases = [
        (v4(ttl=0), drop("rule", "zero-ttl")),
        (v4(ttl=1), drop("rule", "low-ttl")),
        (v4(ttl=5), drop("rule", "low-ttl")),
        (v4(ttl=6), fwd()),
        (v4(ttl=64), fwd()),
        (v6(hlim=3), drop("rule", "low-ttl")),
        (v6(hlim=0), drop("rule", "zero-ttl")),
        (v6(hlim=6), fwd()),
        (v4(tos=46 << 2), drop("rule", "expedited-or-cs4")),
        (v4(tos=46 << 2 | 3), drop("rule", "expedited-or-cs4")),    # ECN bits are not DSCP
        (v4(tos=45 << 2), fwd()),
        (v4(tos=47 << 2), fwd()),
        (v4(tos=32 << 2), drop("rule", "expedited-or-cs4")),
        (v4(tos=39 << 2 | 1), drop("rule", "expedited-or-cs4")),
        (v4(tos=31 << 2), fwd()),
        (v4(tos=40 << 2), fwd()),
        (v6(tc=46 << 2), drop("rule", "expedited-or-cs4")),
        (v6(tc=46 << 2 | 2), drop("rule", "expedited-or-cs4")),
        (v6(tc=45 << 2), fwd()),
        (v4(ttl=255, tos=8 << 2), drop("rule", "cs1-from-far")),
        (v4(ttl=254, tos=8 << 2), fwd()),
        (v4(ttl=255, tos=9 << 2), fwd()),
        (v6(hlim=255, tc=8 << 2), drop("rule", "cs1-from-far")),
        (v4(ttl=3, tos=46 << 2), drop("rule", "low-ttl")),         # first match wins
        (eth() / IP(src="10.0.0.1", dst="10.0.0.2", ttl=1) / ICMP(), fwd()),  # not UDP
    ]
    write("ttl-dscp", "ttl (TTL / hop limit) and dscp (TOS / traffic class, ECN ignored)",
          rules, cases)


def vlan_match():
    rules = """\
rules:
  - id: drop-vlan-100
    match: {vlan: 100}
    action: drop
  - id: drop-vlans-200s-and-4095
    match: {vlan: ["200-299", 4095]}
    action: drop
  - id: priority-tagged-dns
    match: {vlan: 0, dst_port: 53}
    action: drop
"""
    def tagged(*tags, dport=2000, v6=False):
        frame = eth()
        for t in tags:
            frame = frame / t
        ip = IPv6(src="2001:db8::1", dst="2001:db8::2") if v6 else \
            IP(src="10.0.0.1", dst="10.0.0.2")
        return frame / ip / UDP(sport=1000, dport=dport) / Raw(b"v" * 8)

    legacy_outer = Ether(type=0x9100, **MAC) / Dot1Q(vlan=100) / Dot1Q(vlan=5) / \
        IP(src="10.0.0.1", dst="10.0.0.2") / UDP(sport=1000, dport=2000) / Raw(b"v" * 8)
    cases = [
        (tagged(), fwd()),                                          # untagged
        (tagged(Dot1Q(vlan=100)), drop("rule", "drop-vlan-100")),
        (tagged(Dot1Q(vlan=100, prio=7)), drop("rule", "drop-vlan-100")),   # PCP ignored
        (tagged(Dot1Q(vlan=101)), fwd()),
        (tagged(Dot1Q(vlan=100), v6=True), drop("rule", "drop-vlan-100")),
        (tagged(Dot1AD(vlan=100), Dot1Q(vlan=300)), drop("rule", "drop-vlan-100")),  # outer
        (tagged(Dot1AD(vlan=300), Dot1Q(vlan=100)), fwd()),         # inner tag is not matched
        (tagged(Dot1AD(vlan=250), Dot1Q(vlan=100)), drop("rule", "drop-vlans-200s-and-4095")),
        (legacy_outer, drop("rule", "drop-vlan-100")),              # 0x9100 outer tag
        (tagged(Dot1Q(vlan=199)), fwd()),
        (tagged(Dot1Q(vlan=200)), drop("rule", "drop-vlans-200s-and-4095")),
        (tagged(Dot1Q(vlan=299)), drop("rule", "drop-vlans-200s-and-4095")),
        (tagged(Dot1Q(vlan=300)), fwd()),
        (tagged(Dot1Q(vlan=4095)), drop("rule", "drop-vlans-200s-and-4095")),
        (tagged(Dot1Q(vlan=0), dport=53), drop("rule", "priority-tagged-dns")),
        (tagged(dport=53), fwd()),                                  # untagged never matches
        (tagged(Dot1Q(vlan=0), dport=54), fwd()),
        (eth() / Dot1Q(vlan=100) / ARP(), fwd()),                   # not UDP
    ]
    write("vlan-match", "vlan: the outer tag's VLAN id; untagged frames never match", rules,
          cases)


def fragment_match():
    rules = """\
rules:
  - id: drop-non-first
    match: {fragment: non_first}
    action: drop
  - id: drop-first-to-dns
    match: {fragment: first, dst_port: 53}
    action: drop
  - id: count-whole-v6
    match: {fragment: none, src: "2001:db8::/32"}
    action: forward
"""
    data = b"F" * 64

    def first4(dport):
        return eth() / IP(src="10.0.0.1", dst="10.0.0.2", flags="MF", id=7, proto=17) / \
            UDP(sport=1000, dport=dport, len=8 + 200) / Raw(data)

    def later4(frag, more):
        return eth() / IP(src="10.0.0.1", dst="10.0.0.2", flags="MF" if more else 0, frag=frag,
                          id=7, proto=17) / Raw(data)

    def v6(src="2001:db8::1", frag=None, dport=2000):
        packet = eth() / IPv6(src=src, dst="2001:db8::2")
        if frag is not None:
            offset, more = frag
            packet = packet / IPv6ExtHdrFragment(offset=offset, m=more, id=5, nh=17)
            if offset != 0:
                return packet / Raw(data)
            if more:
                return packet / UDP(sport=1000, dport=dport, len=8 + 200) / Raw(data)
        return packet / UDP(sport=1000, dport=dport) / Raw(data)

    cases = [
        (udp4("10.0.0.1", "10.0.0.2", 1000, 53), fwd()),                 # none
        (udp4("10.0.0.1", "10.0.0.2", 1000, 53, flags="DF"), fwd()),     # DF: still none
        (first4(53), drop("rule", "drop-first-to-dns")),
        (first4(54), fwd()),
        (later4(9, True), drop("rule", "drop-non-first")),               # middle fragment
        (later4(9, False), drop("rule", "drop-non-first")),              # last fragment
        (eth() / IP(src="10.0.0.1", dst="10.0.0.2", frag=9, proto=6) / Raw(data), fwd()),  # TCP
        (v6(), rule_fwd("count-whole-v6")),
        (v6(frag=(0, 0)), rule_fwd("count-whole-v6")),                    # atomic: none
        (v6(frag=(0, 1), dport=53), drop("rule", "drop-first-to-dns")),
        (v6(frag=(0, 1), dport=54), fwd()),                               # first, not none
        (v6(frag=(100, 1)), drop("rule", "drop-non-first")),
        (v6(frag=(100, 0)), drop("rule", "drop-non-first")),
        (v6(src="2001:db9::1"), fwd()),
        (v6(src="2001:db9::1", frag=(0, 1), dport=53), drop("rule", "drop-first-to-dns")),
    ]
    write("fragment-match", "fragment: first / non_first / none, IPv4 and IPv6", rules, cases)


def dns_query(name, qtype):
    """A DNS query: 12-byte header, the name as labels ("." is the root), qtype, qclass IN."""
    labels = [label for label in name.split(".") if label]
    qname = b"".join(bytes([len(label)]) + label.encode() for label in labels) + b"\0"
    return struct.pack("!HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0) + qname + \
        struct.pack("!HH", qtype, 1)


def payload_match():
    rules = """\
rules:
  - id: dns-any-13-byte-name
    match:
      dst_port: 53
      payload: {offset: 25, value: "00ff"}
    action: drop
  - id: source-engine-query
    match:
      dst_port: 27015
      payload: {offset: 0, value: "ffffffff50", mask: "fffffffff0"}
    action: drop
  - id: magic-at-4
    match:
      payload: {offset: 4, value: "abcd0000"}
    action: drop
"""
    # "example.com" is 13 bytes as labels, so its qtype sits at payload bytes 25-26.
    def dns(name, qtype, dport=53):
        return udp4("10.0.0.1", "10.0.0.2", 5353, dport, payload=dns_query(name, qtype))

    def game(payload):
        return udp4("10.0.0.1", "10.0.0.2", 40000, 27015, payload=payload)

    def any_port(payload, **kw):
        return udp4("10.0.0.1", "10.0.0.2", 1000, 2000, payload=payload, **kw)

    short = Ether(bytes(any_port(b"XXXX\xab\xcd")) + b"\0" * 12)   # zero padding to 60 bytes
    first_fragment = eth() / IP(src="10.0.0.1", dst="10.0.0.2", flags="MF", id=9, proto=17) / \
        UDP(sport=1000, dport=2000, len=8 + 200) / Raw(b"XXXX\xab\xcd\0\0" + b"f" * 56)
    later_fragment = eth() / IP(src="10.0.0.1", dst="10.0.0.2", frag=9, id=9, proto=17) / \
        Raw(b"XXXX\xab\xcd\0\0" + b"f" * 56)
    cases = [
        (dns("example.com", 255), drop("rule", "dns-any-13-byte-name")),
        (dns("example.org", 255), drop("rule", "dns-any-13-byte-name")),
        (dns("example.com", 1), fwd()),                        # qtype A
        (dns("example.com", 255, dport=5353), fwd()),          # not port 53
        (dns("ex.com", 255), fwd()),                           # 24-byte payload: too short
        (dns("examples.com", 255), fwd()),                     # qtype one byte later
        (game(b"\xff\xff\xff\xffTSource Engine Query\0"), drop("rule", "source-engine-query")),
        (game(b"\xff\xff\xff\xffU\xff\xff\xff\xff"), drop("rule", "source-engine-query")),
        (game(b"\xff\xff\xff\xffW"), drop("rule", "source-engine-query")),  # exactly 5 bytes
        (game(b"\xff\xff\xff\xffi"), fwd()),                   # 0x69: outside the mask's 0x5_
        (game(b"\xff\xff\xff\xfeT"), fwd()),
        (game(b"\xff\xff\xff\xff"), fwd()),                    # 4 bytes: shorter than 5
        (game(b""), fwd()),                                    # no payload at all
        (any_port(b"XXXX\xab\xcd\0\0"), drop("rule", "magic-at-4")),
        (any_port(b"YYYY\xab\xcd\0\0tail"), drop("rule", "magic-at-4")),
        (any_port(b"XXXX\xab\xcd\0"), fwd()),                  # 7 bytes: the last one missing
        (short, fwd()),                # 6 payload bytes; the frame's zero padding is not payload
        (any_port(b"XXX\xab\xcd\0\0Z"), fwd()),                # one byte early
        (udp6("2001:db8::1", "2001:db8::2", 1000, 2000, payload=b"XXXX\xab\xcd\0\0"),
         drop("rule", "magic-at-4")),
        (eth() / Dot1Q(vlan=5) / IP(src="10.0.0.1", dst="10.0.0.2") /
         UDP(sport=1000, dport=2000) / Raw(b"XXXX\xab\xcd\0\0"), drop("rule", "magic-at-4")),
        (any_port(b"XXXX\xab\xcd\0\0", options=[IPOption_RR(routers=["1.2.3.4"])]),
         drop("rule", "magic-at-4")),
        (first_fragment, drop("rule", "magic-at-4")),          # the bytes are in this fragment
        (later_fragment, fwd()),                               # no UDP header: no payload
    ]
    write("payload-match", "payload: bytes at an offset of the UDP payload, with a mask", rules,
          cases)


def readme_rules():
    """README.md's rule example, copied from the README: what it claims each rule matches."""
    readme = open(os.path.join(HERE, "..", "..", "README.md"), encoding="utf-8").read()
    blocks = [b for b in readme.split("```yaml\n")[1:] if b.startswith("rules:")]
    assert len(blocks) == 1, "README.md: expected one rule example"
    rules = blocks[0].split("```")[0]

    def ntp(src, dport, size):
        return udp4(src, "10.0.0.2", 123, dport, payload=b"n" * size)

    def dns(name, qtype, dport=53):
        return udp4("10.0.0.1", "10.0.0.2", 5353, dport, payload=dns_query(name, qtype))

    cases = [
        # An NTP monlist-style answer: 203.0.113.0/24 from port 123, IP length 20+8+440 >= 200.
        (ntp("203.0.113.7", 40000, 440), drop("rule", "drop-ntp-reflection")),
        (ntp("203.0.113.7", 40000, 172), drop("rule", "drop-ntp-reflection")),  # length 200
        (ntp("203.0.113.7", 40000, 171), fwd()),               # length 199
        (ntp("203.0.113.7", 123, 440), fwd()),                 # to port 123: ordinary NTP
        (ntp("198.51.100.7", 40000, 440), fwd()),              # another source
        # The DNS rule catches ANY queries for the root name, and only those.
        (dns(".", 255), rule_fwd("dns-any-root-flood")),       # within the rate: passes
        (dns(".", 255), rule_fwd("dns-any-root-flood")),
        (dns(".", 1), fwd()),                                  # A .
        (dns(".", 2), fwd()),                                  # NS .
        (dns("example.com", 255), fwd()),                      # ANY for another name
        (dns("example.com", 1), fwd()),                        # an ordinary query
        (dns(".", 255, dport=5353), fwd()),                    # not port 53
    ]
    write("readme-rules", "README.md's rule example", rules, cases)


def rate_limit_pps():
    # One worker, and net_pcap replays the capture within microseconds: at 1 packet per second
    # nothing refills during the replay, so each bucket passes exactly its first `burst` packets.
    rules = """\
rules:
  - id: limit-dns
    match: {dst_port: 53}
    action: {rate_limit: {pps: 1, burst: 3}}
  - id: limit-ntp
    match: {dst_port: 123}
    action: {rate_limit: {pps: 1, burst: 1}}
  - id: drop-chargen
    match: {dst_port: 19}
    action: drop
"""
    def to(port, sport=1000):
        return udp4("10.0.0.1", "10.0.0.2", sport, port)

    cases = [
        (to(53, 1), rule_fwd("limit-dns")),                    # dns 1 of 3
        (to(123, 1), rule_fwd("limit-ntp")),                   # ntp 1 of 1
        (to(53, 2), rule_fwd("limit-dns")),                    # dns 2 of 3
        (to(123, 2), drop("rate_limit", "limit-ntp")),
        (to(19), drop("rule", "drop-chargen")),
        (to(5000), fwd()),
        (to(53, 3), rule_fwd("limit-dns")),                    # dns 3 of 3
        (to(53, 4), drop("rate_limit", "limit-dns")),
        (udp6("2001:db8::1", "2001:db8::2", 5, 53), drop("rate_limit", "limit-dns")),
        (to(5001), fwd()),
        (to(123, 3), drop("rate_limit", "limit-ntp")),
        (to(53, 5), drop("rate_limit", "limit-dns")),
        (eth() / ARP(), fwd()),
    ]
    write("rate-limit-pps", "rate_limit pps: the first `burst` packets pass, the rest are limited",
          rules, cases)


def rate_limit_bps():
    # bps: 8 is one byte per second, so nothing refills during the replay. A frame passes when
    # the bucket still holds at least its length (the whole frame as received, Ethernet header
    # included), and takes that many bytes; a frame that does not fit takes nothing, so a smaller
    # one after it may still pass.
    rules = """\
rules:
  - id: limit-dns-bytes
    match: {dst_port: 53}
    action: {rate_limit: {bps: 8, burst_bytes: 2000}}
  - id: limit-big-frames
    match: {dst_port: 9000}
    action: {rate_limit: {bps: 8, burst_bytes: 1518}}
"""
    def sized(frame_length, dport, sport=1000):
        frame = udp4("10.0.0.1", "10.0.0.2", sport, dport, payload=b"b" * (frame_length - 42))
        assert len(bytes(frame)) == frame_length
        return frame

    cases = [
        (sized(600, 53, 1), rule_fwd("limit-dns-bytes")),            # 2000 -> 1400
        (sized(600, 53, 2), rule_fwd("limit-dns-bytes")),            # 1400 -> 800
        (sized(1518, 9000), rule_fwd("limit-big-frames")),           # 1518 -> 0
        (sized(600, 53, 3), rule_fwd("limit-dns-bytes")),            # 800 -> 200
        (sized(600, 53, 4), drop("rate_limit", "limit-dns-bytes")),  # 600 > 200
        (sized(100, 5000), fwd()),                                   # no rule
        (sized(1000, 53, 5), drop("rate_limit", "limit-dns-bytes")), # 1000 > 200
        (sized(200, 53, 6), rule_fwd("limit-dns-bytes")),            # 200 -> 0
        (sized(60, 53, 7), drop("rate_limit", "limit-dns-bytes")),   # 60 > 0
        (sized(60, 9000), drop("rate_limit", "limit-big-frames")),   # 60 > 0
    ]
    write("rate-limit-bps", "rate_limit bps: bytes of whole frames against burst_bytes", rules,
          cases)


def ipv6_mixed_fields():
    rules = """\
rules:
  - id: v6-ntp-amplification
    match: {src: "2001:db8:100::/48", src_port: 123, length: 400-1500}
    action: drop
  - id: v6-low-hops-on-vlan-30
    match: {vlan: 30, ttl: 0-2, dst: "2001:db8::/32"}
    action: drop
  - id: v6-ef-first-fragments
    match: {dscp: 46, fragment: first}
    action: drop
  - id: v6-magic-from-bad-net
    match:
      src: "2001:db8:bad::/48"
      payload: {offset: 2, value: "beef"}
    action: drop
  - id: any-family-ntp-amplification
    match: {src_port: 123, length: 468-1500}
    action: drop
"""
    def v6(src="2001:db8:100::1", dst="2001:db8::2", sport=1000, dport=2000, payload=b"q" * 16,
           hlim=64, tc=0, tags=(), ext=None):
        frame = eth()
        for t in tags:
            frame = frame / t
        packet = IPv6(src=src, dst=dst, hlim=hlim, tc=tc)
        for header in ext or []:
            packet = packet / header
        return frame / packet / UDP(sport=sport, dport=dport) / Raw(payload)

    ef_first = eth() / IPv6(src="2001:db8::1", dst="2001:db8::2", tc=46 << 2) / \
        IPv6ExtHdrFragment(offset=0, m=1, id=3, nh=17) / UDP(sport=1, dport=2, len=8 + 300) / \
        Raw(b"e" * 64)
    ef_later = eth() / IPv6(src="2001:db8::1", dst="2001:db8::2", tc=46 << 2) / \
        IPv6ExtHdrFragment(offset=40, m=0, id=3, nh=17) / Raw(b"e" * 64)
    cases = [
        (v6(sport=123, payload=b"n" * 352), drop("rule", "v6-ntp-amplification")),   # 400
        (v6(sport=123, payload=b"n" * 351), fwd()),                                   # 399
        (v6(src="2001:db8:101::1", sport=123, payload=b"n" * 352), fwd()),            # other /48
        (v6(sport=124, payload=b"n" * 352), fwd()),
        (v6(src="2001:db8:101::1", sport=123, payload=b"n" * 420),
         drop("rule", "any-family-ntp-amplification")),                              # 468
        (udp4("10.0.0.1", "10.0.0.2", 123, 2000, payload=b"n" * 440),
         drop("rule", "any-family-ntp-amplification")),                              # 468
        (udp4("10.0.0.1", "10.0.0.2", 123, 2000, payload=b"n" * 439), fwd()),          # 467
        (v6(tags=[Dot1Q(vlan=30)], hlim=2), drop("rule", "v6-low-hops-on-vlan-30")),
        (v6(tags=[Dot1Q(vlan=30)], hlim=0), drop("rule", "v6-low-hops-on-vlan-30")),
        (v6(tags=[Dot1Q(vlan=30)], hlim=3), fwd()),
        (v6(tags=[Dot1Q(vlan=31)], hlim=1), fwd()),
        (v6(hlim=1), fwd()),                                                          # untagged
        (v6(tags=[Dot1Q(vlan=30)], hlim=1, dst="2001:db9::2"), fwd()),
        (v6(tags=[Dot1AD(vlan=30), Dot1Q(vlan=31)], hlim=1),
         drop("rule", "v6-low-hops-on-vlan-30")),
        (eth() / Dot1Q(vlan=30) / IP(src="10.0.0.1", dst="10.0.0.2", ttl=1) / UDP() /
         Raw(b"q" * 16), fwd()),                                     # IPv4: dst is IPv6 only
        (ef_first, drop("rule", "v6-ef-first-fragments")),
        (ef_later, fwd()),
        (v6(tc=46 << 2), fwd()),                                     # EF but not fragmented
        (v6(tc=46 << 2, ext=[IPv6ExtHdrFragment(offset=0, m=0, nh=17)]), fwd()),  # atomic
        (v6(src="2001:db8:bad::9", payload=b"\x00\x01\xbe\xef"),
         drop("rule", "v6-magic-from-bad-net")),
        (v6(src="2001:db8:bad::9", payload=b"\x00\x01\xbe\xef",
            ext=[IPv6ExtHdrHopByHop(), IPv6ExtHdrDestOpt()]),
         drop("rule", "v6-magic-from-bad-net")),
        (v6(src="2001:db8:bad::9", payload=b"\x00\x01\xbe"), fwd()),    # 3 bytes: short
        (v6(src="2001:db8:bae::9", payload=b"\x00\x01\xbe\xef"), fwd()),
        (udp4("10.0.0.1", "10.0.0.2", 1, 2, payload=b"\x00\x01\xbe\xef"), fwd()),  # IPv4
    ]
    write("ipv6-mixed-fields", "IPv6 with several new fields in one rule, next to IPv4", rules,
          cases)


def malformed_corpus():
    """A corpus of broken frames, each between valid ones, so the parser's every bound is hit
    while forwarding is checked frame by frame. Verdicts follow docs/configuration.md
    "Malformed frames". Jumbo frames (9000 bytes) arrive from net_pcap as multi-segment mbufs
    (the pool's buffers hold 2048 bytes), so they also cover the worker's segmented path."""
    rules = """\
rules:
  - id: drop-port-666
    match: {dst_port: 666}
    action: drop
  - id: drop-jumbo-magic
    match:
      payload: {offset: 1000, value: "cafebabe"}
    action: drop
"""
    counter = [0]

    def good():
        # Each valid frame is distinct, so expected.pcap also checks the order.
        counter[0] += 1
        if counter[0] % 2:
            return udp4("10.0.0.1", "10.0.0.2", 1000 + counter[0], 2000,
                        payload=b"ok%04d" % counter[0])
        return udp6("2001:db8::1", "2001:db8::2", 1000 + counter[0], 2000,
                    payload=b"ok%04d" % counter[0])

    def patch(data, offset, value):
        return data[:offset] + value + data[offset + len(value):]

    def frame(data):
        return Raw(bytes(data))

    bad = []          # (frame, verdict) before interleaving
    m = drop("malformed")

    # Runts: shorter than an Ethernet header, and short but otherwise complete.
    base4 = bytes(udp4("10.0.0.1", "10.0.0.2", 1, 2, payload=b"x" * 10))
    for length in (1, 6, 12, 13):
        bad.append((frame(base4[:length]), m))
    bad.append((frame(base4[:12] + b"\x08\x00"), m))                 # IPv4 ethertype, no IP
    bad.append((frame(base4[:12] + b"\x08\x06"), fwd()))             # ARP ethertype, no body
    bad.append((frame(base4[:12] + b"\x00\x2e"), fwd()))             # 802.3 length field
    bare = bytes(udp4("10.0.0.3", "10.0.0.4", 5, 6, payload=b""))    # 42 bytes, no padding
    assert len(bare) == 42
    bad.append((frame(bare), fwd()))                                 # < 60 but consistent
    bad.append((frame(bytes(udp4("10.0.0.3", "10.0.0.4", 5, 6, payload=b"p" * 17))), fwd()))  # 59

    # Truncated at every byte of every header of a QinQ IPv4/UDP frame: as cut (the IP total
    # length then runs past the frame), and with the IP length fixed to the cut.
    qinq4 = bytes(eth() / Dot1AD(vlan=10) / Dot1Q(vlan=20) /
                  IP(src="10.0.0.1", dst="10.0.0.2") / UDP(sport=7, dport=8) / Raw(b"q" * 8))
    l3 = 22
    for cut in range(14, l3 + 28):
        bad.append((frame(qinq4[:cut]), m))
    for ip_length in range(20, 28):                                  # UDP header cut, IP consistent
        data = bytearray(qinq4[:l3 + ip_length])
        struct.pack_into("!H", data, l3 + 2, ip_length)
        bad.append((frame(bytes(data)), m))

    # IPv6 with hop-by-hop, routing, destination options and an atomic fragment header before
    # UDP: every cut, as is and with the payload length fixed to the cut.
    chain6 = bytes(eth() / IPv6(src="2001:db8::1", dst="2001:db8::2") / IPv6ExtHdrHopByHop() /
                   IPv6ExtHdrRouting() / IPv6ExtHdrDestOpt() /
                   IPv6ExtHdrFragment(offset=0, m=0, nh=17) / UDP(sport=7, dport=8) /
                   Raw(b"6" * 8))
    ext_end = 14 + 40 + 8 + 8 + 8 + 8
    for cut in list(range(14, 54)) + list(range(54, ext_end + 8, 3)):
        bad.append((frame(chain6[:cut]), m))
    for plen in range(0, ext_end + 8 - 54):
        data = bytearray(chain6[:54 + plen])
        struct.pack_into("!H", data, 18, plen)
        bad.append((frame(bytes(data)), m))
    bad.append((frame(chain6), fwd()))                               # whole: valid

    # IPv4 header fields.
    for ihl in range(0, 5):
        bad.append((frame(patch(base4, 14, bytes([0x40 | ihl]))), m))  # IHL < 5
    bad.append((frame(patch(base4, 14, b"\x4f")), m))               # options past the frame
    bad.append((frame(patch(base4, 14, b"\x46")), m))               # UDP header read from payload
    bad.append((frame(patch(base4, 16, struct.pack("!H", len(base4) - 14 + 1))), m))  # +1
    bad.append((frame(patch(base4, 16, struct.pack("!H", 19))), m))   # below the header
    bad.append((frame(patch(base4, 16, b"\xff\xff")), m))
    bad.append((frame(patch(base4, 14, b"\x55")), m))                 # version 5
    bad.append((frame(base4 + b"\0" * 20), fwd()))                   # Ethernet padding: fine

    # UDP length lies.
    for udp_length in (0, 1, 7):
        bad.append((frame(patch(base4, 38, struct.pack("!H", udp_length))), m))
    bad.append((frame(patch(base4, 38, struct.pack("!H", 8 + 10 + 1))), m))   # past IP by 1
    bad.append((frame(patch(base4, 38, b"\xff\xff")), m))
    bad.append((frame(patch(base4, 38, struct.pack("!H", 8 + 4))), fwd()))    # shorter: accepted
    frag_first = bytes(eth() / IP(src="10.0.0.1", dst="10.0.0.2", flags="MF", id=3, proto=17) /
                       UDP(sport=1, dport=2, len=4000) / Raw(b"f" * 16))
    bad.append((frame(frag_first), fwd()))  # a first fragment's length: the datagram
    bad.append((frame(patch(frag_first, 38, b"\x00\x07")), m))        # but >= 8 still holds
    frag_later = bytes(eth() / IP(src="10.0.0.1", dst="10.0.0.2", frag=100, proto=17) /
                       Raw(b"f" * 16))
    bad.append((frame(frag_later[:-1]), m))                           # total length past frame

    # IPv6 extension-header chains: eight are walked, a ninth is malformed whatever it is;
    # a header pointing at itself "loops" until the bound; lengths past the payload.
    def chain(headers):
        packet = IPv6(src="2001:db8::1", dst="2001:db8::2")
        for h in headers:
            packet = packet / h
        return eth() / packet / UDP(sport=9, dport=10) / Raw(b"c" * 8)

    bad.append((chain([IPv6ExtHdrDestOpt() for _ in range(8)]), fwd()))
    bad.append((chain([IPv6ExtHdrDestOpt() for _ in range(9)]), m))
    bad.append((chain([IPv6ExtHdrHopByHop()] + [IPv6ExtHdrRouting() for _ in range(20)]), m))
    bad.append((chain([IPv6ExtHdrFragment(offset=0, m=0) for _ in range(9)]), m))
    selfloop = bytes(eth() / IPv6(src="2001:db8::1", dst="2001:db8::2", nh=60) /
                     Raw((b"\x3c\x00" + b"\x01\x04\x00\x00\x00\x00") * 12))
    bad.append((frame(selfloop), m))                                  # nh=60 forever
    runaway = bytes(eth() / IPv6(src="2001:db8::1", dst="2001:db8::2", nh=60) /
                    Raw(b"\x11\xff" + b"\x00" * 30))                 # claims 2048 bytes
    bad.append((frame(runaway), m))
    dangling = bytes(eth() / IPv6(src="2001:db8::1", dst="2001:db8::2", nh=0) /
                     Raw(b"\x3c\x00" + b"\x01\x04\x00\x00\x00\x00"))   # then nothing
    bad.append((frame(dangling), m))
    bad.append((frame(patch(bytes(udp6("2001:db8::1", "2001:db8::2", 1, 2)), 18, b"\x00\xff")), m))
    bad.append((frame(patch(bytes(udp6("2001:db8::1", "2001:db8::2", 1, 2)), 14, b"\x40")), m))

    # VLAN stacks.
    def tagged(*tags):
        f = eth()
        for t in tags:
            f = f / t
        return f / IP(src="10.0.0.1", dst="10.0.0.2") / UDP(sport=1, dport=2) / Raw(b"v" * 8)

    bad.append((tagged(Dot1Q(vlan=1), Dot1Q(vlan=2), Dot1Q(vlan=3)), m))
    bad.append((tagged(*[Dot1Q(vlan=i) for i in range(1, 9)]), m))
    bad.append((frame(bytes(eth())[:12] + b"\x81\x00"), m))           # 0x8100, no payload
    bad.append((frame(bytes(eth())[:12] + b"\x81\x00\x00\x05"), m))   # TCI but no ethertype
    bad.append((frame(bytes(eth())[:12] + b"\x88\xa8\x00\x05\x81\x00"), m))   # second tag cut
    bad.append((frame(bytes(eth())[:12] + b"\x81\x00\x00\x05\x08\x00"), m))   # IPv4, no header
    bad.append((frame(bytes(eth())[:12] + b"\x81\x00\x00\x05\x08\x06"), fwd()))  # ARP, empty
    bad.append((tagged(Dot1Q(type=0x9100, vlan=7), Dot1Q(vlan=8)), fwd()))
    bad.append((eth() / Dot1Q(vlan=1) / Dot1Q(vlan=2) / ARP(), fwd()))

    # Jumbo frames: 9000 bytes become five-segment mbufs. Headers must lie in the first 512
    # bytes of a multi-segment frame.
    def jumbo4(dport=2000, payload=None, length=9000):
        head = eth() / IP(src="10.0.0.1", dst="10.0.0.2") / UDP(sport=3, dport=dport)
        body = payload if payload is not None else b"J" * (length - len(bytes(head)))
        return head / Raw(body)

    j4 = jumbo4()
    assert len(bytes(j4)) == 9000
    bad.append((j4, fwd()))
    bad.append((jumbo4(dport=666), drop("rule", "drop-port-666")))
    magic = b"J" * 1000 + b"\xca\xfe\xba\xbe" + b"J" * (9000 - 42 - 1004)
    bad.append((jumbo4(payload=magic), drop("rule", "drop-jumbo-magic")))
    bad.append((jumbo4(length=9216), fwd()))
    j6 = udp6("2001:db8::1", "2001:db8::2", 3, 2000, payload=b"K" * (9000 - 62))
    bad.append((j6, fwd()))
    bad.append((frame(bytes(j4)[:8999]), m))                          # IP length past the frame
    bad.append((frame(patch(bytes(j4), 38, b"\xff\xff")), m))         # UDP length past IP
    bad.append((frame(patch(bytes(j4), 14, b"\x43")), m))             # IHL 3, jumbo
    long_ext = [IPv6ExtHdrDestOpt(options=[PadN(optdata=b"\0" * 250)]) for _ in range(2)]
    deep = udp6("2001:db8::1", "2001:db8::2", 3, 2000, ext=long_ext, payload=b"L" * 100)
    assert len(bytes(deep)) < 2048 and 14 + 40 + 2 * 256 > 512
    bad.append((deep, fwd()))                        # headers past 512 bytes, one segment: fine
    deep_jumbo = udp6("2001:db8::1", "2001:db8::2", 3, 2000, ext=long_ext, payload=b"L" * 8000)
    bad.append((deep_jumbo, m))                      # the same headers in a multi-segment frame

    cases = []
    for i, case in enumerate(bad):
        if i % 3 == 0:
            cases.append((good(), fwd()))
        cases.append(case)
    cases.append((good(), fwd()))
    write("malformed-corpus", "a corpus of broken frames between valid ones, jumbo frames",
          rules, cases)


if __name__ == "__main__":
    basic_ipv4()
    allowlist()
    ipv6()
    vlan()
    fragments()
    malformed()
    options_and_extensions()
    two_ports()
    in_port()
    length()
    ttl_dscp()
    vlan_match()
    fragment_match()
    payload_match()
    readme_rules()
    rate_limit_pps()
    rate_limit_bps()
    ipv6_mixed_fields()
    malformed_corpus()
