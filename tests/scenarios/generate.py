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
from collections import Counter, defaultdict

from scapy.all import (ARP, ICMP, IP, TCP, UDP, Dot1AD, Dot1Q, Ether, ICMPv6EchoRequest, IPv6,
                       IPv6ExtHdrDestOpt, IPv6ExtHdrFragment, IPv6ExtHdrHopByHop,
                       IPv6ExtHdrRouting, IPOption_RR, Raw, wrpcap)

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


def write(name, title, rules, cases, default_action="forward", non_udp="forward",
          ports=ONE_PORT, port_files=None):
    """cases: list of (frame, verdict). port_files maps port names to expected-file suffixes."""
    port_files = port_files or {"out": ""}
    folder = os.path.join(HERE, name)
    os.makedirs(folder, exist_ok=True)
    frames = [bytes(frame) for frame, _ in cases]
    wrpcap(os.path.join(folder, "in.pcap"), [Ether(f) if len(f) >= 14 else Raw(f) for f in frames],
           linktype=1)
    outputs = defaultdict(list)
    drops = Counter()
    rule_hits = Counter()
    for frame, (kind, where, rule) in zip(frames, (v for _, v in cases)):
        if rule:
            rule_hits[rule] += 1
        if kind == "forward":
            outputs[where].append(frame)
        else:
            drops[where] += 1
    for port, suffix in port_files.items():
        wrpcap(os.path.join(folder, "expected%s.pcap" % suffix),
               [Ether(f) for f in outputs.get(port, [])], linktype=1)
    forwarded = sum(len(v) for v in outputs.values())
    with open(os.path.join(folder, "config.yaml"), "w") as f:
        f.write(CONFIG.format(title=title, ports=ports, default_action=default_action,
                              non_udp=non_udp))
    with open(os.path.join(folder, "rules.yaml"), "w") as f:
        f.write(rules)
    with open(os.path.join(folder, "expect.yaml"), "w") as f:
        f.write("# Written by generate.py from the per-packet intent listed there.\n")
        f.write("totals: {rx_packets: %d, forwarded_packets: %d, dropped_packets: %d}\n"
                % (len(frames), forwarded, sum(drops.values())))
        reasons = ["rule", "default", "non_udp", "malformed", "tx_full"]
        f.write("drops: {%s}\n" % ", ".join("%s: %d" % (r, drops[r]) for r in reasons))
        ids = [line.split("id:")[1].strip() for line in rules.splitlines() if "id:" in line]
        f.write("rules: {%s}\n" % ", ".join("%s: %d" % (i, rule_hits[i]) for i in ids))
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


if __name__ == "__main__":
    basic_ipv4()
    allowlist()
    ipv6()
    vlan()
    fragments()
    malformed()
    options_and_extensions()
    two_ports()
