"""The seed's Lambda signer as a plain HTTP server: PyJWT with the PEM string passed on every call
(as `sign_request(private_key, channel_arn)` does). GET /token -> {"token": ...}. Bench only."""
import json
import os
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt

PEM = open(os.environ["PRIVATE_KEY_FILE"]).read()
ARN = os.environ["CHANNEL_ARN"]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; without this, Nagle + delayed ACK add ~40 ms.
    disable_nagle_algorithm = True

    def log_message(self, *args):
        pass

    def do_GET(self):
        now = int(time.time())
        payload = {"aws:channel-arn": ARN, "aws:access-control-allow-origin": "*",
                   "aws:viewer-id": "0123456789abcdef0123456789abcdef01234567", "aws:viewer-session-version": 0,
                   "exp": now + 300, "iat": now}
        body = json.dumps({"token": jwt.encode(payload, PEM, algorithm="ES384")}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


server = ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler)
print("ready", flush=True)
server.serve_forever()
