"""Streams a signal through the inference service's /monitor WebSocket with the `websockets`
package (PyPI), as a bedside device would.

stdin: JSON {"url", "token", "samples": [...], "chunks": [sizes...], "hostile": [raw messages]}
(the hostile messages are sent after the third chunk, each expecting an error message).
stdout: JSON {"session", "windows", "events", "errors", "closed", "close_reason"}.
"""

import asyncio
import json
import sys

import websockets
from websockets.asyncio.client import connect


async def main():
    spec = json.load(sys.stdin)
    headers = {"Authorization": "Bearer " + spec["token"]}
    out = {"windows": [], "events": [], "errors": [], "close_reason": None}
    async with connect(spec["url"], additional_headers=headers, max_size=2**24) as ws:
        out["session"] = json.loads(await ws.recv())
        samples, chunks = spec["samples"], spec["chunks"]
        at, sent = 0, 0
        while at < len(samples):
            part = samples[at : at + chunks[sent % len(chunks)]]
            at += len(part)
            sent += 1
            await ws.send(json.dumps({"type": "samples", "samples": part}))
            message = json.loads(await ws.recv())
            if message["type"] != "update":
                raise SystemExit(f"expected an update, got {message}")
            out["windows"] += message["windows"]
            out["events"] += message["events"]
            if sent == 3:
                for bad in spec["hostile"]:
                    await ws.send(bad)
                    out["errors"].append(json.loads(await ws.recv()))
        await ws.send(json.dumps({"type": "close"}))
        out["closed"] = json.loads(await ws.recv())
        try:
            await ws.recv()
        except websockets.ConnectionClosed as closed:
            out["close_reason"] = closed.rcvd.reason if closed.rcvd else None
    json.dump(out, sys.stdout)


asyncio.run(main())
