#!/usr/bin/env python3
"""Summarise `interleave` output (stdin or files): per row, the medians of
old and new, the median of the paired ratios new/old with a 95 % bootstrap
interval (10 000 resamples of the pairs), and the geometric mean of the
paired ratios with its own bootstrap interval."""
import math
import random
import statistics
import sys
from collections import defaultdict

rows = defaultdict(lambda: defaultdict(dict))
for line in (open(f) for f in sys.argv[1:]) if sys.argv[1:] else [sys.stdin]:
    for l in line:
        parts = l.split()
        if len(parts) != 4:
            continue
        row, pair, side, ns = parts
        rows[row][pair][side] = float(ns)

rng = random.Random(1)
print("| row | pairs | old median | new median | paired median new/old (95 % CI) | geo. mean of pairs (95 % CI) |")
print("| --- | --: | --: | --: | --: | --: |")
for row, pairs in rows.items():
    ok = [(p["old"], p["new"]) for p in pairs.values() if "old" in p and "new" in p]
    r = [n / o for o, n in ok]
    lr = [math.log(x) for x in r]
    med = statistics.median(r)
    gm = math.exp(statistics.fmean(lr))
    bm, bg = [], []
    for _ in range(10000):
        s = [rng.randrange(len(r)) for _ in r]
        bm.append(statistics.median(r[i] for i in s))
        bg.append(math.exp(statistics.fmean(lr[i] for i in s)))
    bm.sort()
    bg.sort()
    lo, hi = int(0.025 * len(bm)), int(0.975 * len(bm)) - 1
    om = statistics.median(o for o, _ in ok)
    nm = statistics.median(n for _, n in ok)
    print(f"| {row} | {len(r)} | {om:.2f} | {nm:.2f} | {med:.3f} ({bm[lo]:.3f}–{bm[hi]:.3f}) | {gm:.3f} ({bg[lo]:.3f}–{bg[hi]:.3f}) |")
