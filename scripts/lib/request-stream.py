#!/usr/bin/env python3
"""A steady stream of GET requests, kept up until a stop file appears (or for a number of
seconds), then a summary.

Used by scripts/compose-e2e.sh (a replica crashing behind the gateway must cost no failed
request) and scripts/bench-faults.sh (a database outage under traffic). Each worker sends one
request after another on its own connection (a new connection per request, as many clients
do); every answer's status and latency is counted.

    request-stream.py URL --header 'authorization: Bearer ...' --workers 4 \
        (--stop-file /tmp/stop | --seconds 60) --out summary.json

The summary (JSON): requests, failed (any answer but 200, or no answer), statuses, the
failures' first reasons, latency p50/p99/max in ms, requests per second, and how many 200s
each `processed_by` (the answering replica) gave.
"""

import argparse
import http.client
import json
import os
import statistics
import threading
import time
import urllib.parse


def worker(url, headers, done, results, lock):
    parsed = urllib.parse.urlsplit(url)
    path = parsed.path + (f"?{parsed.query}" if parsed.query else "")
    while not done():
        started = time.monotonic()
        try:
            connection = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=40)
            connection.request("GET", path, headers=headers)
            response = connection.getresponse()
            body = response.read()
            connection.close()
            if response.status == 200:
                try:
                    outcome = (200, json.loads(body).get("processed_by"))
                except ValueError:
                    outcome = (200, None)
            else:
                outcome = (response.status, body[:200].decode(errors="replace"))
        except Exception as error:  # no answer at all is a failure too
            outcome = (None, f"{type(error).__name__}: {error}")
        elapsed = time.monotonic() - started
        with lock:
            results.append((outcome[0], outcome[1], elapsed))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--header", action="append", default=[])
    parser.add_argument("--workers", type=int, default=4)
    until = parser.add_mutually_exclusive_group(required=True)
    until.add_argument("--stop-file")
    until.add_argument("--seconds", type=float)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    headers = dict(h.split(": ", 1) for h in args.header)

    results, lock = [], threading.Lock()
    began = time.monotonic()
    if args.stop_file:
        done = lambda: os.path.exists(args.stop_file)
    else:
        done = lambda: time.monotonic() - began >= args.seconds
    threads = [
        threading.Thread(target=worker, args=(args.url, headers, done, results, lock))
        for _ in range(args.workers)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    duration = time.monotonic() - began

    latencies = sorted(elapsed * 1000 for _, _, elapsed in results) or [0.0]
    statuses = {}
    for status, _, _ in results:
        statuses[str(status)] = statuses.get(str(status), 0) + 1
    failures = [reason for status, reason, _ in results if status != 200]
    replicas = {}
    for status, answered_by, _ in results:
        if status == 200 and answered_by:
            replicas[answered_by] = replicas.get(answered_by, 0) + 1
    summary = {
        "requests": len(results),
        "failed": len(failures),
        "statuses": statuses,
        "first_failures": failures[:5],
        "answered_by": replicas,
        "seconds": round(duration, 1),
        "requests_per_second": round(len(results) / duration, 1) if duration else 0,
        "latency_ms": {
            "p50": round(statistics.median(latencies), 1),
            "p99": round(latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))], 1),
            "max": round(latencies[-1], 1),
        },
    }
    temporary = f"{args.out}.tmp"
    with open(temporary, "w") as out:
        json.dump(summary, out)
    os.replace(temporary, args.out)


if __name__ == "__main__":
    main()
