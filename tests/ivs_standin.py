"""A local stand-in for the IVS playback endpoint, for the browser test.

Like IVS, it serves the multivariant playlist only for a `?token=` that verifies against the
imported public key (PyJWT + cryptography), names this channel's ARN, is unexpired, and allows the
requesting page's origin; otherwise it answers 403 with IVS's JSON error body. Renditions and
segments come from a small real HLS fixture (tests/fixtures/hls, made with ffmpeg)."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import jwt

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "hls"
PLAYLIST_PATH = "/api/video/v1/us-west-2.123456789012.channel.demo.m3u8"
MEDIA_PREFIX = "/api/video/v1/rendition/"
MULTIVARIANT = (
    "#EXTM3U\n"
    '#EXT-X-STREAM-INF:BANDWIDTH=150000,RESOLUTION=320x180,CODECS="avc1.42c01e,mp4a.40.2"\n'
    "rendition/media.m3u8\n"
)


def origin_allowed(allowed: str, origin: str | None) -> bool:
    if origin is None:
        return True  # origin restrictions apply to browsers only
    for pattern in (p.strip() for p in allowed.split(",")):
        if pattern == "*" or pattern == origin:
            return True
        scheme, _, host = pattern.partition("://")
        if host.startswith("*.") and origin.startswith(scheme + "://") and origin.endswith(host[1:]):
            return True
    return False


class StandIn:
    def __init__(self, public_key_pem: str, channel_arn: str):
        self.public_key_pem = public_key_pem
        self.channel_arn = channel_arn
        self.log: list[dict] = []
        self.refuse_next = 0  # answer 403 to this many otherwise valid playlist requests
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    @property
    def playback_url(self) -> str:
        return self.base + PLAYLIST_PATH

    def start(self) -> "StandIn":
        self.thread.start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def check(self, token: str | None, origin: str | None) -> str | None:
        """None when IVS would serve the playlist, else IVS's error text."""
        if not token:
            return "missing playback authorization token"
        if token.count(".") != 2:
            return "token contains an invalid number of segments"
        try:
            claims = jwt.decode(token, self.public_key_pem, algorithms=["ES384"], options={"require": ["exp"]})
        except jwt.ExpiredSignatureError:
            return "token is expired"
        except jwt.InvalidTokenError as e:
            return f"invalid token: {e}"
        if claims.get("aws:channel-arn") != self.channel_arn:
            return "token is not valid for this channel"
        if not origin_allowed(claims.get("aws:access-control-allow-origin", "*"), origin):
            return "origin is not allowed"
        return None

    def _handler(self):
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _cors(self):
                self.send_header("Access-Control-Allow-Origin", self.headers.get("Origin") or "*")
                self.send_header("Access-Control-Allow-Headers", "*")

            def _send(self, status: int, body: bytes, content_type: str):
                self.send_response(status)
                self._cors()
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)

            def do_OPTIONS(self):
                self.send_response(204)
                self._cors()
                self.send_header("Access-Control-Allow-Methods", "GET")
                self.end_headers()

            def do_GET(self):
                url = urlsplit(self.path)
                token = parse_qs(url.query).get("token", [None])[0]
                origin = self.headers.get("Origin")
                entry = {"time": time.time(), "path": url.path, "token": token, "origin": origin}
                standin.log.append(entry)
                if url.path == PLAYLIST_PATH:
                    error = standin.check(token, origin)
                    if error is None and standin.refuse_next > 0:
                        standin.refuse_next -= 1
                        error = "token is expired"
                    entry["status"] = 403 if error else 200
                    if error:
                        body = [{"error": error, "error_code": "invalid_playback_auth_token", "network_error": None}]
                        return self._send(403, json.dumps(body).encode(), "application/json")
                    return self._send(200, MULTIVARIANT.encode(), "application/vnd.apple.mpegurl")
                if url.path.startswith(MEDIA_PREFIX):
                    name = url.path[len(MEDIA_PREFIX):]
                    file = FIXTURE / name
                    if "/" not in name and file.is_file():
                        entry["status"] = 200
                        kind = "application/vnd.apple.mpegurl" if name.endswith(".m3u8") else "video/mp2t"
                        return self._send(200, file.read_bytes(), kind)
                entry["status"] = 404
                self._send(404, b'[{"error":"not found"}]', "application/json")

        return Handler

    def playlist_requests(self) -> list[dict]:
        return [e for e in self.log if e["path"] == PLAYLIST_PATH]
