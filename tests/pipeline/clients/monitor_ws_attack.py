"""Hostile /monitor WebSocket clients (`websockets` from PyPI), bounded in count and time.

stdin: JSON {"mode", "url", "base", "token", ...}; stdout: JSON report.

* "delete": open a socket, read its session, close the session over HTTP
  (DELETE /monitor/sessions/{id}) and wait (at most `wait` s) for the server to close the
  socket. Repeated `count` times, for at most `seconds` s, keeping every socket object alive
  (the attack that exhausted file descriptors: the server must close them, not the client).
  Report: {"opened", "closed_by_server", "codes": {code: n}, "reasons": [...], "max_close_s",
  "refused": {status: n}}.
* "hold": open `count` sockets and keep them open; print the handshake outcomes
  ({"opened", "refused": {status: n}}), then keep them open until stdin closes.
* "oversize": send one text message of `bytes` bytes; report the close code and reason.
"""

import asyncio
import json
import sys
import time
import urllib.request

import websockets
from websockets.asyncio.client import connect


def headers(token):
    return {"Authorization": "Bearer " + token}


def http_delete(base, token, session):
    request = urllib.request.Request(
        f"{base}/monitor/sessions/{session}", method="DELETE", headers=headers(token)
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status


async def open_socket(spec, refused):
    try:
        ws = await connect(spec["url"], additional_headers=headers(spec["token"]), open_timeout=10)
    except websockets.InvalidStatus as e:
        status = str(e.response.status_code)
        refused[status] = refused.get(status, 0) + 1
        return None, None
    first = json.loads(await asyncio.wait_for(ws.recv(), 10))
    return ws, first["session_id"]


async def delete_mode(spec):
    out = {"opened": 0, "closed_by_server": 0, "codes": {}, "reasons": [], "max_close_s": 0.0,
           "refused": {}}
    kept = []
    deadline = time.monotonic() + spec["seconds"]
    loop = asyncio.get_running_loop()
    for _ in range(spec["count"]):
        if time.monotonic() > deadline:
            break
        ws, session = await open_socket(spec, out["refused"])
        if ws is None:
            continue
        out["opened"] += 1
        kept.append(ws)
        await loop.run_in_executor(None, http_delete, spec["base"], spec["token"], session)
        started = time.monotonic()
        try:
            await asyncio.wait_for(ws.wait_closed(), spec["wait"])
        except asyncio.TimeoutError:
            continue
        out["max_close_s"] = max(out["max_close_s"], time.monotonic() - started)
        if ws.protocol.close_rcvd is not None:
            out["closed_by_server"] += 1
            code = str(ws.protocol.close_rcvd.code)
            out["codes"][code] = out["codes"].get(code, 0) + 1
            if ws.protocol.close_rcvd.reason not in out["reasons"]:
                out["reasons"].append(ws.protocol.close_rcvd.reason)
    for ws in kept:
        await ws.close()
    return out


async def hold_mode(spec):
    out = {"opened": 0, "refused": {}}
    kept = []
    for _ in range(spec["count"]):
        ws, _session = await open_socket(spec, out["refused"])
        if ws is not None:
            out["opened"] += 1
            kept.append(ws)
    print(json.dumps(out), flush=True)
    # The caller checks the service while these are open, then closes stdin.
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    for ws in kept:
        await ws.close()
    return None


async def oversize_mode(spec):
    out = {"close_code": None, "close_reason": None}
    async with connect(spec["url"], additional_headers=headers(spec["token"]),
                       max_size=None) as ws:
        await ws.recv()
        payload = '{"type": "samples", "samples": [' + "1," * (spec["bytes"] // 2) + "1]}"
        try:
            await ws.send(payload)
            while True:
                await asyncio.wait_for(ws.recv(), 10)
        except websockets.ConnectionClosed as closed:
            if closed.rcvd:
                out["close_code"], out["close_reason"] = closed.rcvd.code, closed.rcvd.reason
    return out


async def main():
    spec = json.loads(sys.stdin.readline())
    mode = {"delete": delete_mode, "hold": hold_mode, "oversize": oversize_mode}[spec["mode"]]
    out = await mode(spec)
    if out is not None:
        print(json.dumps(out), flush=True)


asyncio.run(main())
