"""One server-side WebSocket connection on the socket of an http.server request handler that has
read an upgrade request, for the stand-ins (tools/ivs_chat_standin.py's messaging endpoint).

The handshake checks and RFC 6455 framing (masking, fragments, ping/pong, the close handshake, UTF-8
checks) are those of `websockets`' sans-I/O ServerProtocol, a library independent of anything the
worker or the browser runs; this module only moves bytes. Sans-I/O fits the stand-in as it is: a
ThreadingHTTPServer with a thread per connection, no event loop. One lock per connection, because
other threads (a broadcast, a DisconnectUser call) send on it while its own thread reads."""

from __future__ import annotations

import select
import socket
import threading

from websockets.frames import Opcode
from websockets.http11 import Request
from websockets.protocol import State
from websockets.server import ServerProtocol

CLOSE_REASON_MAX_BYTES = 123  # RFC 6455: a close frame's payload is at most 125 bytes, 2 for the code


def close_reason(text: str) -> str:
    """`text` cut to what a close frame can carry, on a character boundary."""
    data = text.encode()[:CLOSE_REASON_MAX_BYTES]
    return data.decode(errors="ignore")


class WebSocket:
    """An open connection: send_text and close from any thread, receive from the handler's."""

    def __init__(self, sock: socket.socket, protocol: ServerProtocol):
        self.sock, self.protocol = sock, protocol
        self.lock = threading.Lock()
        self.partial: list[bytes] = []  # the frames of a fragmented text message so far
        self.close_code: int | None = None  # what the server closed with
        self.close_reason: str | None = None

    @classmethod
    def upgrade(cls, handler, subprotocol: str | None) -> "WebSocket | None":
        """Accept the upgrade request `handler` has read with `subprotocol` (the one the client
        offered that the caller accepted; a browser fails a connection whose offered subprotocol is
        not echoed): the connection, whose 101 the caller sends with flush() once it can take the
        client's frames (a room must list the connection before its client can send). A malformed
        handshake gets websockets' 4xx, and None."""
        protocol = ServerProtocol(select_subprotocol=lambda _p, offered: subprotocol if subprotocol in offered else None)
        request = cls._request(handler, protocol)
        if request is None:
            return None
        protocol.send_response(protocol.accept(request))
        # A client sends no frame before it has the 101, so http.server's read buffer holds none:
        # from here on the socket is read directly.
        ws = cls(handler.connection, protocol)
        if protocol.state is State.OPEN:
            return ws  # the 101 is sent by flush(), once the caller is ready for the client's frames
        ws.flush()
        return None

    @classmethod
    def refuse(cls, handler, status: int, text: str) -> None:
        """Refuse the upgrade request `handler` has read with an HTTP error, as websockets writes it
        (HTTP/1.1: http.server's own HTTP/1.0 status line is refused by strict clients)."""
        protocol = ServerProtocol()
        if cls._request(handler, protocol) is not None:
            protocol.send_response(protocol.reject(status, text))
            cls(handler.connection, protocol).flush()

    @staticmethod
    def _request(handler, protocol: ServerProtocol) -> Request | None:
        """The upgrade request, through `protocol`'s parser: it reads the request before any frame,
        so it is given the one http.server has already read, as bytes (a header a line, unfolded)."""
        handler.close_connection = True  # http.server must not read another request from this socket
        head = f"GET {handler.path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in handler.headers.items()) + "\r\n"
        protocol.receive_data(head.encode("latin-1"))
        return next((e for e in protocol.events_received() if isinstance(e, Request)), None)

    @property
    def open(self) -> bool:
        return self.protocol.state is State.OPEN

    @property
    def closed(self) -> bool:
        return self.protocol.state is State.CLOSED

    def send_text(self, text: str) -> bool:
        """Send one text message; False when the connection is no longer open."""
        with self.lock:
            if not self.open:
                return False
            self.protocol.send_text(text.encode())
            return self._flush()

    def close(self, code: int, reason: str) -> None:
        """Start the close handshake (the client answers with its close frame)."""
        with self.lock:
            if self.open:
                self.close_code, self.close_reason = code, close_reason(reason)
                self.protocol.send_close(code, self.close_reason)
                self._flush()

    def receive(self, timeout: float) -> list[str] | None:
        """The text messages that arrive within `timeout` seconds ([] for none), or None once the
        connection is closed (close handshake done, or the peer gone). Binary messages are dropped."""
        if self.closed:
            return None
        try:
            if not select.select([self.sock], [], [], timeout)[0]:
                return []
            data = self.sock.recv(65536)
        except OSError:
            data = b""
        with self.lock:
            if data:
                self.protocol.receive_data(data)
            else:
                self.protocol.receive_eof()
            texts = []
            for frame in self.protocol.events_received():
                if frame.opcode is Opcode.TEXT or (frame.opcode is Opcode.CONT and self.partial):
                    self.partial.append(frame.data)
                    if frame.fin:
                        texts.append(b"".join(self.partial).decode())
                        self.partial = []
            self._flush()
        if not data:
            return None  # the peer went away (after its close frame, or without one)
        return texts if texts or not self.closed else None

    def drop(self) -> None:
        """Close the TCP connection (after the close handshake, or to give up on it)."""
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()

    def flush(self) -> bool:
        with self.lock:
            return self._flush()

    def _flush(self) -> bool:
        """Write what the protocol has queued (the caller holds the lock); False if the peer is gone."""
        try:
            for chunk in self.protocol.data_to_send():
                if chunk:
                    self.sock.sendall(chunk)
                else:  # websockets' SEND_EOF: the close handshake is done, half-close as RFC 6455 says
                    self.sock.shutdown(socket.SHUT_WR)
            return True
        except OSError:
            return False
