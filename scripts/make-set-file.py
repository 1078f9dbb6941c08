#!/usr/bin/env python3
"""Writes a prefix set file shaped like a large threat feed, for benchmarks.

usage: make-set-file.py OUT V4_COUNT [V6_COUNT [SEED [V6_SHAPE]]]

IPv4: 60% single addresses (/32), 30% /24s, 9% /16 to /23, 1% /9 to /15 (a reputation
feed's mix of hosts, networks and a few large blocks), uniformly random. IPv6: 40% /48,
30% /64, 15% /33 to /47, 15% single addresses; V6_SHAPE `allocations` (the default) puts them
inside 2,000 random /32s of 2000::/3, the way addresses cluster in providers' allocations,
`random` spreads them uniformly (the worst case for trie tables). Duplicates are kept out, and
the same SEED writes the same file.
"""
import ipaddress
import random
import sys


def v4_length(rng):
    r = rng.random()
    if r < 0.60:
        return 32
    if r < 0.90:
        return 24
    if r < 0.99:
        return rng.randint(16, 23)
    return rng.randint(9, 15)


def v6_length(rng):
    r = rng.random()
    if r < 0.40:
        return 48
    if r < 0.70:
        return 64
    if r < 0.85:
        return rng.randint(33, 47)
    return 128


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    out, v4 = sys.argv[1], int(sys.argv[2])
    v6 = int(sys.argv[3]) if len(sys.argv) > 3 else 0
    rng = random.Random(int(sys.argv[4]) if len(sys.argv) > 4 else 1)
    shape = sys.argv[5] if len(sys.argv) > 5 else "allocations"
    if shape not in ("allocations", "random"):
        sys.exit("V6_SHAPE is allocations or random")
    allocations = [(0x2000 << 112 | rng.getrandbits(29) << 96) for _ in range(2000)]
    seen = set()
    with open(out, "w", encoding="ascii") as f:
        f.write(f"# {v4} IPv4 and {v6} IPv6 prefixes, random (scripts/make-set-file.py)\n")
        for count, bits, pick in ((v4, 32, v4_length), (v6, 128, v6_length)):
            written = 0
            while written < count:
                length = pick(rng)
                value = rng.getrandbits(bits)
                if bits == 128 and shape == "allocations":
                    value = rng.choice(allocations) | (value & ((1 << 96) - 1))
                value = value >> (bits - length) << (bits - length)
                if (bits, value, length) in seen:
                    continue
                seen.add((bits, value, length))
                address = ipaddress.ip_address(value) if bits == 32 else ipaddress.IPv6Address(value)
                f.write(f"{address}/{length}\n")
                written += 1


if __name__ == "__main__":
    main()
