#!/usr/bin/env python3
"""Medians of repeated wrk runs and the ratio of each server to ours.

    wrk-summary.py RESULTS   lines: SERVER CONCURRENCY REQUESTS_PER_S P50_MS P99_MS
"""

import statistics
import sys
from collections import defaultdict


def main():
    runs = defaultdict(list)
    with open(sys.argv[1]) as f:
        for line in f:
            server, conc, rps, p50, p99 = line.split()
            runs[(server, int(conc))].append((float(rps), float(p50), float(p99)))
    print(f"{'server':<24} {'conc':>4} {'runs':>4} {'req/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'ours / it':>10}")
    medians = {
        key: tuple(statistics.median(r[i] for r in values) for i in range(3))
        for key, values in runs.items()
    }
    for (server, conc), (rps, p50, p99) in sorted(medians.items(), key=lambda kv: (kv[0][1], kv[0][0] != "seizure-ops", kv[0][0])):
        ours = medians.get(("seizure-ops", conc))
        ratio = f"{ours[0] / rps:.1f}x" if ours and server != "seizure-ops" else ""
        print(f"{server:<24} {conc:>4} {len(runs[(server, conc)]):>4} {rps:>10.1f} {p50:>8.2f} {p99:>8.2f} {ratio:>10}")


if __name__ == "__main__":
    main()
