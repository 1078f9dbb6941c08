#!/usr/bin/python3
"""Writes tests/e2e/mixed.pcap and mixed.expect: real-world-like UDP for the replay test.

    /usr/bin/python3 tests/e2e/make_mixed.py [OUTDIR]    (default: this script's directory)

The capture is what the lab's client namespace sends towards the server namespace
(scripts/netns-lab.sh: client 02:75:73:00:00:01, server 02:75:73:00:00:02 at 10.77.0.2 and
fd00:77::2), so tcpreplay can send it from the client end unchanged: DNS queries (some with
EDNS, some empty), spoofed DNS responses, answers to the server's own DNS queries (large ones
fragmented, IPv4 and IPv6), NTP client requests and server replies, NTP mode 7 (monlist)
requests and reflected monlist responses, SSDP M-SEARCH (IPv4 and IPv6 multicast) and reflected
SSDP responses, QUIC v1 Initial and short-header packets, draft-29 Initials, fragmented
memcached reflection, and other UDP. About a third is IPv6.

mixed.expect gives, per frame, its service and the rule of tests/e2e/mixed-rules.yaml that
must decide it ("-": none, so default_action). The labels come from how each frame was built,
not from parsing it, so they are an oracle independent of udpsieved.

The output is deterministic (fixed seed and timestamps): rerunning the script rewrites the
same bytes.
"""

import os
import random
import struct
import sys

from scapy.all import (DNS, DNSQR, DNSRR, DNSRROPT, IP, UDP, Ether, IPv6, IPv6ExtHdrFragment,
                       Raw, fragment, fragment6, wrpcap)

CLIENT_MAC, SERVER_MAC = "02:75:73:00:00:01", "02:75:73:00:00:02"
CLIENT4, SERVER4 = "10.77.0.1", "10.77.0.2"
CLIENT6, SERVER6 = "fd00:77::1", "fd00:77::2"
LEGIT4, LEGIT6 = "192.0.2.", "2001:db8:1::"        # ordinary clients and upstream resolvers
REFLECT4, REFLECT6 = "198.51.100.", "2001:db8:bad::"  # reflectors (see fragment-tails-from-reflectors)

rng = random.Random(20261123)
items = []  # (service, [(frame, rule), ...]): one datagram, several frames when fragmented


def src4(pool):
    return pool + str(rng.randint(1, 254))


def src6(pool):
    return pool + format(rng.randint(1, 0xfffe), "x")


def eth(dst_mac=SERVER_MAC):
    return Ether(src=CLIENT_MAC, dst=dst_mac)


def l3(v6, src=None, dst=None):
    if v6:
        return IPv6(src=src or CLIENT6, dst=dst or SERVER6, hlim=rng.choice([64, 255, 57]))
    return IP(src=src or CLIENT4, dst=dst or SERVER4, ttl=rng.choice([64, 128, 53]),
              id=rng.randint(0, 0xffff))


def add(service, frames_and_rules):
    items.append((service, frames_and_rules))


def single(service, rule, frame):
    add(service, [(frame, rule)])


def fragmented(service, v6, packet, first_rule, tail_rule):
    frames = fragment6(packet, 1280) if v6 else fragment(packet, fragsize=1480)
    assert len(frames) >= 2
    add(service, [(f, first_rule if i == 0 else tail_rule) for i, f in enumerate(frames)])


def name():
    labels = ["www", "mail", "api", "cdn", "ntp", "vpn", "git", "docs", "img", "m"]
    zones = ["example.com", "example.net", "example.org", "test", "invalid"]
    return "%s%d.%s" % (rng.choice(labels), rng.randint(0, 99), rng.choice(zones))


def ephemeral():
    return rng.randint(32768, 60999)


# --- DNS --------------------------------------------------------------------------------------
for i in range(120):
    v6 = i % 3 == 0
    src = None if i % 4 == 0 else (src6(LEGIT6) if v6 else src4(LEGIT4))
    query = DNS(id=rng.randint(0, 0xffff), rd=1,
                qd=DNSQR(qname=name(), qtype=rng.choice([1, 28, 15, 16, 255])))
    if i % 5 == 0:  # EDNS0 with a DO bit, as resolvers send
        query.ar = DNSRROPT(rclass=4096, z=0x8000)
        query.arcount = 1
    single("dns", "dns", eth() / l3(v6, src) / UDP(sport=ephemeral(), dport=53) / query)
for v6 in (False, True):  # empty datagrams still are DNS by port
    single("dns", "dns", eth() / l3(v6) / UDP(sport=ephemeral(), dport=53))
for i in range(30):  # responses sent to the server's DNS port: reflection or spoofing
    v6 = i % 3 == 1
    answer = DNS(id=rng.randint(0, 0xffff), qr=1, aa=1, rd=1, ra=1, qd=DNSQR(qname=name()),
                 an=DNSRR(rrname="x.example.com", rdata="192.0.2.%d" % rng.randint(1, 254)))
    single("dns", "dns-responses-to-server",
           eth() / l3(v6, src6(REFLECT6) if v6 else src4(REFLECT4)) /
           UDP(sport=rng.choice([53, ephemeral()]), dport=53) / answer)
for i in range(30):  # answers to the server's own queries
    v6 = i % 2 == 0
    answer = DNS(id=rng.randint(0, 0xffff), qr=1, rd=1, ra=1, qd=DNSQR(qname=name()),
                 an=DNSRR(rrname="y.example.net", type="A", rdata="203.0.113.%d" % (i + 1)))
    single("dns", "upstream-dns-answers",
           eth() / l3(v6, src6(LEGIT6) if v6 else src4(LEGIT4)) /
           UDP(sport=53, dport=ephemeral()) / answer)
for i in range(10):  # large (DNSSEC-sized) answers arrive fragmented
    v6 = i >= 6
    txt = [bytes(rng.getrandbits(8) for _ in range(250)) for _ in range(rng.randint(7, 12))]
    answer = DNS(id=rng.randint(0, 0xffff), qr=1, rd=1, ra=1, qd=DNSQR(qname=name(), qtype="TXT"),
                 an=DNSRR(rrname="big.example.org", type="TXT", rdata=txt))
    src = src6(LEGIT6) if v6 else src4(LEGIT4)
    udp = UDP(sport=53, dport=ephemeral()) / answer
    if v6:
        packet = eth() / l3(True, src) / IPv6ExtHdrFragment(id=rng.getrandbits(32)) / udp
    else:
        packet = eth() / l3(False, src) / udp
    fragmented("dns", v6, packet, "upstream-dns-answers", "fragment-tails")

# --- NTP --------------------------------------------------------------------------------------
def ntp_client():
    # LI 0, version 4, mode 3; a transmit timestamp like chrony's.
    return bytes([0x23, 0, 6, 0xec]) + bytes(36) + struct.pack("!Q", rng.getrandbits(64))


for i in range(60):
    v6 = i % 3 == 2
    src = None if i % 2 else (src6(LEGIT6) if v6 else src4(LEGIT4))
    single("ntp", "ntp", eth() / l3(v6, src) / UDP(sport=rng.choice([123, ephemeral()]), dport=123) /
           Raw(ntp_client()))
for i in range(20):  # replies from the server's upstreams: mode 4, 48 bytes
    v6 = i % 4 == 0
    reply = bytes([0x24, 2, 6, 0xe9]) + bytes(rng.getrandbits(8) for _ in range(44))
    single("ntp", "ntp-replies",
           eth() / l3(v6, src6(LEGIT6) if v6 else src4(LEGIT4)) /
           UDP(sport=123, dport=ephemeral()) / Raw(reply))
for i in range(20):  # mode 7 MON_GETLIST_1 requests (the monlist amplification probe)
    v6 = i % 5 == 0
    single("ntp", "ntp-mode7",
           eth() / l3(v6, src6(REFLECT6) if v6 else src4(REFLECT4)) /
           UDP(sport=ephemeral(), dport=123) / Raw(bytes([0x17, 0x00, 0x03, 0x2a]) + bytes(4)))
for i in range(40):  # reflected monlist responses: 440 bytes of mode 7 data
    v6 = i % 4 == 3
    data = bytes([0x97, 0x00, 0x03, 0x2a, 0x00, 0x06, 0x00, 0x48]) + \
        bytes(rng.getrandbits(8) for _ in range(432))
    single("ntp", "ntp-monlist-reflection",
           eth() / l3(v6, src6(REFLECT6) if v6 else src4(REFLECT4)) /
           UDP(sport=123, dport=ephemeral()) / Raw(data))

# --- SSDP -------------------------------------------------------------------------------------
MSEARCH = (b"M-SEARCH * HTTP/1.1\r\nHOST: %s:1900\r\nMAN: \"ssdp:discover\"\r\nMX: 2\r\n"
           b"ST: ssdp:all\r\n\r\n")
for i in range(30):
    if i % 3 == 0:
        frame = (Ether(src=CLIENT_MAC, dst="33:33:00:00:00:0c") / l3(True, dst="ff02::c") /
                 UDP(sport=ephemeral(), dport=1900) / Raw(MSEARCH % b"[FF02::C]"))
    else:
        frame = (Ether(src=CLIENT_MAC, dst="01:00:5e:7f:ff:fa") / l3(False, dst="239.255.255.250") /
                 UDP(sport=ephemeral(), dport=1900) / Raw(MSEARCH % b"239.255.255.250"))
    single("ssdp", "ssdp", frame)
for i in range(30):  # reflected SSDP responses: no rule, so default_action (drop)
    v6 = i % 5 == 0
    body = (b"HTTP/1.1 200 OK\r\nCACHE-CONTROL: max-age=1800\r\nST: upnp:rootdevice\r\n"
            b"USN: uuid:%08x::upnp:rootdevice\r\nSERVER: Linux/2.6 UPnP/1.0 miniupnpd/1.0\r\n"
            b"LOCATION: http://192.168.1.1:5000/rootDesc.xml\r\n\r\n") % rng.getrandbits(32)
    single("ssdp", "-", eth() / l3(v6, src6(REFLECT6) if v6 else src4(REFLECT4)) /
           UDP(sport=1900, dport=ephemeral()) / Raw(body))


# --- QUIC -------------------------------------------------------------------------------------
def quic_long(version, first=0xc3):
    dcid = bytes(rng.getrandbits(8) for _ in range(8))
    scid = bytes(rng.getrandbits(8) for _ in range(rng.choice([0, 8, 20])))
    header = bytes([first]) + struct.pack("!I", version) + bytes([len(dcid)]) + dcid + \
        bytes([len(scid)]) + scid + b"\x00"  # no token
    body = bytes(rng.getrandbits(8) for _ in range(1200 - len(header)))  # padded to 1200
    return header + body


for i in range(40):
    v6 = i % 2 == 1
    src = None if i % 3 == 0 else (src6(LEGIT6) if v6 else src4(LEGIT4))
    single("quic", "quic-v1-initial",
           eth() / l3(v6, src) / UDP(sport=ephemeral(), dport=443) / Raw(quic_long(1)))
for i in range(60):
    v6 = i % 3 == 0
    size = rng.choice([21, 40, 64, 120, 500, 1000, 1200, 1252, 1350])
    data = bytes([0x40 | rng.getrandbits(6)]) + bytes(rng.getrandbits(8) for _ in range(size - 1))
    single("quic", "quic-short-header",
           eth() / l3(v6) / UDP(sport=ephemeral(), dport=443) / Raw(data))
for i in range(10):
    v6 = i % 2 == 0
    single("quic", "quic-other",
           eth() / l3(v6) / UDP(sport=ephemeral(), dport=443) / Raw(quic_long(0xff00001d)))
single("quic", "quic-other", eth() / l3(False) / UDP(sport=ephemeral(), dport=443))  # empty

# --- memcached reflection: large responses from reflectors, fragmented ------------------------
for i in range(8):
    v6 = i >= 5
    data = b"\x00\x01\x00\x00\x00\x01\x00\x00" + b"VALUE x 0 3000\r\n" + \
        bytes(rng.getrandbits(8) for _ in range(rng.randint(2500, 3800)))
    src = src6(REFLECT6) if v6 else src4(REFLECT4)
    udp = UDP(sport=11211, dport=ephemeral()) / Raw(data)
    if v6:
        packet = eth() / l3(True, src) / IPv6ExtHdrFragment(id=rng.getrandbits(32)) / udp
    else:
        packet = eth() / l3(False, src) / udp
    fragmented("memcached", v6, packet, "-", "fragment-tails-from-reflectors")

# --- other UDP: no rule (default_action) ------------------------------------------------------
for i in range(30):
    v6 = i % 3 == 0
    port = rng.choice([514, 5060, 27015, 3478, 51820, 4500])
    data = bytes(rng.getrandbits(8) for _ in range(rng.choice([0, 1, 30, 160, 900, 1400])))
    single("other", "-", eth() / l3(v6) / UDP(sport=ephemeral(), dport=port) / Raw(data))

# Interleave datagrams as a busy link would; fragments of one datagram stay in order.
rng.shuffle(items)
frames, labels = [], []
for service, parts in items:
    for frame, rule in parts:
        frames.append(frame)
        labels.append((service, rule))
for i, frame in enumerate(frames):
    frame.time = 1700000000 + i / 1000.0
    assert len(bytes(frame)) <= 1514, "frame %d is longer than the lab's MTU allows" % i

outdir = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
wrpcap(os.path.join(outdir, "mixed.pcap"), frames)
with open(os.path.join(outdir, "mixed.expect"), "w") as out:
    out.write("# Written by make_mixed.py: frame (0-based), service, rule of mixed-rules.yaml that\n"
              "# decides it (- = no rule: default_action).\n")
    for i, (service, rule) in enumerate(labels):
        out.write("%d %s %s\n" % (i, service, rule))
print("wrote %d frames (%d IPv6) to %s" %
      (len(frames), sum(1 for f in frames if f.haslayer(IPv6)), os.path.join(outdir, "mixed.pcap")))
