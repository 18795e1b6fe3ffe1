"""A local stand-in for the Amazon IVS playback endpoint: `make dev` plays from it, and the browser
tests check the watch page against it.

Like IVS, it serves the multivariant playlist only for a `?token=` that verifies against the
imported public key (PyJWT + cryptography, never this project's code), names this channel's ARN in
`aws:channel-arn`, carries `exp` in seconds and is unexpired, allows the requesting page's origin,
has an `aws:viewer-id` of at most 40 characters, stays within 10 minutes when bound to a viewer
or single use, and, with `aws:single-use-uuid`, has not been used before. Otherwise it answers 403
with IVS's JSON error body. The stream is live-looking: a sliding media sequence over the three
2-second segments of tools/hls (a real H.264/AAC fixture made with ffmpeg), so it plays forever.

    python tools/ivs_standin.py --public-key .dev/public.pem --arn ARN --port 8788
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import jwt

FIXTURE = Path(__file__).resolve().parent / "hls"
PLAYLIST_PATH = "/api/video/v1/us-west-2.123456789012.channel.demo.m3u8"
MEDIA_PREFIX = "/api/video/v1/rendition/"
SEGMENTS = ["seg0.ts", "seg1.ts", "seg2.ts"]
SEGMENT_SECONDS = 2
WINDOW = 3  # segments in each live playlist
VIEWER_ID_MAX_LEN = 40
BOUND_TOKEN_MAX_TTL = 600  # IVS: at most 10 minutes with aws:viewer-id or aws:single-use-uuid
SECONDS_LIMIT = 10**11  # an exp beyond this is milliseconds, which IVS refuses
MULTIVARIANT = (
    "#EXTM3U\n"
    '#EXT-X-STREAM-INF:BANDWIDTH=150000,RESOLUTION=320x180,CODECS="avc1.42c01e,mp4a.40.2"\n'
    "rendition/live.m3u8\n"
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


def live_playlist(elapsed: float) -> str:
    """A live media playlist `elapsed` seconds after the stream began: the window slides one
    segment every SEGMENT_SECONDS and wraps around the fixture with a discontinuity each time."""
    first = int(elapsed // SEGMENT_SECONDS)
    lines = [
        "#EXTM3U",
        "#EXT-X-VERSION:3",
        f"#EXT-X-TARGETDURATION:{SEGMENT_SECONDS}",
        f"#EXT-X-MEDIA-SEQUENCE:{first}",
        # Each wrap (a sequence number divisible by the fixture length) starts a discontinuity.
        f"#EXT-X-DISCONTINUITY-SEQUENCE:{first // len(SEGMENTS)}",
    ]
    for sequence in range(first, first + WINDOW):
        if sequence != first and sequence % len(SEGMENTS) == 0:
            lines.append("#EXT-X-DISCONTINUITY")
        lines.append(f"#EXTINF:{SEGMENT_SECONDS:.3f},")
        lines.append(SEGMENTS[sequence % len(SEGMENTS)])
    return "\n".join(lines) + "\n"


class StandIn:
    def __init__(self, public_key_pem: str, channel_arn: str, port: int = 0, host: str = "127.0.0.1"):
        self.public_key_pem = public_key_pem
        self.channel_arn = channel_arn
        self.log: list[dict] = []
        self.refuse_next = 0  # answer 403 to this many otherwise valid playlist requests
        self.used_single_use: set[str] = set()
        self.started = time.time()
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer((host, port), self._handler())
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

    def check(self, token: str | None, origin: str | None, consume: bool = False) -> str | None:
        """None when IVS would serve the playlist, else IVS's error text. `consume` spends a
        single-use token (the request is served)."""
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
        now = time.time()
        exp = claims["exp"]
        if not isinstance(exp, int) or exp > SECONDS_LIMIT:
            return "exp must be a NumericDate in seconds"
        if claims.get("aws:channel-arn") != self.channel_arn:
            return "token is not valid for this channel"
        if not origin_allowed(claims.get("aws:access-control-allow-origin", "*"), origin):
            return "origin is not allowed"
        viewer_id = claims.get("aws:viewer-id")
        if viewer_id is not None and not (isinstance(viewer_id, str) and 0 < len(viewer_id) <= VIEWER_ID_MAX_LEN):
            return f"aws:viewer-id must be 1 to {VIEWER_ID_MAX_LEN} characters"
        single_use = claims.get("aws:single-use-uuid")
        if (viewer_id is not None or single_use is not None) and exp > now + BOUND_TOKEN_MAX_TTL:
            return "token expiry exceeds the 10 minute limit for viewer-bound or single-use tokens"
        if single_use is not None:
            with self.lock:
                if single_use in self.used_single_use:
                    return "single-use token has already been used"
                if consume:
                    self.used_single_use.add(single_use)
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
                    error = standin.check(token, origin, consume=True)
                    if error is None and standin.refuse_next > 0:
                        standin.refuse_next -= 1
                        error = "token is expired"
                    entry["status"] = 403 if error else 200
                    entry["error"] = error
                    if error:
                        body = [{"error": error, "error_code": "invalid_playback_auth_token", "network_error": None}]
                        return self._send(403, json.dumps(body).encode(), "application/json")
                    return self._send(200, MULTIVARIANT.encode(), "application/vnd.apple.mpegurl")
                if url.path == MEDIA_PREFIX + "live.m3u8":
                    entry["status"] = 200
                    playlist = live_playlist(time.time() - standin.started)
                    return self._send(200, playlist.encode(), "application/vnd.apple.mpegurl")
                if url.path.startswith(MEDIA_PREFIX) and url.path[len(MEDIA_PREFIX):] in SEGMENTS:
                    entry["status"] = 200
                    return self._send(200, (FIXTURE / url.path[len(MEDIA_PREFIX):]).read_bytes(), "video/mp2t")
                entry["status"] = 404
                self._send(404, b'[{"error":"not found"}]', "application/json")

        return Handler

    def playlist_requests(self) -> list[dict]:
        return [e for e in self.log if e["path"] == PLAYLIST_PATH]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--public-key", required=True, help="PEM file of the public key tokens are checked with")
    parser.add_argument("--arn", required=True, help="the channel ARN tokens must name")
    parser.add_argument("--port", type=int, default=8788)
    args = parser.parse_args()
    standin = StandIn(Path(args.public_key).read_text(), args.arn, args.port)
    print(f"IVS stand-in: {standin.playback_url}", flush=True)
    try:
        standin.server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
