"""A local stand-in for what the IVS Web Broadcast SDK contacts when it joins a stage: the events
endpoint (a WebSocket whose subprotocol carries the participant token) and the WHIP endpoint.
A real stage cannot be reached from the tests, so this one records every connection attempt (path,
token, time) and refuses it with 403, as IVS does for a token it does not accept here; the page
must then explain the SDK's error in words."""

from __future__ import annotations

import socketserver
import threading
import time


class _Handler(socketserver.StreamRequestHandler):
    def handle(self):
        lines = []
        while True:
            line = self.rfile.readline(65536)
            if not line or line in (b"\r\n", b"\n"):
                break
            lines.append(line.decode("latin-1").rstrip("\r\n"))
        if not lines:
            return
        method, _, rest = lines[0].partition(" ")
        path = rest.rsplit(" ", 1)[0]
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        self.server.log.append({
            "at": time.time(),
            "method": method,
            "path": path,
            "websocket": headers.get("upgrade", "").lower() == "websocket",
            "token": headers.get("sec-websocket-protocol"),
            "origin": headers.get("origin"),
        })
        body = b'{"message":"stand-in: this is not a real IVS stage"}'
        self.wfile.write(
            b"HTTP/1.1 403 Forbidden\r\nContent-Type: application/json\r\nAccess-Control-Allow-Origin: *\r\n"
            + b"Content-Length: " + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body
        )


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


class StageStandIn:
    def __init__(self):
        self.server = _Server(("127.0.0.1", 0), _Handler)
        self.server.log = []
        self.port = self.server.server_address[1]

    @property
    def log(self):
        return self.server.log

    @property
    def events_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    @property
    def whip_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/whip"

    def start(self) -> "StageStandIn":
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
