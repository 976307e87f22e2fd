"""Load generator for the bedside monitoring socket: N sessions streaming in real time.

Each session opens GET /monitor (WebSocket), then sends one hop of samples (87 = 0.5 s at
173.61 Hz) every 0.5 s of wall time, as a bedside amplifier would, for DURATION seconds; the
samples are real EEG rows of the CSV, joined. Every message must be answered with an update
before the session's next send is due, or the session is counted as falling behind.

usage: monitor-load.py URL TOKEN CSV SESSIONS DURATION
prints one JSON line: sessions, sends, updates, errors, behind, rtt_ms {p50, p99, max},
windows, client_cpu_s.
"""

import asyncio
import json
import resource
import sys
import time

from websockets.asyncio.client import connect

HOP = 87
PERIOD = HOP / 173.61


def messages(csv_path, count=200):
    """`count` pushes of HOP samples from the CSV's first rows, encoded once."""
    samples = []
    with open(csv_path) as f:
        next(f)
        for line in f:
            samples.extend(float(v) for v in line.strip().split(",")[1:179])
            if len(samples) >= count * HOP:
                break
    return [
        json.dumps({"type": "samples", "samples": samples[i * HOP : (i + 1) * HOP]})
        for i in range(count)
    ]


async def session(url, headers, pushes, duration, start_at, stats):
    async with connect(url, additional_headers=headers, max_size=2**22, compression=None) as ws:
        first = await ws.recv()
        if '"type":"session"' not in first:
            raise SystemExit(f"unexpected first message {first[:200]}")
        # Stagger the sessions over one period so sends are spread in time.
        await asyncio.sleep(max(0.0, start_at - time.monotonic()))
        due = time.monotonic()
        end = due + duration
        i = 0
        while due < end:
            sent = time.monotonic()
            await ws.send(pushes[i % len(pushes)])
            answer = await ws.recv()
            got = time.monotonic()
            stats["sends"] += 1
            stats["rtt"].append(got - sent)
            if '"type":"update"' in answer:
                stats["updates"] += 1
                stats["windows"] += answer.count('"probability"')
            else:
                stats["errors"] += 1
                stats["error_sample"] = answer[:300]
            i += 1
            due += PERIOD
            if got > due:
                stats["behind"] += 1
            await asyncio.sleep(max(0.0, due - time.monotonic()))
        await ws.send('{"type":"close"}')
        await ws.recv()


async def main():
    url, token, csv_path, sessions, duration = sys.argv[1:6]
    sessions, duration = int(sessions), float(duration)
    pushes = messages(csv_path)
    headers = {"Authorization": "Bearer " + token}
    stats = {"sends": 0, "updates": 0, "errors": 0, "behind": 0, "windows": 0, "rtt": []}
    start = time.monotonic() + 2.0 + sessions / 500
    tasks = [
        session(url, headers, pushes, duration, start + PERIOD * k / sessions, stats)
        for k in range(sessions)
    ]
    await asyncio.gather(*tasks)
    rtt = sorted(stats.pop("rtt"))
    pick = lambda q: round(1000 * rtt[min(len(rtt) - 1, int(q * len(rtt)))], 2)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(
        json.dumps(
            {
                "sessions": sessions,
                "duration_s": duration,
                **stats,
                "rtt_ms": {"p50": pick(0.5), "p99": pick(0.99), "max": pick(1.0)},
                "client_cpu_s": round(usage.ru_utime + usage.ru_stime, 1),
            }
        )
    )


asyncio.run(main())
