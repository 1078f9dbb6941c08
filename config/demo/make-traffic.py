#!/usr/bin/python3
"""Writes config/demo/traffic.pcap: a mix of UDP services, reflection floods and other traffic,
the kind a filtering box in front of DNS/NTP/game/VoIP servers sees. Needs python3-scapy; the
capture is committed, so running the demo does not.
"""
import os
import random

from scapy.all import (ARP, DNS, DNSQR, IP, TCP, UDP, Ether, IPv6, NTP, Raw, wrpcap)

random.seed(7)
MAC = dict(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
SERVICE_V4 = "198.51.100.53"
SERVICE_V6 = "2001:db8:100::53"
packets = []


def client4():
    return "100.64.%d.%d" % (random.randrange(256), random.randrange(1, 255))


def add(layer, n=1):
    for _ in range(n):
        packets.append(Ether(**MAC) / layer())


# Legitimate traffic.
add(lambda: IP(src=client4(), dst=SERVICE_V4) / UDP(sport=random.randrange(1024, 65535), dport=53)
    / DNS(rd=1, qd=DNSQR(qname="example.org")), 260)
add(lambda: IPv6(src="2001:db8:c::%x" % random.randrange(1, 65535), dst=SERVICE_V6)
    / UDP(sport=random.randrange(1024, 65535), dport=53) / DNS(rd=1, qd=DNSQR(qname="example.net")), 80)
add(lambda: IP(src="192.0.2.123", dst=SERVICE_V4) / UDP(sport=123, dport=123) / NTP(), 20)
add(lambda: IP(src=client4(), dst="198.51.100.27") / UDP(sport=random.randrange(1024, 65535), dport=27015)
    / Raw(b"\xff\xff\xff\xffTSource Engine Query\x00"), 120)
add(lambda: IP(src=client4(), dst="198.51.100.60") / UDP(sport=random.randrange(16384, 32767), dport=20000)
    / Raw(b"\x80\x00" + bytes(170)), 150)
add(lambda: IP(src=client4(), dst="198.51.100.44") / UDP(sport=random.randrange(1024, 65535), dport=443)
    / Raw(b"\xc3\x00\x00\x00\x01" + bytes(1195)), 80)
# Reflection floods aimed at the service network.
add(lambda: IP(src="203.0.113.%d" % random.randrange(1, 255), dst=SERVICE_V4)
    / UDP(sport=123, dport=random.randrange(1024, 65535)) / Raw(b"\x17\x00\x03\x2a" + bytes(436)), 120)
add(lambda: IP(src="203.0.113.%d" % random.randrange(1, 255), dst=SERVICE_V4)
    / UDP(sport=1900, dport=random.randrange(1024, 65535)) / Raw(b"HTTP/1.1 200 OK\r\n" + bytes(300)), 60)
add(lambda: IP(src="203.0.113.%d" % random.randrange(1, 255), dst=SERVICE_V4)
    / UDP(sport=11211, dport=random.randrange(1024, 65535)) / Raw(b"VALUE a 0 1400\r\n" + bytes(1000)), 40)
# Non-UDP and a broken frame.
add(lambda: IP(src=client4(), dst="198.51.100.80") / TCP(sport=random.randrange(1024, 65535), dport=443, flags="S"), 60)
add(lambda: ARP(psrc="198.51.100.1", pdst="198.51.100.53"), 8)
packets.append(Ether(bytes(Ether(**MAC) / IP(src="10.0.0.1", dst=SERVICE_V4) / UDP(dport=53))[:30]))

random.shuffle(packets)
wrpcap(os.path.join(os.path.dirname(os.path.abspath(__file__)), "traffic.pcap"), packets)
print("wrote %d packets" % len(packets))
