"""Keeps a /monitor WebSocket open past its access token's expiry (`websockets` from PyPI).

argv: URL TOKEN WAIT_SECONDS. Opens a session, pushes one second of samples (answered), waits,
then pushes again: the server must close the socket, saying why, and append nothing more.
stdout: JSON {"first": update, "after": [messages], "close_code", "close_reason"}.
"""

import asyncio
import json
import sys

import websockets
from websockets.asyncio.client import connect


async def main():
    url, token, wait = sys.argv[1], sys.argv[2], float(sys.argv[3])
    out = {"first": None, "after": [], "close_code": None, "close_reason": None}
    async with connect(url, additional_headers={"Authorization": "Bearer " + token}) as ws:
        await ws.recv()
        await ws.send(json.dumps({"type": "samples", "samples": [1.0] * 178}))
        out["first"] = json.loads(await ws.recv())
        await asyncio.sleep(wait)
        try:
            await ws.send(json.dumps({"type": "samples", "samples": [1.0] * 178}))
            while True:
                out["after"].append(json.loads(await asyncio.wait_for(ws.recv(), 20)))
        except websockets.ConnectionClosed as closed:
            if closed.rcvd:
                out["close_code"], out["close_reason"] = closed.rcvd.code, closed.rcvd.reason
    print(json.dumps(out), flush=True)


asyncio.run(main())
