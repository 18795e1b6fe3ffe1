"""A local stand-in for Amazon IVS, its playback endpoint and its revocation API: `make dev` plays
from it, and the browser and device-limit tests check the worker against it.

Like IVS, it serves the multivariant playlist only for a `?token=` that verifies against the
imported public key (PyJWT + cryptography, never this project's code), names this channel's ARN in
`aws:channel-arn`, carries `exp` in seconds and is unexpired, allows the requesting page's origin,
has an `aws:viewer-id` of at most 40 characters, stays within 10 minutes when bound to a viewer
or single use, and, with `aws:single-use-uuid`, has not been used before. Otherwise it answers 403
with IVS's JSON error body. The stream is live-looking: a sliding media sequence over the three
2-second segments of tools/hls (a real H.264/AAC fixture made with ffmpeg), so it plays forever.

The IVS API's `POST /StartViewerSessionRevocation` and `POST /BatchStartViewerSessionRevocation`
answer as IVS does: the SigV4 signature is checked with botocore (an implementation independent of
the worker's) against the configured keys, bodies are validated as the API model says (channel ARN
pattern, viewerId 1..40, version 0..2^31-1, 1..20 items), and accepted revocations are recorded.
From then on that viewer's sessions on that channel with a version at or below the ceiling are
refused: the playlist (its token), and the rendition playlist and segments, whose URLs carry the
playback session as IVS's do. `POST /_standin/control` makes the next calls fail (`{"throttle": N}`:
429 ThrottlingException, `{"fail": N}`: 500, `{"pair_throttle": N}`: the next N pairs of batches
listed under `errors`), `GET /_standin/revocations` lists what was accepted.

The same server is the IVS Chat stand-in too (tools/ivs_chat_standin.py: `POST /CreateChatToken`,
`/DisconnectUser`, `/DeleteMessage`, the messaging WebSocket at `ws://HOST:PORT/`, and its test
hooks under `/_standin/chat/`).

    python tools/ivs_standin.py --public-key .dev/public.pem --arn ARN --port 8788
"""

from __future__ import annotations

import argparse
import json
import re
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import jwt
from aws_api import ApiError, verify_sigv4, write_answer
from ivs_chat_standin import ChatStandIn

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

# The IVS API (revocation), as the API reference describes it.
API_PATHS = {"/StartViewerSessionRevocation": "single", "/BatchStartViewerSessionRevocation": "batch"}
CHANNEL_ARN = re.compile(r"^arn:aws:ivs:[a-z0-9-]+:[0-9]+:channel/[a-zA-Z0-9-]+$")
MAX_VERSION = 2**31 - 1
MAX_BATCH = 20
# The stand-in's AWS key (AWS's documentation example, never a real one).
ACCESS_KEY_ID = "AKIAIOSFODNN7EXAMPLE"
SECRET_ACCESS_KEY = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"


def check_viewer_session(item, where: str = "") -> tuple[str, str, int]:
    """(channelArn, viewerId, version) of one viewer session, or ValidationException as IVS
    validates its model: channelArn 1..128 matching the pattern, viewerId 1..40, version an
    integer from 0 (the default) to 2^31-1."""
    if not isinstance(item, dict):
        raise ApiError(400, "ValidationException", f"{where}must be an object")
    unknown = set(item) - {"channelArn", "viewerId", "viewerSessionVersionsLessThanOrEqualTo"}
    if unknown:
        raise ApiError(400, "ValidationException", f"{where}unknown field {sorted(unknown)[0]}")
    arn, viewer, version = item.get("channelArn"), item.get("viewerId"), item.get("viewerSessionVersionsLessThanOrEqualTo", 0)
    if not isinstance(arn, str) or not 1 <= len(arn) <= 128 or not CHANNEL_ARN.match(arn):
        raise ApiError(400, "ValidationException", f"{where}channelArn must match {CHANNEL_ARN.pattern}")
    if not isinstance(viewer, str) or not 1 <= len(viewer) <= 40:
        raise ApiError(400, "ValidationException", f"{where}viewerId must be 1 to 40 characters")
    if isinstance(version, bool) or not isinstance(version, int) or not 0 <= version <= MAX_VERSION:
        raise ApiError(400, "ValidationException", f"{where}viewerSessionVersionsLessThanOrEqualTo must be an integer from 0 to {MAX_VERSION}")
    return arn, viewer, version


def playlist_path(arn: str) -> str:
    """IVS's playlist path for a channel ARN: /api/video/v1/REGION.ACCOUNT.channel.ID.m3u8."""
    _, _, _, region, account, resource = arn.split(":", 5)
    return f"/api/video/v1/{region}.{account}.channel.{resource.split('/', 1)[1]}.m3u8"


def arn_region(arn: str) -> str:
    return arn.split(":")[3]


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


def live_playlist(elapsed: float, query: str = "") -> str:
    """A live media playlist `elapsed` seconds after the stream began: the window slides one
    segment every SEGMENT_SECONDS and wraps around the fixture with a discontinuity each time.
    `query` (`?session=...`) is appended to every segment URL."""
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
        lines.append(SEGMENTS[sequence % len(SEGMENTS)] + query)
    return "\n".join(lines) + "\n"


class StandIn:
    def __init__(
        self,
        public_key_pem: str,
        channel_arn: str,
        port: int = 0,
        host: str = "127.0.0.1",
        credentials: dict[str, tuple[str, str | None]] | None = None,
        known_channels: set[str] | None = None,
        more_channels: list[str] | tuple[str, ...] = (),
        known_rooms: set[str] | None = None,
    ):
        self.public_key_pem = public_key_pem
        self.channel_arn = channel_arn
        # Playlist path -> the channel it plays: `channel_arn` at PLAYLIST_PATH, and any more
        # channels (`make dev CONFIG=...`: a team's own table) at IVS's path for their ARN.
        self.channels = {PLAYLIST_PATH: channel_arn, **{playlist_path(arn): arn for arn in more_channels}}
        self.log: list[dict] = []
        self.refuse_next = 0  # answer 403 to this many otherwise valid playlist requests
        self.used_single_use: set[str] = set()
        # The IVS API: keys it accepts (key id -> (secret, session token or None)), the channels
        # that exist (None: every well-formed ARN), what was accepted, and failures to inject.
        self.credentials = credentials if credentials is not None else {ACCESS_KEY_ID: (SECRET_ACCESS_KEY, None)}
        self.known_channels = known_channels
        self.revocations: list[dict] = []
        self.revoked: dict[tuple[str, str], int] = {}  # (channel ARN, viewer id) -> highest ceiling
        self.api_log: list[dict] = []
        self.throttle_next = 0
        self.fail_next = 0
        self.pair_throttle_next = 0
        self.clock = time.time
        # Playback sessions: the id in rendition and segment URLs -> (channel ARN, viewer id, version).
        self.sessions: dict[str, tuple[str, str | None, int]] = {}
        self.started = time.time()
        self.lock = threading.Lock()
        # IVS Chat, on the same port: its calls are signed with the same keys and checked by the
        # same code, at this stand-in's clock (which tests move).
        self.chat = ChatStandIn(self.verify_signature, clock=lambda: self.clock(), known_rooms=known_rooms)
        self.server = ThreadingHTTPServer((host, port), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    @property
    def playback_url(self) -> str:
        return self.base + PLAYLIST_PATH

    def playback_url_for(self, arn: str) -> str:
        """The playback URL of channel `arn` (the first channel's, or one of `more_channels`)."""
        return self.base + (PLAYLIST_PATH if arn == self.channel_arn else playlist_path(arn))

    def start(self) -> "StandIn":
        self.thread.start()
        return self

    @property
    def chat_url(self) -> str:
        """The messaging WebSocket URL to give the chat SDK as `regionOrUrl`."""
        return f"ws://127.0.0.1:{self.server.server_address[1]}/"

    def stop(self):
        self.chat.close_all()
        self.server.shutdown()
        self.server.server_close()

    def is_revoked(self, channel_arn: str, viewer_id: str | None, version: int) -> bool:
        with self.lock:
            return viewer_id is not None and self.revoked.get((channel_arn, viewer_id), -1) >= version

    def claims_of(self, token: str) -> dict:
        """The claims of a token `check` accepted."""
        return jwt.decode(token, self.public_key_pem, algorithms=["ES384"], options={"require": ["exp"]})

    def check(self, token: str | None, origin: str | None, consume: bool = False, channel_arn: str | None = None) -> str | None:
        """None when IVS would serve the playlist of `channel_arn` (default: the first channel), else
        IVS's error text. `consume` spends a single-use token (the request is served)."""
        channel_arn = channel_arn or self.channel_arn
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
        if claims.get("aws:channel-arn") != channel_arn:
            return "token is not valid for this channel"
        if not origin_allowed(claims.get("aws:access-control-allow-origin", "*"), origin):
            return "origin is not allowed"
        viewer_id = claims.get("aws:viewer-id")
        if viewer_id is not None and not (isinstance(viewer_id, str) and 0 < len(viewer_id) <= VIEWER_ID_MAX_LEN):
            return f"aws:viewer-id must be 1 to {VIEWER_ID_MAX_LEN} characters"
        single_use = claims.get("aws:single-use-uuid")
        if (viewer_id is not None or single_use is not None) and exp > now + BOUND_TOKEN_MAX_TTL:
            return "token expiry exceeds the 10 minute limit for viewer-bound or single-use tokens"
        if self.is_revoked(channel_arn, viewer_id, claims.get("aws:viewer-session-version", 0)):
            return "viewer session has been revoked"
        if single_use is not None:
            with self.lock:
                if single_use in self.used_single_use:
                    return "single-use token has already been used"
                if consume:
                    self.used_single_use.add(single_use)
        return None

    # The IVS API.

    def verify_signature(self, method: str, path: str, headers, body: bytes, service: str = "ivs") -> str:
        """The signing region of a request signed for `service` with one of the configured keys, or
        ApiError 403 as AWS answers (tools/aws_api.py)."""
        return verify_sigv4(self.credentials, self.clock(), service, method, path, headers, body)

    def _revoke(self, operation: str, arn: str, viewer: str, version: int, region: str) -> ApiError | None:
        """Record one accepted revocation, or the error IVS gives for that pair."""
        if arn_region(arn) != region or (self.known_channels is not None and arn not in self.known_channels):
            return ApiError(404, "ResourceNotFoundException", f"channel {arn} does not exist in {region}")
        with self.lock:
            self.revoked[(arn, viewer)] = max(self.revoked.get((arn, viewer), -1), version)
            self.revocations.append({"time": self.clock(), "operation": operation, "channelArn": arn, "viewerId": viewer, "version": version})
        return None

    def api(self, path: str, headers, body: bytes) -> tuple[int, str | None, dict]:
        """Answer one IVS API call: (status, x-amzn-ErrorType, JSON body)."""
        operation = API_PATHS[path]
        entry = {"time": self.clock(), "operation": operation}
        self.api_log.append(entry)
        try:
            region = self.verify_signature("POST", path, headers, body)
            with self.lock:
                if self.throttle_next > 0:
                    self.throttle_next -= 1
                    raise ApiError(429, "ThrottlingException", "Rate exceeded")
                if self.fail_next > 0:
                    self.fail_next -= 1
                    raise ApiError(500, "InternalServerException", "Unexpected error during processing of request.")
            try:
                request = json.loads(body)
            except ValueError:
                raise ApiError(400, "ValidationException", "the body is not valid JSON") from None
            if operation == "single":
                error = self._revoke(operation, *check_viewer_session(request), region)
                if error:
                    raise error
                answer = {}
            else:
                if not isinstance(request, dict) or set(request) != {"viewerSessions"}:
                    raise ApiError(400, "ValidationException", "the body must be {\"viewerSessions\": [...]}")
                sessions = request["viewerSessions"]
                if not isinstance(sessions, list) or not 1 <= len(sessions) <= MAX_BATCH:
                    raise ApiError(400, "ValidationException", f"viewerSessions must hold 1 to {MAX_BATCH} items")
                pairs = [check_viewer_session(item, f"viewerSessions[{i}]: ") for i, item in enumerate(sessions)]
                errors = []
                for arn, viewer, version in pairs:
                    with self.lock:
                        throttled = self.pair_throttle_next > 0
                        self.pair_throttle_next -= int(throttled)
                    error = ApiError(429, "ThrottlingException", "Rate exceeded") if throttled else self._revoke(operation, arn, viewer, version, region)
                    if error:
                        errors.append({"channelArn": arn, "viewerId": viewer, "code": error.code, "message": error.message})
                answer = {"errors": errors}
            entry["status"] = 200
            return 200, None, answer
        except ApiError as e:
            entry["status"], entry["error"] = e.status, e.code
            return e.status, e.code, {"message": e.message}

    def control(self, request: dict) -> dict:
        """The test hooks behind POST /_standin/control."""
        with self.lock:
            self.throttle_next = int(request.get("throttle", self.throttle_next))
            self.fail_next = int(request.get("fail", self.fail_next))
            self.pair_throttle_next = int(request.get("pair_throttle", self.pair_throttle_next))
            if request.get("reset"):
                self.throttle_next = self.fail_next = self.pair_throttle_next = 0
                self.revocations.clear()
                self.revoked.clear()
                self.api_log.clear()
            return {"throttle": self.throttle_next, "fail": self.fail_next, "pair_throttle": self.pair_throttle_next}

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

            def do_POST(self):
                url = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if 0 < length <= 65536 else b""
                if standin.chat.handle_post(self, url.path, body):
                    return None
                if url.path in API_PATHS:
                    return write_answer(self, *standin.api(url.path, self.headers, body), "com.amazonaws.ivs")
                if url.path == "/_standin/control":
                    try:
                        answer = standin.control(json.loads(body or b"{}"))
                    except (ValueError, TypeError, AttributeError):
                        return self._send(400, b'{"error":"control takes {throttle, fail, pair_throttle, reset}"}', "application/json")
                    return self._send(200, json.dumps(answer).encode(), "application/json")
                self._send(404, b'[{"error":"not found"}]', "application/json")

            def do_OPTIONS(self):
                self.send_response(204)
                self._cors()
                self.send_header("Access-Control-Allow-Methods", "GET, POST")
                self.end_headers()

            def do_GET(self):
                url = urlsplit(self.path)
                if standin.chat.handle_get(self, url.path):
                    return None
                token = parse_qs(url.query).get("token", [None])[0]
                origin = self.headers.get("Origin")
                entry = {"time": time.time(), "path": url.path, "token": token, "origin": origin}
                standin.log.append(entry)
                def refuse(error):
                    entry["status"], entry["error"] = 403, error
                    body = [{"error": error, "error_code": "invalid_playback_auth_token", "network_error": None}]
                    return self._send(403, json.dumps(body).encode(), "application/json")

                channel = standin.channels.get(url.path)
                if channel is not None:
                    error = standin.check(token, origin, consume=True, channel_arn=channel)
                    if error is None and standin.refuse_next > 0:
                        standin.refuse_next -= 1
                        error = "token is expired"
                    entry["status"] = 403 if error else 200
                    entry["error"] = error
                    if error:
                        return refuse(error)
                    # Like IVS, the rendition URLs carry the playback session, so a revocation
                    # stops a player that is already playing.
                    claims = standin.claims_of(token)
                    session = secrets.token_urlsafe(12)
                    with standin.lock:
                        standin.sessions[session] = (
                            channel,
                            claims.get("aws:viewer-id"),
                            claims.get("aws:viewer-session-version", 0),
                        )
                    entry["session"] = session
                    body = MULTIVARIANT.replace("live.m3u8", f"live.m3u8?session={session}")
                    return self._send(200, body.encode(), "application/vnd.apple.mpegurl")
                media = url.path[len(MEDIA_PREFIX):] if url.path.startswith(MEDIA_PREFIX) else None
                if media == "live.m3u8" or media in SEGMENTS:
                    session = parse_qs(url.query).get("session", [None])[0]
                    query = ""
                    if session is not None:
                        known = standin.sessions.get(session)
                        if known is None:
                            return refuse("unknown playback session")
                        if standin.is_revoked(*known):
                            return refuse("viewer session has been revoked")
                        query = f"?session={session}"
                    entry["status"] = 200
                    if media == "live.m3u8":
                        playlist = live_playlist(time.time() - standin.started, query)
                        return self._send(200, playlist.encode(), "application/vnd.apple.mpegurl")
                    return self._send(200, (FIXTURE / media).read_bytes(), "video/mp2t")
                if url.path == "/_standin/revocations":
                    with standin.lock:
                        return self._send(200, json.dumps(standin.revocations).encode(), "application/json")
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
