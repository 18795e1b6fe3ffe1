"""What the local stand-ins for AWS APIs share (tools/ivs_standin.py for IVS, tools/ivs_chat_standin.py
for IVS Chat): the SigV4 check of a request, done with botocore (an implementation independent of
the worker's own signer), and AWS's error answer."""

from __future__ import annotations

import calendar
import hmac
import json
import re
import time

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

MAX_SKEW_SECONDS = 15 * 60  # AWS refuses a signature more than 15 minutes off
AUTHORIZATION = re.compile(
    r"^AWS4-HMAC-SHA256 Credential=(?P<key>[^/\s]+)/(?P<date>\d{8})/(?P<region>[a-z0-9-]+)/(?P<service>[a-z0-9-]+)/aws4_request,"
    r"\s*SignedHeaders=(?P<signed>[a-z0-9;-]+),\s*Signature=(?P<signature>[0-9a-f]{64})$"
)


class ApiError(Exception):
    """An AWS error answer: HTTP status, the error type of `x-amzn-ErrorType`, the message."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def verify_sigv4(credentials: dict, now: float, service: str, method: str, path: str, headers, body: bytes) -> str:
    """Check a request's SigV4 signature as AWS does, for `service` (its signing name), with the
    keys of `credentials` (key id -> (secret, session token or None)) at time `now`. Returns the
    signing region, or raises ApiError 403 as AWS answers (never naming the expected signature)."""
    match = AUTHORIZATION.match(headers.get("Authorization") or "")
    if match is None:
        raise ApiError(403, "MissingAuthenticationTokenException", "Missing or malformed Authorization header")
    key = credentials.get(match["key"])
    if key is None:
        raise ApiError(403, "UnrecognizedClientException", "The security token included in the request is invalid.")
    secret, token = key
    if match["service"] != service:
        raise ApiError(403, "InvalidSignatureException", f"Credential should be scoped to correct service: '{service}'.")
    amz_date = headers.get("X-Amz-Date") or ""
    if not re.fullmatch(r"\d{8}T\d{6}Z", amz_date) or amz_date[:8] != match["date"]:
        raise ApiError(403, "InvalidSignatureException", "X-Amz-Date is missing or does not match the credential scope")
    signed_at = calendar.timegm(time.strptime(amz_date, "%Y%m%dT%H%M%SZ"))
    if abs(now - signed_at) > MAX_SKEW_SECONDS:
        raise ApiError(403, "InvalidSignatureException", "Signature expired: the request time is more than 15 minutes off")
    signed = match["signed"].split(";")
    for required in ("host", "x-amz-date"):
        if required not in signed:
            raise ApiError(403, "InvalidSignatureException", f"{required} must be a signed header")
    if token is not None and ("x-amz-security-token" not in signed or headers.get("X-Amz-Security-Token") != token):
        raise ApiError(403, "UnrecognizedClientException", "The security token included in the request is invalid.")
    missing = [name for name in signed if headers.get(name) is None]
    if missing:
        raise ApiError(403, "InvalidSignatureException", f"signed header {missing[0]} is not in the request")
    request = AWSRequest(method=method, url=f"http://{headers['Host']}{path}", data=body, headers={name: headers[name] for name in signed})
    request.context["timestamp"] = amz_date
    auth = SigV4Auth(Credentials(match["key"], secret, token), service, match["region"])
    expected = auth.signature(auth.string_to_sign(request, auth.canonical_request(request)), request)
    if not hmac.compare_digest(expected, match["signature"]):
        raise ApiError(
            403,
            "InvalidSignatureException",
            "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.",
        )
    return match["region"]


def write_answer(handler, status: int, error_type: str | None, answer: dict, namespace: str):
    """Write an AWS REST-JSON answer on a BaseHTTPRequestHandler: JSON body, and for an error the
    `x-amzn-ErrorType` header (`Type:http://internal.amazon.com/coral/NAMESPACE/`) that the AWS
    SDKs read the error type from."""
    data = json.dumps(answer).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(data)))
    if error_type:
        handler.send_header("x-amzn-ErrorType", f"{error_type}:http://internal.amazon.com/coral/{namespace}/")
    handler.end_headers()
    handler.wfile.write(data)
