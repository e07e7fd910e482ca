"""The HTTP API client (docs/API.md): canonical requests, signing, the server-side check, the client against a
tiny local HTTP server, the SSE parser, the CLI, and the Swift side's api-requests.json vectors."""

from __future__ import annotations

import base64
import hashlib
import http.server
import json
import os
import threading
from pathlib import Path

import pytest

from conftest import VECTORS_DIR
from helpers import identity
from mailroom_client import (
    ApiAuthError,
    ApiClient,
    ApiError,
    Event,
    Identity,
    MessageId,
    Record,
    canonical_request,
    record_from_envelope,
    seal,
    sign_request,
    verify,
    verify_request,
)
from mailroom_client.api import SSEParser, build_target, parse_event_stream
from mailroom_client.records import b64url_encode

EMPTY_HASH = "0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8"
T = 1_700_000_000_000
NONCE = b64url_encode(bytes(range(16)))  # AAECAwQFBgcICQoLDA0ODw
#: The Swift side writes api-requests.json; MAILROOM_API_VECTORS points the test at another file.
API_VECTORS = Path(os.environ.get("MAILROOM_API_VECTORS") or VECTORS_DIR / "api-requests.json")


def ci(headers: dict) -> dict:
    return {k.lower(): v for k, v in headers.items()}


# --- canonical request ------------------------------------------------------------------------------------------


def test_empty_body_hash_is_the_documented_one():
    assert hashlib.blake2b(b"", digest_size=32).hexdigest() == EMPTY_HASH


def test_canonical_request_by_hand():
    key = identity(1).public_key_string
    expected = (
        b"mailroom/api/v1\x00"
        + b"GET\n"
        + b"/v1/inbox?limit=50&order=desc\n"
        + EMPTY_HASH.encode()
        + b"\n"
        + b"1700000000000\n"
        + b"AAECAwQFBgcICQoLDA0ODw\n"
        + key.encode()
    )
    assert NONCE == "AAECAwQFBgcICQoLDA0ODw"
    assert canonical_request("get", "/v1/inbox?limit=50&order=desc", b"", T, NONCE, key) == expected
    assert not expected.endswith(b"\n")


def test_canonical_request_hashes_the_body_and_keeps_the_target_verbatim():
    body = b"\x01envelope bytes"
    target = "/v1/inbox?order=desc&limit=50&x=%2F%20"
    out = canonical_request("POST", target, body, 5, NONCE, "k")
    lines = out[len(b"mailroom/api/v1\x00") :].split(b"\n")
    assert lines == [b"POST", target.encode(), hashlib.blake2b(body, digest_size=32).hexdigest().encode(), b"5", NONCE.encode(), b"k"]


@pytest.mark.parametrize("timestamp", [-1, 10**15, "", "12a", "+1", " 1"])
def test_canonical_request_refuses_timestamps_that_are_no_header(timestamp):
    with pytest.raises(ValueError):
        canonical_request("GET", "/v1/inbox", b"", timestamp, NONCE, "k")


# --- sign and verify --------------------------------------------------------------------------------------------


def test_sign_request_headers_and_round_trip():
    alice = identity(1)
    headers = sign_request(alice, "POST", "/v1/envelopes", b"abc", timestamp_ms=T, nonce=NONCE)
    assert list(headers) == ["Mailroom-Key", "Mailroom-Timestamp", "Mailroom-Nonce", "Mailroom-Signature"]
    assert headers["Mailroom-Key"] == alice.public_key_string
    assert headers["Mailroom-Timestamp"] == str(T)
    assert headers["Mailroom-Nonce"] == NONCE
    signature = base64.urlsafe_b64decode(headers["Mailroom-Signature"] + "==")
    assert len(signature) == 64 and "=" not in headers["Mailroom-Signature"]
    canonical = canonical_request("POST", "/v1/envelopes", b"abc", T, NONCE, alice.public_key_string)
    assert signature == alice.sign_detached(canonical)
    # Deterministic.
    assert sign_request(alice, "POST", "/v1/envelopes", b"abc", timestamp_ms=T, nonce=NONCE) == headers
    assert verify_request("POST", "/v1/envelopes", b"abc", headers, now_ms=T) == alice.public_key
    # Header names are case-insensitive.
    lowered = {k.lower(): v for k, v in headers.items()}
    assert verify_request("POST", "/v1/envelopes", b"abc", lowered, now_ms=T) == alice.public_key
    upper = {k.upper(): v for k, v in headers.items()}
    assert verify_request("POST", "/v1/envelopes", b"abc", upper, now_ms=T + 300_000) == alice.public_key


def test_sign_request_defaults():
    alice = identity(1)
    a = sign_request(alice, "GET", "/v1/inbox")
    b = sign_request(alice, "GET", "/v1/inbox")
    assert a["Mailroom-Nonce"] != b["Mailroom-Nonce"]
    assert len(a["Mailroom-Nonce"]) == 22  # 16 bytes
    assert len(base64.urlsafe_b64decode(a["Mailroom-Nonce"] + "==")) == 16
    import time

    now = time.time_ns() // 1_000_000
    assert abs(int(a["Mailroom-Timestamp"]) - now) < 10_000
    assert verify_request("GET", "/v1/inbox", b"", a, now_ms=now) == alice.public_key


@pytest.mark.parametrize("nonce", ["", "AAAA", b64url_encode(bytes(15)), b64url_encode(bytes(65)), NONCE + "=", "A" * 21 + "!"])
def test_sign_request_refuses_a_bad_nonce(nonce):
    with pytest.raises(ValueError):
        sign_request(identity(1), "GET", "/v1/inbox", timestamp_ms=T, nonce=nonce)


def test_nonce_lengths_16_and_64_are_accepted():
    for n in (16, 17, 63, 64):
        headers = sign_request(identity(1), "GET", "/v1/inbox", timestamp_ms=T, nonce=b64url_encode(os.urandom(n)))
        verify_request("GET", "/v1/inbox", b"", headers, now_ms=T)


def _signed(**changes):
    alice = identity(1)
    headers = sign_request(alice, "POST", "/v1/inbox/x/read", b"", timestamp_ms=T, nonce=NONCE)
    headers.update(changes)
    return headers


def _code(headers, method="POST", target="/v1/inbox/x/read", body=b"", now_ms=T, **kw) -> str:
    with pytest.raises(ApiAuthError) as info:
        verify_request(method, target, body, headers, now_ms=now_ms, **kw)
    assert str(info.value).startswith(info.value.code)
    return info.value.code


@pytest.mark.parametrize("name", ["Mailroom-Key", "Mailroom-Timestamp", "Mailroom-Nonce", "Mailroom-Signature"])
def test_missing_header(name):
    headers = _signed()
    del headers[name]
    assert _code(headers) == "missing_auth"
    # Missing comes before malformed, expired and bad signatures.
    headers["Mailroom-Timestamp" if name != "Mailroom-Timestamp" else "Mailroom-Key"] = "x"
    assert _code(headers, now_ms=0) == "missing_auth"
    assert _code({}) == "missing_auth"


def _hex_upper_key() -> str:
    return identity(1).public_key_hex.upper()


@pytest.mark.parametrize(
    "name,value",
    [
        ("Mailroom-Key", ""),
        ("Mailroom-Key", "bbaarei"),
        ("Mailroom-Key", identity(1).public_key_string + "a"),
        ("Mailroom-Key", identity(1).public_key_string.upper()),
        ("Mailroom-Key", " " + identity(1).public_key_string),
        ("Mailroom-Key", identity(1).textile_string()),  # a private key string is no public key
        ("Mailroom-Key", "00" * 32),  # not a valid point
        ("Mailroom-Key", "01" + "00" * 31),  # the identity point: small order
        ("Mailroom-Key", identity(1).public_key_hex[:-2]),
        ("Mailroom-Timestamp", ""),
        ("Mailroom-Timestamp", "1" * 16),
        ("Mailroom-Timestamp", "-1700000000000"),
        ("Mailroom-Timestamp", "+1700000000000"),
        ("Mailroom-Timestamp", "1700000000000.0"),
        ("Mailroom-Timestamp", " 1700000000000"),
        ("Mailroom-Timestamp", "１７００"),  # fullwidth digits are not decimal digits here
        ("Mailroom-Nonce", ""),
        ("Mailroom-Nonce", b64url_encode(bytes(15))),
        ("Mailroom-Nonce", b64url_encode(bytes(65))),
        ("Mailroom-Nonce", NONCE + "=="),
        ("Mailroom-Nonce", base64.b64encode(b"\xfb" * 16).decode()),  # standard alphabet, padded
        ("Mailroom-Nonce", "AAECAwQFBgcICQoLDA0ODx"),  # non-zero unused bits
        ("Mailroom-Signature", ""),
        ("Mailroom-Signature", b64url_encode(bytes(63))),
        ("Mailroom-Signature", b64url_encode(bytes(65))),
        ("Mailroom-Signature", b64url_encode(bytes(64)) + "=="),
        ("Mailroom-Signature", "+" * 86),
    ],
)
def test_malformed_header(name, value):
    assert _code(_signed(**{name: value})) == "malformed_auth"
    # Malformed comes before expired.
    assert _code(_signed(**{name: value}), now_ms=10 * T) == "malformed_auth"


def test_malformed_key_is_checked_before_the_timestamp_and_a_repeated_header_is_malformed():
    headers = _signed(**{"Mailroom-Key": "x", "Mailroom-Timestamp": "x"})
    with pytest.raises(ApiAuthError) as info:
        verify_request("POST", "/v1/inbox/x/read", b"", headers, now_ms=T)
    assert info.value.code == "malformed_auth" and "Mailroom-Key" in info.value.detail
    headers = _signed()
    headers["mailroom-nonce"] = headers["Mailroom-Nonce"]
    assert _code(headers) == "malformed_auth"


def test_a_hex_key_header_is_accepted_and_signed_as_sent():
    alice = identity(1)
    for key in (alice.public_key_hex, _hex_upper_key()):
        canonical = canonical_request("GET", "/v1/inbox", b"", T, NONCE, key)
        headers = {
            "Mailroom-Key": key,
            "Mailroom-Timestamp": str(T),
            "Mailroom-Nonce": NONCE,
            "Mailroom-Signature": b64url_encode(alice.sign_detached(canonical)),
        }
        assert verify_request("GET", "/v1/inbox", b"", headers, now_ms=T) == alice.public_key
        # Signed over another spelling of the same key: refused.
        headers["Mailroom-Key"] = alice.public_key_string
        assert _code(headers, method="GET", target="/v1/inbox") == "bad_signature"


def test_expired_both_ways_and_the_window_edges():
    headers = _signed()
    assert verify_request("POST", "/v1/inbox/x/read", b"", headers, now_ms=T + 300_000)
    assert verify_request("POST", "/v1/inbox/x/read", b"", headers, now_ms=T - 300_000)
    assert _code(headers, now_ms=T + 300_001) == "expired"  # the request is old
    assert _code(headers, now_ms=T - 300_001) == "expired"  # the request is from the future
    assert _code(headers, now_ms=T + 2, max_skew_ms=1) == "expired"
    # Expired comes before a bad signature.
    assert _code(_signed(**{"Mailroom-Timestamp": str(T + 10**9)})) == "expired"


@pytest.mark.parametrize(
    "change",
    [
        {"method": "GET"},
        {"method": "DELETE"},
        {"target": "/v1/inbox/y/read"},
        {"target": "/v1/inbox/x/read?"},
        {"target": "/v1/inbox/x/read/"},
        {"target": "/v1/inbox/%78/read"},
        {"body": b"\x00"},
    ],
)
def test_tampered_request_is_a_bad_signature(change):
    assert _code(_signed(), **change) == "bad_signature"


def test_tampered_headers_are_a_bad_signature():
    bob = identity(2)
    assert _code(_signed(**{"Mailroom-Timestamp": str(T + 1)})) == "bad_signature"
    assert _code(_signed(**{"Mailroom-Timestamp": "0" + str(T)})) == "malformed_auth"  # no leading zero
    assert _code(_signed(**{"Mailroom-Nonce": b64url_encode(bytes(16))})) == "bad_signature"
    assert _code(_signed(**{"Mailroom-Key": bob.public_key_string})) == "bad_signature"
    signature = bytearray(base64.urlsafe_b64decode(_signed()["Mailroom-Signature"] + "=="))
    signature[0] ^= 1
    assert _code(_signed(**{"Mailroom-Signature": b64url_encode(signature)})) == "bad_signature"
    # An envelope-domain signature over the same bytes is no API signature.
    canonical = canonical_request("POST", "/v1/inbox/x/read", b"", T, NONCE, identity(1).public_key_string)
    other = identity(1).sign_detached(b"mailroom/envelope/v1\x00" + canonical[len(b"mailroom/api/v1\x00") :])
    assert _code(_signed(**{"Mailroom-Signature": b64url_encode(other)})) == "bad_signature"


def test_method_is_uppercased_on_both_sides():
    headers = sign_request(identity(1), "get", "/v1/inbox", timestamp_ms=T, nonce=NONCE)
    assert verify_request("GET", "/v1/inbox", b"", headers, now_ms=T)
    assert verify_request("get", "/v1/inbox", b"", headers, now_ms=T)


# --- targets ----------------------------------------------------------------------------------------------------


def test_build_target_keeps_the_parameter_order_and_omits_none():
    assert build_target("/v1/inbox") == "/v1/inbox"
    assert build_target("/v1/inbox", [("seek", None), ("limit", None)]) == "/v1/inbox"
    assert build_target("/v1/inbox", [("order", "desc"), ("limit", 50)]) == "/v1/inbox?order=desc&limit=50"
    assert build_target("/v1/inbox", [("limit", 50), ("seek", None), ("order", "desc")]) == "/v1/inbox?limit=50&order=desc"
    assert build_target("/v1/inbox", [("status", "a b&c=d/é")]) == "/v1/inbox?status=a%20b%26c%3Dd%2F%C3%A9"


# --- a tiny local HTTP server -------------------------------------------------------------------------------------


class Recorder(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), Handler)
        self.requests: list[dict] = []
        self.replies: list[tuple[int, dict, bytes]] = []

    def reply(self, status: int, body: bytes | dict | None = None, headers: dict | None = None) -> None:
        if isinstance(body, dict):
            body = json.dumps(body).encode()
            headers = {"Content-Type": "application/json", **(headers or {})}
        self.replies.append((status, headers or {}, body or b""))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _any(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.server.requests.append(
            {
                "request_line": self.requestline,
                "method": self.command,
                "target": self.path,
                "headers": self.headers,
                "body": body,
            }
        )
        status, headers, reply = self.server.replies.pop(0) if self.server.replies else (500, {}, b"no canned reply")
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        if "Transfer-Encoding" not in headers:
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)
        else:
            self.end_headers()
            for piece in reply.split(b"|"):  # chunked, one chunk per piece
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            self.wfile.write(b"0\r\n\r\n")
        self.close_connection = True

    do_GET = do_PUT = do_POST = do_DELETE = _any

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    s = Recorder()
    thread = threading.Thread(target=s.serve_forever, daemon=True)
    thread.start()
    yield s
    s.shutdown()
    s.server_close()


def _check_signed(request: dict, owner: Identity) -> None:
    """The request as the server saw it verifies (the target from the raw request line)."""
    method, target, _version = request["request_line"].split(" ")
    assert method == request["method"] and target == request["target"]
    import time

    key = verify_request(method, target, request["body"], request["headers"], now_ms=time.time_ns() // 1_000_000)
    assert key == owner.public_key


def _records(n: int = 2, kind: str = "inbox") -> tuple[Identity, Identity, list[Record]]:
    alice, bob = identity(1), identity(2)
    out = []
    for i in range(n):
        envelope = verify(seal(alice, bob.public_key, b"message %d" % i))
        out.append(record_from_envelope(envelope, kind))
    return alice, bob, out


def test_inbox_target_sent_verbatim_and_signed(server):
    alice, bob, records = _records(2)
    server.reply(200, {"records": [json.loads(r.to_json()) for r in records], "next_seek": records[-1].id.text})
    client = ApiClient(server.url, bob)
    got, next_seek = client.inbox(seek=records[0].id.text, limit=2, order="desc", status=None)
    request = server.requests[0]
    assert request["request_line"] == f"GET /v1/inbox?seek={records[0].id.text}&limit=2&order=desc HTTP/1.1"
    _check_signed(request, bob)
    assert request["headers"]["Mailroom-Key"] == bob.public_key_string
    assert request["headers"]["Accept"] == "application/json"
    assert "Content-Length" not in request["headers"]
    assert got == records and next_seek == records[-1].id.text
    assert [r.open(bob) for r in got] == [b"message 0", b"message 1"]

    # Another order of parameters is another target, sent as built; no parameters, no '?'.
    server.reply(200, {"records": [], "next_seek": None})
    assert client.inbox(status="unread", limit=10) == ([], None)
    assert server.requests[1]["target"] == "/v1/inbox?limit=10&status=unread"
    server.reply(200, {"records": [], "next_seek": None})
    client.inbox()
    assert server.requests[2]["target"] == "/v1/inbox"
    for request in server.requests:
        _check_signed(request, bob)


def test_sentbox_and_a_path_prefix(server):
    alice, bob, records = _records(1, "sentbox")
    server.reply(200, {"records": [json.loads(records[0].to_json())], "next_seek": None})
    client = ApiClient(server.url + "/mailroom/", alice)
    seek = MessageId.for_time(T)
    got, next_seek = client.sentbox(limit=1, order="asc", seek=seek)
    assert got == records and next_seek is None
    target = server.requests[0]["target"]
    assert target == f"/mailroom/v1/sentbox?seek={seek.text}&limit=1&order=asc"
    _check_signed(server.requests[0], alice)


def test_submit_batch_posts_every_record_then_the_sender_copy(server):
    from mailroom_client.batch import seal_personalised, verify_sender_copy

    alice, bob = identity(1), identity(2)
    batch = seal_personalised(alice, [(bob.public_key, b"hi bob"), (alice.public_key, b"hi me")], b"hi {name}")
    batch_id = verify_sender_copy(batch.sender_copy).batch_id.text
    ids = [m.text for m in batch.message_ids] + [batch_id]
    for i, id in enumerate(ids):
        server.reply(202, {"id": id, "partition": 0, "offset": i})
    client = ApiClient(server.url, alice)
    answers = client.submit_batch(batch)
    assert [a["id"] for a in answers] == ids
    assert [r["body"] for r in server.requests] == list(batch.records) + [batch.sender_copy]
    for request in server.requests:
        assert (request["method"], request["target"]) == ("POST", "/v1/envelopes")
        assert request["headers"]["Content-Type"] == "application/octet-stream"
        _check_signed(request, alice)

    # Values alone, in any order; rate limited: sent again after Retry-After (0 here); a refused value stops the
    # run with the server's reason.
    server.reply(429, {"error": {"code": "rate_limited", "message": "slow down"}}, {"Retry-After": "0"})
    server.reply(202, {"id": batch_id, "partition": 0, "offset": 9})
    server.reply(400, {"error": {"code": "payload_mismatch", "message": "the payload does not hash"}})
    with pytest.raises(ApiError) as refused:
        client.submit_batch([batch.sender_copy, batch.records[0], batch.records[1]])
    assert refused.value.code == "payload_mismatch" and refused.value.status == 400
    assert len(server.requests) == len(ids) + 3
    assert server.requests[len(ids)]["body"] == server.requests[len(ids) + 1]["body"] == batch.sender_copy

    # Past max_wait_s the 429 is raised, with its Retry-After.
    server.reply(429, {"error": {"code": "rate_limited", "message": "slow down"}}, {"Retry-After": "5"})
    with pytest.raises(ApiError) as limited:
        client.submit_batch(batch, max_wait_s=1)
    assert limited.value.code == "rate_limited" and limited.value.retry_after == 5


def test_mailbox_submit_read_delete_unread(server):
    alice, bob, records = _records(1)
    client = ApiClient(server.url, alice)
    server.reply(201, {"owner": alice.public_key_string, "created_at": "2024-01-01T00:00:00Z"})
    assert client.setup_mailbox() == {"owner": alice.public_key_string, "created_at": "2024-01-01T00:00:00Z"}
    server.reply(200, {"owner": alice.public_key_string, "created_at": "2024-01-01T00:00:00Z"})
    assert client.mailbox()["owner"] == alice.public_key_string

    envelope = seal(alice, bob.public_key, b"hi")
    server.reply(202, {"id": verify(envelope).id.text, "partition": 3, "offset": 42})
    assert client.submit(envelope) == {"id": verify(envelope).id.text, "partition": 3, "offset": 42}

    read = records[0].with_read_at(T)
    bob_client = ApiClient(server.url, bob)
    server.reply(200, {"record": json.loads(read.to_json())})
    assert bob_client.mark_read(records[0].id) == read
    server.reply(204)
    assert bob_client.delete_inbox(records[0].id.text) is None
    server.reply(204)
    assert client.delete_sentbox("../x?y") is None
    server.reply(200, {"unread": 7})
    assert bob_client.unread() == 7

    lines = [(r["method"], r["target"]) for r in server.requests]
    assert lines == [
        ("PUT", "/v1/mailbox"),
        ("GET", "/v1/mailbox"),
        ("POST", "/v1/envelopes"),
        ("POST", f"/v1/inbox/{records[0].id.text}/read"),
        ("DELETE", f"/v1/inbox/{records[0].id.text}"),
        ("DELETE", "/v1/sentbox/..%2Fx%3Fy"),
        ("GET", "/v1/inbox/unread"),
    ]
    submit = server.requests[2]
    assert submit["headers"]["Content-Type"] == "application/octet-stream" and submit["body"] == envelope
    assert server.requests[0]["headers"]["Content-Length"] == "0"
    assert server.requests[3]["headers"]["Content-Length"] == "0" and server.requests[3]["body"] == b""
    owners = [alice, alice, alice, bob, bob, alice, bob]
    for request, owner in zip(server.requests, owners):
        _check_signed(request, owner)


def test_api_errors(server):
    client = ApiClient(server.url, identity(1))
    server.reply(404, {"error": {"code": "mailbox_not_found", "message": "no mailbox for this key"}})
    with pytest.raises(ApiError) as info:
        client.mailbox()
    assert (info.value.status, info.value.code, info.value.message) == (404, "mailbox_not_found", "no mailbox for this key")
    assert str(info.value) == "mailbox_not_found: no mailbox for this key"

    server.reply(401, {"error": {"code": "replayed", "message": "nonce seen"}})
    with pytest.raises(ApiError) as info:
        client.unread()
    assert (info.value.status, info.value.code) == (401, "replayed")

    server.reply(502, b"<html>bad gateway</html>", {"Content-Type": "text/html"})
    with pytest.raises(ApiError) as info:
        client.unread()
    assert (info.value.status, info.value.code) == (502, "http_502")

    server.reply(400, {"error": "invalid_limit"})
    with pytest.raises(ApiError) as info:
        client.inbox(limit=0)
    assert (info.value.status, info.value.code) == (400, "http_400")

    server.reply(200, b"not json")
    with pytest.raises(ApiError) as info:
        client.unread()
    assert info.value.code == "invalid_response"
    server.reply(200, {"unread": "7"})
    with pytest.raises(ApiError) as info:
        client.unread()
    assert info.value.code == "invalid_response"
    server.reply(200, {"records": {}, "next_seek": None})
    with pytest.raises(ApiError):
        client.inbox()


def test_errors_from_bodies():
    assert ApiError.from_response(413, b'{"error":{"code":"body_too_large","message":"m"}}').code == "body_too_large"
    e = ApiError.from_response(503, b"", "Service Unavailable")
    assert (e.code, e.message) == ("http_503", "Service Unavailable")
    assert ApiError.from_response(400, b'{"error":{"code":7}}').code == "http_400"
    assert ApiError.from_response(400, b"\xff").code == "http_400"


def test_records_from_the_server_are_parsed_not_trusted(server):
    alice, bob, records = _records(1)
    bad = json.loads(records[0].to_json())
    bad["signature"] = b64url_encode(bytes(64))
    server.reply(200, {"records": [bad], "next_seek": None})
    got, _ = ApiClient(server.url, bob).inbox()
    with pytest.raises(Exception) as info:  # parsed, but opening verifies
        got[0].open(bob)
    assert getattr(info.value, "reason", None) == "bad_signature"
    broken = dict(bad, format="nope")
    server.reply(200, {"records": [broken], "next_seek": None})
    with pytest.raises(Exception) as info:
        ApiClient(server.url, bob).inbox()
    assert getattr(info.value, "reason", None) == "invalid_record" and "record 0" in info.value.detail


def test_client_refuses_odd_urls_and_ids():
    for url in ("ftp://x", "127.0.0.1:8080", "http://", "http://h/?q=1", "http://u:p@h"):
        with pytest.raises(ValueError):
            ApiClient(url, identity(1))
    client = ApiClient("http://127.0.0.1:9", identity(1))
    with pytest.raises(ValueError):
        client.mark_read("")
    with pytest.raises(ValueError):
        client.events("trash")


# --- Server-Sent Events -------------------------------------------------------------------------------------------


def events_of(data: bytes, chunk: int | None = None, last_event_id=None):
    chunks = [data] if chunk is None else [data[i : i + chunk] for i in range(0, len(data), chunk)]
    stream = parse_event_stream(chunks, last_event_id)
    return list(stream), stream


STREAM = (
    b": keep-alive\n\n"
    b"retry: 2500\n"
    b"id: 01h0000000000000000000000a\n"
    b"event: inbox\n"
    b'data: {"ids":\n'
    b'data:  ["a", "b"]}\n'
    b"\n"
    b":comment\r\n"
    b"event: inbox\r\n"
    b'data: {"ids": ["c"]}\r\n'
    b"\r\n"
    b"id: 3\r"
    b'data:{"ids":["\xc3\xa9"]}\r'
    b"\r"
    b"id: 4\n\n"
    b'data: {"ids": ["unfinished"]}\n'
)


@pytest.mark.parametrize("chunk", [None, 1, 2, 3, 7])
def test_sse_parser(chunk):
    events, stream = events_of(STREAM, chunk)
    assert events == [
        Event("01h0000000000000000000000a", "inbox", {"ids": ["a", "b"]}),
        Event("01h0000000000000000000000a", "inbox", {"ids": ["c"]}),  # the last event id carries over
        Event("3", "message", {"ids": ["é"]}),
    ]
    # An id-only block moves the last event id; the unfinished event at the end is dropped.
    assert stream.last_event_id == "4"
    assert stream.retry_ms == 2500


def test_sse_last_event_id_tracks_each_event_as_it_is_yielded():
    stream = parse_event_stream([b'id: 1\ndata: {"ids":["x"]}\n\nid: 2\ndata: {"ids":["y"]}\n\n'])
    assert stream.last_event_id is None
    assert next(stream).id == "1" and stream.last_event_id == "1"
    assert next(stream).id == "2" and stream.last_event_id == "2"
    with pytest.raises(StopIteration):
        next(stream)


def test_sse_resumption_and_field_rules():
    # Resuming: the given id is the last event id until the stream sets another.
    events, stream = events_of(b'data: {"ids":[]}\n\n', last_event_id="41")
    assert events == [Event("41", "message", {"ids": []})] and stream.last_event_id == "41"
    # "id:" with nothing resets it; an id holding NUL is ignored; unknown fields are ignored; "data" alone is
    # an empty line of data; a field without a colon takes the empty value; BOM at the start is dropped.
    events, stream = events_of(
        b'\xef\xbb\xbfid: 5\nfoo: bar\ndata: {"ids":\ndata\ndata: []}\n\nid\ndata: 1\n\nid: a\x00b\ndata: 2\n\n'
    )
    assert events == [Event("5", "message", {"ids": []}), Event(None, "message", 1), Event(None, "message", 2)]
    assert stream.last_event_id is None
    # "data:x" and "data: x" are the same; only one leading space is dropped.
    parser = SSEParser()
    assert [d.data for d in parser.feed(b"data:x\n\ndata: x\n\ndata:  x\n\n")] == ["x", "x", " x"]
    # A comment line does not end an event; a blank line with no data dispatches nothing.
    events, _ = events_of(b"event: x\n: hi\n\n\n\ndata: 0\n\n")
    assert events == [Event(None, "message", 0)]


def test_sse_data_that_is_not_json():
    stream = parse_event_stream([b"data: {nope\n\n"])
    with pytest.raises(ApiError) as info:
        next(stream)
    assert info.value.code == "invalid_event"


def test_events_over_http(server):
    bob = identity(2)
    server.reply(
        200,
        b': hello\n\nid: 7\nevent: inbox|\ndata: {"ids": ["a"]}\n\n|id: 8\ndata: {"ids": ["b"]}\n\n',
        {"Content-Type": "text/event-stream", "Transfer-Encoding": "chunked"},
    )
    client = ApiClient(server.url, bob)
    with client.events("inbox", last_event_id="6") as stream:
        assert list(stream) == [Event("7", "inbox", {"ids": ["a"]}), Event("8", "message", {"ids": ["b"]})]
        assert stream.last_event_id == "8"
    request = server.requests[0]
    assert request["target"] == "/v1/inbox/events"
    assert request["headers"]["Accept"] == "text/event-stream"
    assert request["headers"]["Last-Event-ID"] == "6"
    _check_signed(request, bob)

    server.reply(404, {"error": {"code": "not_found", "message": "no such route"}})
    with pytest.raises(ApiError) as info:
        client.events("sentbox")
    assert info.value.code == "not_found" and server.requests[1]["target"] == "/v1/sentbox/events"
    assert "Last-Event-ID" not in server.requests[1]["headers"]


# --- the command line ---------------------------------------------------------------------------------------------


def test_cli_api(server, tmp_path):
    from test_cli import run

    alice, bob, records = _records(2)
    key = tmp_path / "bob.key"
    key.write_text(bob.textile_string() + "\n")
    key.chmod(0o600)
    env = {"MAILROOM_API_URL": server.url}

    server.reply(200, {"records": [json.loads(r.to_json()) for r in records], "next_seek": "zz"})
    out = tmp_path / "out"
    result = run("api", "inbox", "--identity", str(key), "--limit", "2", "--order", "desc", "--out-dir", str(out), env=env)
    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout)
    assert result.stdout.count(b"\n") == 1
    assert printed == {"records": [json.loads(r.to_json()) for r in records], "next_seek": "zz"}
    assert server.requests[-1]["target"] == "/v1/inbox?limit=2&order=desc"
    _check_signed(server.requests[-1], bob)
    for r in records:
        assert (out / f"{r.id.text}.json").read_text() == r.to_json()
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{r.id.text}.json" for r in records)

    # --url and --identity before the command, too.
    server.reply(200, {"unread": 3})
    result = run("api", "--url", server.url, "--identity", str(key), "unread")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"unread": 3}

    server.reply(204)
    result = run("api", "delete", records[0].id.text, "--sentbox", "--identity", str(key), env=env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"deleted": records[0].id.text, "box": "sentbox"}
    assert (server.requests[-1]["method"], server.requests[-1]["target"]) == ("DELETE", f"/v1/sentbox/{records[0].id.text}")

    server.reply(200, {"record": json.loads(records[1].with_read_at(T).to_json())})
    result = run("api", "read", records[1].id.text, "--identity", str(key), env=env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"record": json.loads(records[1].with_read_at(T).to_json())}

    envelope = tmp_path / "m.env"
    envelope.write_bytes(seal(bob, alice.public_key, b"x"))
    server.reply(202, {"id": "x", "partition": 0, "offset": 1})
    result = run("api", "submit", str(envelope), "--identity", str(key), env=env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"id": "x", "partition": 0, "offset": 1}
    assert server.requests[-1]["body"] == envelope.read_bytes()

    for command, reply in (("setup", {"owner": "o", "created_at": "c"}), ("mailbox", {"owner": "o", "created_at": "c"})):
        server.reply(200, reply)
        result = run("api", command, "--identity", str(key), env=env)
        assert result.returncode == 0 and json.loads(result.stdout) == reply
    assert [r["method"] for r in server.requests[-2:]] == ["PUT", "GET"]

    server.reply(200, {"records": [], "next_seek": None})
    result = run("api", "sentbox", "--seek", "abc", "--identity", str(key), env=env)
    assert json.loads(result.stdout) == {"records": [], "next_seek": None}
    assert server.requests[-1]["target"] == "/v1/sentbox?seek=abc"

    server.reply(404, {"error": {"code": "mailbox_not_found", "message": "no mailbox"}})
    result = run("api", "mailbox", "--identity", str(key), env=env)
    assert result.returncode == 1 and result.stdout == b""
    assert result.stderr == b"error: mailbox_not_found: no mailbox\n"

    result = run("api", "mailbox", "--identity", str(key))
    assert result.returncode == 1 and b"MAILROOM_API_URL" in result.stderr
    result = run("api", "mailbox", "--url", "http://127.0.0.1:9", "--identity", str(key))
    assert result.returncode == 1 and result.stderr.startswith(b"error: unreachable: ")


# --- the Swift side's vectors -------------------------------------------------------------------------------------


def _load_vectors() -> dict | None:
    try:
        with open(API_VECTORS, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        return None


VECTORS = _load_vectors()
VALID = (VECTORS or {}).get("valid", [])
INVALID = (VECTORS or {}).get("invalid", [])


def _vector_identity(text: str) -> Identity:
    if len(text) == 64 and all(c in "0123456789abcdefABCDEF" for c in text):
        return Identity.from_seed(bytes.fromhex(text))
    if len(text) == 128 and all(c in "0123456789abcdefABCDEF" for c in text):
        found = Identity.from_seed(bytes.fromhex(text)[:32])
        assert found.public_key == bytes.fromhex(text)[32:]
        return found
    return Identity.from_textile_string(text)


def test_api_vectors_file_exists_and_has_the_agreed_shape():
    if VECTORS is None:
        pytest.fail(f"{API_VECTORS} is missing: the Swift vector generator writes it")
    assert isinstance(VECTORS.get("about"), str)
    assert isinstance(VECTORS.get("max_clock_skew_ms"), int)
    assert VALID and INVALID
    for v in VALID:
        assert {"name", "private_key", "method", "target", "body_hex", "timestamp_ms", "nonce", "canonical_hex", "headers"} <= set(v), v.get("name")
    for v in INVALID:
        assert {"name", "method", "target", "body_hex", "headers", "now_ms", "code"} <= set(v), v.get("name")
        assert v["code"] in ("missing_auth", "malformed_auth", "expired", "bad_signature", "replayed"), v["name"]
    assert len({v["name"] for v in VALID + INVALID}) == len(VALID) + len(INVALID)


@pytest.mark.parametrize("v", VALID, ids=[v["name"] for v in VALID])
def test_valid_api_vector(v):
    signer = _vector_identity(v["private_key"])
    body = bytes.fromhex(v["body_hex"])
    headers = ci(v["headers"])
    key = headers["mailroom-key"]
    canonical = canonical_request(v["method"], v["target"], body, v["timestamp_ms"], v["nonce"], key)
    assert canonical.hex() == v["canonical_hex"].lower()
    if key == signer.public_key_string:
        produced = sign_request(signer, v["method"], v["target"], body, timestamp_ms=v["timestamp_ms"], nonce=v["nonce"])
        assert ci(produced) == headers
    else:  # a vector that spells the key in hex: the same signature over the key as sent
        assert b64url_encode(signer.sign_detached(canonical)) == headers["mailroom-signature"]
    assert verify_request(
        v["method"], v["target"], body, v["headers"], now_ms=v["timestamp_ms"], max_skew_ms=VECTORS["max_clock_skew_ms"]
    ) == signer.public_key


@pytest.mark.parametrize("v", INVALID, ids=[v["name"] for v in INVALID])
def test_invalid_api_vector(v):
    if v["code"] == "replayed":
        pytest.skip("replay needs the server's nonce cache; verify_request is stateless")
    with pytest.raises(ApiAuthError) as info:
        verify_request(
            v["method"],
            v["target"],
            bytes.fromhex(v["body_hex"]),
            v["headers"],
            now_ms=v["now_ms"],
            max_skew_ms=VECTORS["max_clock_skew_ms"],
        )
    assert info.value.code == v["code"], info.value.detail
