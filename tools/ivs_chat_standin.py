"""A local stand-in for Amazon IVS Chat: its API (`CreateChatToken`, `DisconnectUser`,
`DeleteMessage`) and its messaging WebSocket, close enough that the real client SDK
(`amazon-ivs-chat-messaging` 1.1.1) connects, sends, receives, deletes and is disconnected. It is
served by tools/ivs_standin.py's HTTP server (the same port: `IVS_CHAT_API_ENDPOINT` is the
stand-in's base URL, and the SDK's `regionOrUrl` its `ws://` URL, path `/`).

The API answers as IVS Chat does: SigV4 checked with botocore (signing name `ivschat`, keys and
clock of the IVS stand-in); the room must be in the signing region and, when `known_rooms` is set,
one of them (otherwise any well-formed room ARN exists, as channels do): else 404
ResourceNotFoundException. Bodies are validated as the API model says, else 400 ValidationException.
CreateChatToken's `attributes` are at most 1 KB counted as the sum of the UTF-8 bytes of every key
and value (AWS does not say how it counts; this is the strictest reading short of counting JSON).

Messaging: the chat token is the WebSocket subprotocol; a token opens one connection (single use)
and only before its tokenExpirationTime (`token_ttl`, 60 s by default: "about a minute"); the session
lasts sessionDurationInMinutes from the connection (`minute` seconds each, 60 unless a test shortens
it), then the connection gets ERROR 401 (the SDK reconnects with a fresh token) and is closed.
Frames, as the SDK parses and builds them (dist/esm/utils/deserialize.js, serialize.js):

  client: {"Action": "SEND_MESSAGE", "RequestId", "Content", "Attributes"?}
          {"Action": "DELETE_MESSAGE", "RequestId", "Id", "Reason"?}
          {"Action": "DISCONNECT_USER", "RequestId", "UserId", "Reason"?}
  server: {"Type": "MESSAGE", "Id", "RequestId"?, "Content", "Attributes"?, "Sender": {"UserId", "Attributes"}, "SendTime"}
          {"Type": "EVENT", "Id", "RequestId"?, "EventName": "aws:DELETE_MESSAGE", "Attributes": {"MessageId", "MessageID", "Reason"?}, "SendTime"}
          {"Type": "EVENT", "Id", "RequestId"?, "EventName": "aws:DISCONNECT_USER", "Attributes": {"UserId", "Reason"?}, "SendTime"}
          {"Type": "ERROR", "Id", "RequestId"?, "ErrorCode": 400|401|403, "ErrorMessage"}

Each action needs its capability (else ERROR 403, as the SDK's request classes say); every frame
goes to every connection of the room, the sender's too (its RequestId resolves the SDK's promise).
A disconnected user's connections get the aws:DISCONNECT_USER event, then a close with code 1000
and the reason: the SDK takes only a clean close as the server's `serverDisconnect` and does not
reconnect; an unclean one it reconnects from. A refused handshake (no, unknown, spent or expired
token, or a path other than /) is an HTTP 401/403/404 with no upgrade.

Not emulated: message and connection rate limits, the room's maximumMessageLength (500 code points
here, the default), the message review handler (406), logging configuration, SendEvent and custom
events, ListRooms / room management (rooms are ARNs, not created), the 50,000-connection quota,
attribute size limits on messages, and the real service's token format (tokens here are opaque
random strings looked up in memory).

Test hooks (JSON over HTTP, unsigned): `POST /_standin/chat/control` with `{"throttle":
{"CreateChatToken": N, "DisconnectUser": N, "DeleteMessage": N}}` (the next N calls answer 429
ThrottlingException), `{"fail": {...}}` (500 InternalServerException), `{"token_ttl": seconds}`,
`{"minute": seconds}`, `{"reset": true}`; `GET /_standin/chat/calls` lists every API call (operation,
status, error, what was asked), `GET /_standin/chat/connections` every connection and refused
handshake, `GET /_standin/chat/frames` every MESSAGE and EVENT the rooms carried.
"""

from __future__ import annotations

import json
import re
import secrets
import string
import threading
import time
from dataclasses import dataclass, field

from aws_api import ApiError, write_answer
from websocket_conn import WebSocket

API_PATHS = {"/CreateChatToken": "CreateChatToken", "/DisconnectUser": "DisconnectUser", "/DeleteMessage": "DeleteMessage"}
ROOM_ARN = re.compile(r"^arn:aws:ivschat:[a-z0-9-]+:[0-9]+:room/[a-zA-Z0-9-]+$")
CAPABILITIES = ("SEND_MESSAGE", "DISCONNECT_USER", "DELETE_MESSAGE")
ATTRIBUTES_MAX_BYTES = 1024
MESSAGE_MAX_CODE_POINTS = 500  # a room's maximumMessageLength, default and maximum
REASON_MAX = 256
ID_PATTERN = re.compile(r"^[a-zA-Z0-9]{1,12}$")
ID_ALPHABET = string.ascii_letters + string.digits
CONTROL_COUNTERS = ("throttle", "fail")


def new_id() -> str:
    """An identifier like IVS Chat's: 12 letters and digits."""
    return "".join(secrets.choice(ID_ALPHABET) for _ in range(12))


def iso(t: float) -> str:
    """ISO 8601 UTC with milliseconds, as AWS writes timestamps."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t * 1000) % 1000:03d}Z"


def invalid(message: str) -> ApiError:
    return ApiError(400, "ValidationException", message)


def check_fields(body, required: set[str], optional: set[str]) -> dict:
    if not isinstance(body, dict):
        raise invalid("the body must be a JSON object")
    unknown = set(body) - required - optional
    if unknown:
        raise invalid(f"unknown field {sorted(unknown)[0]}")
    missing = required - set(body)
    if missing:
        raise invalid(f"{sorted(missing)[0]} is required")
    return body


def check_room(value) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= 128 or not ROOM_ARN.match(value):
        raise invalid(f"roomIdentifier must be at most 128 characters and match {ROOM_ARN.pattern}")
    return value


def check_text(name: str, value, low: int, high: int) -> str:
    if not isinstance(value, str) or not low <= len(value) <= high:
        raise invalid(f"{name} must be a string of {low} to {high} characters")
    return value


def check_attributes(value) -> dict[str, str]:
    """A string-to-string map of at most 1 KB: the UTF-8 bytes of all keys and values, summed."""
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise invalid("attributes must be a map of strings to strings")
    size = sum(len(k.encode()) + len(v.encode()) for k, v in value.items())
    if size > ATTRIBUTES_MAX_BYTES:
        raise invalid(f"attributes must be at most {ATTRIBUTES_MAX_BYTES} bytes in all (keys and values, UTF-8), not {size}")
    return value


@dataclass
class Grant:
    """What a chat token allows, as CreateChatToken was asked."""

    room: str
    user_id: str
    capabilities: frozenset
    attributes: dict
    session_minutes: int
    expires: float
    used: bool = False


@dataclass
class Connection:
    id: str
    room: str
    user_id: str
    capabilities: frozenset
    attributes: dict
    opened: float
    session_end: float
    ws: WebSocket = field(repr=False)
    closed: float | None = None

    def record(self) -> dict:
        return {"id": self.id, "roomIdentifier": self.room, "userId": self.user_id, "capabilities": sorted(self.capabilities),
                "attributes": self.attributes, "opened": self.opened, "sessionEnd": self.session_end, "closed": self.closed,
                "closeCode": self.ws.close_code, "closeReason": self.ws.close_reason}


class ChatStandIn:
    def __init__(self, verify, clock=time.time, known_rooms: set[str] | None = None):
        self.verify = verify  # (method, path, headers, body, service) -> signing region, or ApiError
        self.clock = clock
        self.known_rooms = known_rooms  # None: every well-formed room ARN exists
        self.token_ttl = 60.0
        self.minute = 60.0
        self.lock = threading.RLock()
        self.tokens: dict[str, Grant] = {}
        self.connections: list[Connection] = []
        self.refused: list[dict] = []
        self.calls: list[dict] = []
        self.frames: list[dict] = []
        self.inject = {kind: {op: 0 for op in API_PATHS.values()} for kind in CONTROL_COUNTERS}

    # The API.

    def api(self, path: str, headers, body: bytes) -> tuple[int, str | None, dict]:
        """Answer one IVS Chat API call: (status, x-amzn-ErrorType, JSON body); every call is recorded."""
        operation = API_PATHS[path]
        entry = {"time": self.clock(), "operation": operation}
        with self.lock:
            self.calls.append(entry)
        try:
            region = self.verify("POST", path, headers, body, "ivschat")
            with self.lock:
                for kind, error in (("throttle", (429, "ThrottlingException", "Rate exceeded")),
                                    ("fail", (500, "InternalServerException", "Unexpected error during processing of request."))):
                    if self.inject[kind][operation] > 0:
                        self.inject[kind][operation] -= 1
                        raise ApiError(*error)
            try:
                request = json.loads(body)
            except ValueError:
                raise invalid("the body is not valid JSON") from None
            entry["request"] = request
            answer = getattr(self, "_" + operation)(request, region, entry)
            entry["status"] = 200
            return 200, None, answer
        except ApiError as e:
            entry["status"], entry["error"] = e.status, e.code
            return e.status, e.code, {"message": e.message}

    def _room(self, request: dict, region: str) -> str:
        room = check_room(request["roomIdentifier"])
        if room.split(":")[3] != region or (self.known_rooms is not None and room not in self.known_rooms):
            raise ApiError(404, "ResourceNotFoundException", f"room {room} does not exist in {region}")
        return room

    def _CreateChatToken(self, request, region: str, entry: dict) -> dict:
        check_fields(request, {"roomIdentifier", "userId"}, {"capabilities", "sessionDurationInMinutes", "attributes"})
        user = check_text("userId", request["userId"], 1, 128)
        capabilities = request.get("capabilities", [])
        if not isinstance(capabilities, list) or not all(c in CAPABILITIES for c in capabilities):
            raise invalid(f"capabilities must be a list of {', '.join(CAPABILITIES)}")
        minutes = request.get("sessionDurationInMinutes", 60)
        if isinstance(minutes, bool) or not isinstance(minutes, int) or not 1 <= minutes <= 180:
            raise invalid("sessionDurationInMinutes must be an integer from 1 to 180")
        attributes = check_attributes(request.get("attributes", {}))
        room = self._room(request, region)
        now = self.clock()
        token = secrets.token_urlsafe(48)  # an HTTP token: it travels as a WebSocket subprotocol
        with self.lock:
            self.tokens[token] = Grant(room, user, frozenset(capabilities), dict(attributes), minutes, now + self.token_ttl)
        entry.update(roomIdentifier=room, userId=user, capabilities=list(capabilities), attributes=attributes,
                     sessionDurationInMinutes=minutes, token=token)
        return {"token": token, "tokenExpirationTime": iso(now + self.token_ttl),
                "sessionExpirationTime": iso(now + minutes * self.minute)}

    def _DisconnectUser(self, request, region: str, entry: dict) -> dict:
        check_fields(request, {"roomIdentifier", "userId"}, {"reason"})
        user = check_text("userId", request["userId"], 1, 128)
        reason = check_text("reason", request["reason"], 1, REASON_MAX) if "reason" in request else None
        room = self._room(request, region)
        entry.update(roomIdentifier=room, userId=user, reason=reason)
        entry["disconnected"] = self.disconnect_user(room, user, reason, None)
        return {}

    def _DeleteMessage(self, request, region: str, entry: dict) -> dict:
        check_fields(request, {"roomIdentifier", "id"}, {"reason"})
        if not isinstance(request["id"], str) or not ID_PATTERN.match(request["id"]):
            raise invalid("id must be 1 to 12 letters and digits")
        reason = check_text("reason", request["reason"], 1, REASON_MAX) if "reason" in request else None
        room = self._room(request, region)
        entry.update(roomIdentifier=room, id=request["id"], reason=reason)
        return {"id": self.delete_message(room, request["id"], reason, None)}

    # What happens in a room.

    def broadcast(self, room: str, frame: dict) -> None:
        with self.lock:
            self.frames.append({"roomIdentifier": room, **frame})
            targets = [c for c in self.connections if c.room == room and c.closed is None]
        text = json.dumps(frame)
        for c in targets:
            c.ws.send_text(text)

    def delete_message(self, room: str, message_id: str, reason: str | None, request_id: str | None) -> str:
        """aws:DELETE_MESSAGE to the room; the event's id. MessageId is the documented name, MessageID
        the deprecated one that SDK 1.1.1 still reads: both are sent, as IVS Chat does."""
        attributes = {"MessageId": message_id, "MessageID": message_id, **({"Reason": reason} if reason else {})}
        return self._event(room, "aws:DELETE_MESSAGE", attributes, request_id)

    def disconnect_user(self, room: str, user: str, reason: str | None, request_id: str | None) -> int:
        """aws:DISCONNECT_USER to the room, then every connection of `user` there closed cleanly
        (1000: the SDK then reports serverDisconnect and does not reconnect). How many were closed."""
        self._event(room, "aws:DISCONNECT_USER", {"UserId": user, **({"Reason": reason} if reason else {})}, request_id)
        with self.lock:
            targets = [c for c in self.connections if c.room == room and c.user_id == user and c.closed is None]
        for c in targets:
            c.ws.close(1000, reason or "Disconnected by a moderator")
        return len(targets)

    def _event(self, room: str, name: str, attributes: dict, request_id: str | None) -> str:
        event_id = new_id()
        frame = {"Type": "EVENT", "Id": event_id, "EventName": name, "Attributes": attributes, "SendTime": iso(self.clock())}
        if request_id is not None:
            frame["RequestId"] = request_id
        self.broadcast(room, frame)
        return event_id

    # The messaging WebSocket.

    def serve_websocket(self, handler) -> None:
        """Take over an upgrade request of the stand-in's HTTP server: check the token (the
        subprotocol), upgrade, then read actions until the connection closes."""
        offered = [p.strip() for p in (handler.headers.get("Sec-WebSocket-Protocol") or "").split(",") if p.strip()]
        token = offered[0] if offered else None
        now = self.clock()
        with self.lock:
            grant = self.tokens.get(token) if token else None
            error = ((401, "missing chat token (the WebSocket subprotocol)") if token is None
                     else (403, "invalid chat token") if grant is None
                     else (403, "chat token has already been used") if grant.used
                     else (403, "chat token is expired") if now >= grant.expires else None)
            if handler.path.split("?")[0] != "/":
                error = (404, "the messaging endpoint is /")
            if error is None:
                grant.used = True  # single use: spent by this connection even if the handshake fails
        if error:
            with self.lock:
                self.refused.append({"time": now, "status": error[0], "error": error[1], "userId": grant.user_id if grant else None})
            WebSocket.refuse(handler, *error)
            return
        ws = WebSocket.upgrade(handler, token)
        if ws is None:
            return
        conn = Connection(new_id(), grant.room, grant.user_id, grant.capabilities, grant.attributes, now,
                          now + grant.session_minutes * self.minute, ws)
        with self.lock:
            self.connections.append(conn)
        try:
            ws.flush()  # the 101: from now on the client may send, and hears the room
            self._read(conn)
        finally:
            with self.lock:
                conn.closed = self.clock()
            ws.drop()

    def _read(self, conn: Connection) -> None:
        closing_since = None
        while True:
            if conn.ws.open and self.clock() >= conn.session_end:
                self._error(conn, 401, "Session expired: the connection's sessionDurationInMinutes has passed", None)
                conn.ws.close(1000, "Session expired")
            if not conn.ws.open:
                closing_since = closing_since or time.monotonic()
                if time.monotonic() - closing_since > 5:
                    return  # the client never answered the close frame
            texts = conn.ws.receive(0.2)
            if texts is None:
                return
            for text in texts:
                self._action(conn, text)

    def _error(self, conn: Connection, code: int, message: str, request_id: str | None) -> None:
        frame = {"Type": "ERROR", "Id": new_id(), "ErrorCode": code, "ErrorMessage": message}
        if request_id is not None:
            frame["RequestId"] = request_id
        conn.ws.send_text(json.dumps(frame))

    def _action(self, conn: Connection, text: str) -> None:
        """One client action, as the SDK serializes it (keys capitalised: Action, RequestId, ...)."""
        try:
            request = json.loads(text)
        except ValueError:
            request = None
        if not isinstance(request, dict):
            return self._error(conn, 400, "the request must be a JSON object", None)
        request_id = request.get("RequestId") if isinstance(request.get("RequestId"), str) else None
        action = request.get("Action")
        if action not in CAPABILITIES:
            return self._error(conn, 400, f"Action must be one of {', '.join(CAPABILITIES)}", request_id)
        if action not in conn.capabilities:
            return self._error(conn, 403, f"the connection's capabilities do not permit {action}", request_id)
        reason = request.get("Reason")
        if reason is not None and (not isinstance(reason, str) or len(reason) > REASON_MAX):
            return self._error(conn, 400, f"Reason must be a string of at most {REASON_MAX} characters", request_id)
        if action == "SEND_MESSAGE":
            content, attributes = request.get("Content"), request.get("Attributes")
            if not isinstance(content, str) or not 1 <= len(content) <= MESSAGE_MAX_CODE_POINTS:
                return self._error(conn, 400, f"Content must be 1 to {MESSAGE_MAX_CODE_POINTS} characters", request_id)
            if attributes is not None and not (isinstance(attributes, dict) and all(isinstance(v, str) for v in attributes.values())):
                return self._error(conn, 400, "Attributes must be a map of strings to strings", request_id)
            frame = {"Type": "MESSAGE", "Id": new_id(), "Content": content,
                     "Sender": {"UserId": conn.user_id, "Attributes": conn.attributes}, "SendTime": iso(self.clock())}
            if attributes is not None:
                frame["Attributes"] = attributes
            if request_id is not None:
                frame["RequestId"] = request_id
            return self.broadcast(conn.room, frame)
        if action == "DELETE_MESSAGE":
            if not isinstance(request.get("Id"), str) or not request["Id"]:
                return self._error(conn, 400, "Id is required", request_id)
            self.delete_message(conn.room, request["Id"], reason, request_id)
            return None
        if not isinstance(request.get("UserId"), str) or not 1 <= len(request["UserId"]) <= 128:
            return self._error(conn, 400, "UserId must be 1 to 128 characters", request_id)
        self.disconnect_user(conn.room, request["UserId"], reason, request_id)
        return None

    def close_all(self) -> None:
        """Close every open connection (the stand-in stops): 1001, going away."""
        with self.lock:
            targets = [c for c in self.connections if c.closed is None]
        for c in targets:
            c.ws.close(1001, "stand-in stopping")

    # Test hooks.

    def control(self, request: dict) -> dict:
        with self.lock:
            for kind in CONTROL_COUNTERS:
                for operation, count in (request.get(kind) or {}).items():
                    if operation not in self.inject[kind]:
                        raise ValueError(f"unknown operation {operation}")
                    self.inject[kind][operation] = int(count)
            self.token_ttl = float(request.get("token_ttl", self.token_ttl))
            self.minute = float(request.get("minute", self.minute))
            if request.get("reset"):
                self.inject = {kind: {op: 0 for op in API_PATHS.values()} for kind in CONTROL_COUNTERS}
                self.token_ttl, self.minute = 60.0, 60.0
                self.calls.clear()
                self.frames.clear()
                self.refused.clear()
            return {**self.inject, "token_ttl": self.token_ttl, "minute": self.minute}

    def handle_post(self, handler, path: str, body: bytes) -> bool:
        """Answer a POST of the stand-in's HTTP server that is IVS Chat's; False if it is not."""
        if path in API_PATHS:
            write_answer(handler, *self.api(path, handler.headers, body), "com.amazonaws.ivschat")
            return True
        if path == "/_standin/chat/control":
            try:
                request = json.loads(body or b"{}")
                answer, status = self.control(request), 200
            except (ValueError, TypeError, AttributeError) as e:
                answer, status = {"error": f"control takes {{throttle, fail, token_ttl, minute, reset}}: {e}"}, 400
            write_answer(handler, status, None, answer, "")
            return True
        return False

    def handle_get(self, handler, path: str) -> bool:
        """Answer a GET that is IVS Chat's (the messaging upgrade, the test listings); False if not."""
        if (handler.headers.get("Upgrade") or "").lower() == "websocket":
            self.serve_websocket(handler)
            return True
        with self.lock:
            listing = {
                "/_standin/chat/calls": lambda: list(self.calls),
                "/_standin/chat/connections": lambda: [c.record() for c in self.connections] + [{"refused": True, **r} for r in self.refused],
                "/_standin/chat/frames": lambda: list(self.frames),
            }.get(path)
            answer = listing() if listing else None
        if answer is None:
            return False
        write_answer(handler, 200, None, answer, "")
        return True
