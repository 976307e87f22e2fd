"""Holds a /monitor WebSocket open across the service's shutdown (`websockets` from PyPI).

argv: URL TOKEN. Opens a session, pushes one second of samples, prints "ready" once the update
came, then waits for whatever the server sends until it closes the socket.
stdout, after "ready": JSON {"messages": [...], "close_code", "close_reason"}.
"""

import asyncio
import json
import sys

import websockets
from websockets.asyncio.client import connect


async def main():
    url, token = sys.argv[1:3]
    out = {"messages": [], "close_code": None, "close_reason": None}
    async with connect(url, additional_headers={"Authorization": "Bearer " + token}) as ws:
        await ws.recv()
        await ws.send(json.dumps({"type": "samples", "samples": [1.0] * 178}))
        update = json.loads(await ws.recv())
        if update["type"] != "update":
            raise SystemExit(f"expected an update, got {update}")
        print("ready", flush=True)
        try:
            while True:
                out["messages"].append(json.loads(await asyncio.wait_for(ws.recv(), 20)))
        except websockets.ConnectionClosed as closed:
            if closed.rcvd:
                out["close_code"], out["close_reason"] = closed.rcvd.code, closed.rcvd.reason
    print(json.dumps(out), flush=True)


asyncio.run(main())
