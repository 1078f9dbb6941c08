#!/usr/bin/env python3
"""Draws the CSV of scripts/bench-matrix.sh (or bench-e2e.sh --csv): Mpps against rule count,
one line per contender, one panel per number of flows.

    scripts/plot-bench.py bench.csv docs/img/bench-rules.png [--title TEXT]

Needs matplotlib (Debian: python3-matplotlib); run it with the system python3.
"""
import argparse
import csv
import sys
from collections import defaultdict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

STYLE = {
    "udpsieved": ("tab:red", "o"),
    "l3fwd-acl": ("tab:blue", "s"),
    "testpmd-5tswap": ("tab:gray", "^"),
    "testpmd-io": ("tab:green", "v"),
}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("csv")
    parser.add_argument("png")
    parser.add_argument("--title", default="One worker, 64-byte UDP, net_pcap -> net_null")
    args = parser.parse_args()

    # (flows) -> contender -> rules -> Mpps; a repeated point keeps its last value.
    points = defaultdict(lambda: defaultdict(dict))
    with open(args.csv, newline="") as f:
        for row in csv.DictReader(f):
            points[int(row["flows"])][row["contender"]][int(row["rules"])] = float(row["mpps"])
    if not points:
        print(f"{args.csv}: no rows", file=sys.stderr)
        return 1

    flows = sorted(points)
    fig, axes = plt.subplots(1, len(flows), figsize=(6 * len(flows), 4.5), sharey=True,
                             squeeze=False)
    for ax, n in zip(axes[0], flows):
        for contender, series in sorted(points[n].items()):
            rules = sorted(series)
            # Rule count 0 on a log axis: drawn at 1 and labelled 0.
            x = [max(r, 1) for r in rules]
            color, marker = STYLE.get(contender, (None, "x"))
            ax.plot(x, [series[r] for r in rules], marker=marker, color=color, label=contender)
        ax.set_xscale("log")
        ticks = sorted({max(r, 1) for s in points[n].values() for r in s})
        ax.set_xticks(ticks)
        ax.set_xticklabels(["0" if t == 1 else f"{t:,}" for t in ticks])
        ax.set_xlabel("rules (none matching)")
        ax.set_title(f"{n:,} flows")
        ax.grid(True, which="major", alpha=0.3)
        ax.set_ylim(bottom=0)
    axes[0][0].set_ylabel("Mpps (median of rounds)")
    # One legend for every contender of every panel.
    labels = {}
    for ax in axes[0]:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            labels.setdefault(label, handle)
    fig.legend(labels.values(), labels.keys(), loc="lower center", ncol=len(labels))
    fig.suptitle(args.title)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    fig.savefig(args.png, dpi=110)
    return 0


if __name__ == "__main__":
    sys.exit(main())
