"""Mailroom's HTTP API from Python (docs/API.md): signed requests, a client, and the server-side check.

Every request under ``/v1/`` carries four headers, ``Mailroom-Key``, ``Mailroom-Timestamp``, ``Mailroom-Nonce``
and ``Mailroom-Signature``: an Ed25519 signature (libsodium, through PyNaCl) over the canonical request ::

    b"mailroom/api/v1\\0" + "\\n".join([METHOD, TARGET, hex(BLAKE2b-256(body)), TIMESTAMP, NONCE, KEY])

:func:`sign_request` makes the headers, :func:`verify_request` is the server's stateless check (steps 1–4 of
"Authentication": ``missing_auth``, ``malformed_auth``, ``expired``, ``bad_signature``; the replay cache of step
5 is the server's), and :class:`ApiClient` talks to ``mailroom serve``. The client builds each request target
once and sends and signs exactly that string; it never trusts what comes back: records are parsed
(:func:`parse_record`: a single message's :class:`Record`, format v1, or a batch entry's :class:`BatchRecord`,
format v2) but verifying and opening them is the caller's (``record.open(identity)``, the same call for both).

Only the standard library and PyNaCl are used.
"""

from __future__ import annotations

import codecs
import hashlib
import http.client
import json
import os
import re
import ssl
import time
import urllib.parse
from dataclasses import dataclass
from typing import Any, Iterable, Iterator, Mapping

from .errors import MailroomKeyError
from .keys import Identity, parse_public_key
from .records import AnyRecord, Record, _parse_json, b64url_decode, b64url_encode, parse_record
from .batch import Batch
from .envelope import EnvelopeError, signature_verifies
from .ulid import MessageId

__all__ = [
    "DOMAIN",
    "KEY_HEADER",
    "TIMESTAMP_HEADER",
    "NONCE_HEADER",
    "SIGNATURE_HEADER",
    "AUTH_HEADERS",
    "DEFAULT_MAX_SKEW_MS",
    "AUTH_FAILURE_CODES",
    "ApiAuthError",
    "ApiError",
    "ApiClient",
    "Event",
    "EventStream",
    "SSEParser",
    "body_hash",
    "build_target",
    "canonical_request",
    "sign_request",
    "verify_request",
]

#: The domain prefix of the canonical request; the envelope's is ``mailroom/envelope/v1\0``.
DOMAIN = b"mailroom/api/v1\x00"
KEY_HEADER = "Mailroom-Key"
TIMESTAMP_HEADER = "Mailroom-Timestamp"
NONCE_HEADER = "Mailroom-Nonce"
SIGNATURE_HEADER = "Mailroom-Signature"
#: The four headers, in the order the server checks them (and the canonical request lists their values).
AUTH_HEADERS = (KEY_HEADER, TIMESTAMP_HEADER, NONCE_HEADER, SIGNATURE_HEADER)
#: The server's default clock window, either way (``--max-clock-skew-s 300``).
DEFAULT_MAX_SKEW_MS = 300_000
#: Every code of a refused authentication (HTTP 401), in the order the checks run.
AUTH_FAILURE_CODES = ("missing_auth", "malformed_auth", "expired", "bad_signature", "replayed")

NONCE_BYTES = range(16, 65)
DEFAULT_NONCE_BYTES = 16
SIGNATURE_BYTES = 64
_TIMESTAMP = re.compile(r"0|[1-9][0-9]{0,14}", re.ASCII)
_BOXES = ("inbox", "sentbox")


# --- errors ---------------------------------------------------------------------------------------------------


class ApiAuthError(ValueError):
    """A request's authentication refused by :func:`verify_request`: ``code`` is one of
    :data:`AUTH_FAILURE_CODES`, ``detail`` says what is wrong (never a signature, a nonce or a body)."""

    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(code, detail)
        self.code = code
        self.detail = detail

    def __str__(self) -> str:
        return f"{self.code}: {self.detail}" if self.detail else self.code

    def __repr__(self) -> str:
        return f"ApiAuthError(code={self.code!r}, detail={self.detail!r})"


class ApiError(Exception):
    """The server refused a request (non-2xx), or answered something this client cannot read.

    ``status`` is the HTTP status; ``code`` and ``message`` come from ``{"error": {"code", "message"}}``, with
    ``code`` ``http_<status>`` when the body is not that. A 2xx answer of the wrong shape raises
    ``code="invalid_response"`` (or ``invalid_event`` for an event stream) with the real status.
    """

    def __init__(self, status: int, code: str, message: str = "", retry_after: int | None = None) -> None:
        super().__init__(status, code, message)
        self.status = status
        self.code = code
        self.message = message
        #: Seconds from a 429's ``Retry-After`` header, when it holds a whole number; else None.
        self.retry_after = retry_after

    def __str__(self) -> str:
        return f"{self.code}: {self.message}" if self.message else self.code

    def __repr__(self) -> str:
        return f"ApiError(status={self.status}, code={self.code!r}, message={self.message!r})"

    @classmethod
    def from_response(cls, status: int, body: bytes, reason: str = "") -> "ApiError":
        """Reads ``{"error": {"code": "…", "message": "…"}}``; anything else gives ``http_<status>``."""
        code, message = f"http_{status}", reason or ""
        try:
            obj = json.loads(body.decode("utf-8"))
        except (ValueError, UnicodeError, RecursionError):
            obj = None
        error = obj.get("error") if isinstance(obj, dict) else None
        if isinstance(error, dict):
            if isinstance(error.get("code"), str) and error["code"]:
                code = error["code"]
            if isinstance(error.get("message"), str):
                message = error["message"]
        return cls(status, code, message)


# --- the canonical request --------------------------------------------------------------------------------------


def body_hash(body: bytes) -> str:
    """Lowercase hex of BLAKE2b-256 (unkeyed, 32 bytes: ``crypto_generichash``) of the body as sent."""
    return hashlib.blake2b(bytes(body), digest_size=32).hexdigest()


def _timestamp_text(timestamp_ms: int | str) -> str:
    if isinstance(timestamp_ms, bool):
        raise TypeError("the timestamp is an int of Unix milliseconds")
    if isinstance(timestamp_ms, int):
        text = str(timestamp_ms)
    elif isinstance(timestamp_ms, str):
        text = timestamp_ms
    else:
        raise TypeError("the timestamp is an int of Unix milliseconds (or the header text as sent)")
    if not _TIMESTAMP.fullmatch(text):
        raise ValueError("a timestamp is 1 to 15 decimal digits without a leading zero (Unix milliseconds)")
    return text


def canonical_request(method: str, target: str, body: bytes, timestamp_ms: int | str, nonce: str, key: str) -> bytes:
    """The bytes a request's signature covers (docs/API.md, "The canonical request").

    ``method`` is uppercased (ASCII); ``target`` is the request target exactly as sent (path and query, byte for
    byte); ``body`` the body as sent (``b""`` for none); ``timestamp_ms`` an int (written in decimal) or the
    ``Mailroom-Timestamp`` text as sent; ``nonce`` and ``key`` the header values as sent.
    """
    if not isinstance(method, str) or not method.isascii() or not method:
        raise ValueError("the method is a non-empty ASCII token")
    for name, value in (("target", target), ("nonce", nonce), ("key", key)):
        if not isinstance(value, str):
            raise TypeError(f"the {name} is a str")
    text = "\n".join([method.upper(), target, body_hash(body), _timestamp_text(timestamp_ms), nonce, key])
    return DOMAIN + text.encode("utf-8")


def _check_nonce(nonce: str) -> None:
    decoded = b64url_decode(nonce)
    if decoded is None or len(decoded) not in NONCE_BYTES:
        raise ValueError("a nonce is unpadded base64url of 16 to 64 bytes")


def sign_request(
    identity: Identity,
    method: str,
    target: str,
    body: bytes = b"",
    *,
    timestamp_ms: int | None = None,
    nonce: str | None = None,
) -> dict[str, str]:
    """The four authentication headers for one request, signed by ``identity``.

    ``timestamp_ms`` defaults to the clock now, ``nonce`` to unpadded base64url of 16 fresh random bytes
    (``os.urandom``). Ed25519 is deterministic: the same inputs give the same headers.
    """
    if not isinstance(identity, Identity):
        raise TypeError("sign_request signs as an Identity")
    if timestamp_ms is None:
        timestamp_ms = time.time_ns() // 1_000_000
    if nonce is None:
        nonce = b64url_encode(os.urandom(DEFAULT_NONCE_BYTES))
    else:
        _check_nonce(nonce)
    timestamp = _timestamp_text(timestamp_ms if isinstance(timestamp_ms, int) else int(timestamp_ms))
    key = identity.public_key_string
    signature = identity.sign_detached(canonical_request(method, target, bytes(body), timestamp, nonce, key))
    return {
        KEY_HEADER: key,
        TIMESTAMP_HEADER: timestamp,
        NONCE_HEADER: nonce,
        SIGNATURE_HEADER: b64url_encode(signature),
    }


def _header_values(headers: Mapping[str, str] | Any) -> dict[str, list[Any]]:
    """Lowercased name → every value given for it (``http.client.HTTPMessage`` repeats names in ``items()``)."""
    out: dict[str, list[Any]] = {}
    for name, value in headers.items():
        if isinstance(name, str):
            out.setdefault(name.lower(), []).append(value)
    return out


def verify_request(
    method: str,
    target: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    now_ms: int,
    max_skew_ms: int = DEFAULT_MAX_SKEW_MS,
) -> bytes:
    """The server's stateless check of a request (docs/API.md, "The server checks, in order", steps 1–4).

    Returns the 32-byte public key the request acts for; raises :class:`ApiAuthError` with the first failure:
    ``missing_auth`` (a header absent), ``malformed_auth`` (a key string that is not an acceptable key, a
    timestamp that is not 1–15 decimal digits, a nonce that is not unpadded base64url of 16–64 bytes, a signature
    that is not unpadded base64url of 64 bytes, or a header given twice), ``expired`` (the timestamp more than
    ``max_skew_ms`` from ``now_ms``, either way) and ``bad_signature``. Header names are case-insensitive. The
    replay check (step 5: remember the nonce once the signature verified) is the caller's.
    """
    values = _header_values(headers)
    for name in AUTH_HEADERS:
        if name.lower() not in values:
            raise ApiAuthError("missing_auth", f"no {name} header")
    found: dict[str, Any] = {}
    for name in AUTH_HEADERS:
        given = values[name.lower()]
        if len(given) != 1:
            raise ApiAuthError("malformed_auth", f"{name} appears {len(given)} times")
        found[name] = given[0]
    key_text, timestamp, nonce, signature_text = (found[name] for name in AUTH_HEADERS)

    try:
        if not isinstance(key_text, str):
            raise MailroomKeyError("invalid_key_length", "not text")
        public_key = parse_public_key(key_text)
    except MailroomKeyError:
        raise ApiAuthError("malformed_auth", f"{KEY_HEADER} is not a valid public key") from None
    if not isinstance(timestamp, str) or not _TIMESTAMP.fullmatch(timestamp):
        raise ApiAuthError("malformed_auth", f"{TIMESTAMP_HEADER} is not Unix milliseconds (1 to 15 decimal digits)")
    nonce_bytes = b64url_decode(nonce) if isinstance(nonce, str) else None
    if nonce_bytes is None or len(nonce_bytes) not in NONCE_BYTES:
        raise ApiAuthError("malformed_auth", f"{NONCE_HEADER} is not unpadded base64url of 16 to 64 bytes")
    signature = b64url_decode(signature_text) if isinstance(signature_text, str) else None
    if signature is None or len(signature) != SIGNATURE_BYTES:
        raise ApiAuthError("malformed_auth", f"{SIGNATURE_HEADER} is not unpadded base64url of 64 bytes")

    skew = int(timestamp) - int(now_ms)
    if abs(skew) > max_skew_ms:
        direction = "ahead of" if skew > 0 else "behind"
        raise ApiAuthError(
            "expired", f"{TIMESTAMP_HEADER} is {abs(skew)} ms {direction} the server's clock; the window is {max_skew_ms} ms"
        )

    try:
        message = canonical_request(method, target, bytes(body), timestamp, nonce, key_text)
    except (TypeError, ValueError):
        raise ApiAuthError("bad_signature", "the signature does not cover this request for this key") from None
    if not signature_verifies(signature, message, public_key):
        raise ApiAuthError("bad_signature", "the signature does not cover this request for this key")
    return public_key


# --- targets ----------------------------------------------------------------------------------------------------


def build_target(path: str, query: Iterable[tuple[str, Any]] | Mapping[str, Any] | None = None) -> str:
    """``path`` and, if any parameter is not None, ``?`` and the parameters urlencoded in the order given
    (percent-encoding, ``%20`` for a space). This exact string is what is sent and signed."""
    items = query.items() if isinstance(query, Mapping) else (query or ())
    pairs = [(name, str(value)) for name, value in items if value is not None]
    if not pairs:
        return path
    return path + "?" + urllib.parse.urlencode(pairs, quote_via=urllib.parse.quote)


def _segment(value: str | MessageId) -> str:
    """One path segment, percent-encoded so an id can never add segments or a query."""
    text = value.text if isinstance(value, MessageId) else value
    if not isinstance(text, str) or not text:
        raise ValueError("an id is a non-empty string (a ULID)")
    return urllib.parse.quote(text, safe="")


# --- Server-Sent Events -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Event:
    """One server-sent event: ``id`` (the last event id when it was dispatched, ``None`` if none yet), ``kind``
    (the ``event:`` field, ``message`` by default) and ``data``, the data field parsed as JSON (``{"ids": […]}``)."""

    id: str | None
    kind: str
    data: Any


@dataclass(frozen=True)
class _Dispatch:
    last_event_id: str
    kind: str
    data: str | None  # None: a block with no data (it still sets the last event id)


class SSEParser:
    """The ``text/event-stream`` wire format (WHATWG HTML, "Server-sent events"), fed bytes in any chunks.

    Lines end in CRLF, LF or CR; a blank line dispatches the event; a line starting with ``:`` is a comment
    (keep-alive); ``field: value`` drops one space after the colon; ``data`` lines join with ``\\n``; ``id``
    sets the last event id (kept across events, ignored if it holds NUL); ``retry`` (digits) sets
    :attr:`retry_ms`; other fields are ignored; an event not ended by a blank line is not dispatched.
    """

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._pending = ""
        self._started = False
        self._data: list[str] = []
        self._kind = ""
        self._id_buffer = ""
        self.last_event_id = ""
        self.retry_ms: int | None = None

    def feed(self, chunk: bytes) -> list[_Dispatch]:
        text = self._decoder.decode(bytes(chunk))
        if not self._started and text:
            self._started = True
            if text.startswith("\ufeff"):
                text = text[1:]
        text = self._pending + text
        out: list[_Dispatch] = []
        start = 0
        length = len(text)
        while True:
            cr = text.find("\r", start)
            lf = text.find("\n", start)
            if cr < 0 and lf < 0:
                break
            if cr >= 0 and (lf < 0 or cr < lf):
                if cr + 1 == length:  # a CR at the end of the chunk: wait to see whether an LF follows
                    break
                end, next_start = cr, cr + 2 if text[cr + 1] == "\n" else cr + 1
            else:
                end, next_start = lf, lf + 1
            dispatch = self._line(text[start:end])
            if dispatch is not None:
                out.append(dispatch)
            start = next_start
        self._pending = text[start:]
        return out

    def _line(self, line: str) -> _Dispatch | None:
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "event":
            self._kind = value
        elif name == "data":
            self._data.append(value)
        elif name == "id":
            if "\x00" not in value:
                self._id_buffer = value
        elif name == "retry":
            if value and value.isascii() and value.isdigit():
                self.retry_ms = int(value)
        return None

    def _dispatch(self) -> _Dispatch:
        self.last_event_id = self._id_buffer
        data, kind = self._data, self._kind
        self._data, self._kind = [], ""
        if not data:
            return _Dispatch(self.last_event_id, "", None)
        return _Dispatch(self.last_event_id, kind or "message", "\n".join(data))


class EventStream:
    """An iterator of :class:`Event` over an open event stream (or any iterable of byte chunks).

    :attr:`last_event_id` is the id of the last event dispatched (``None`` before any): pass it as
    ``last_event_id`` to :meth:`ApiClient.events` to resume after a disconnect. :attr:`retry_ms` is the
    server's ``retry:`` hint. Close it (or use ``with``) to drop the connection.
    """

    def __init__(self, chunks: Iterable[bytes], last_event_id: str | None = None, close=None, status: int = 200) -> None:
        self._chunks = iter(chunks)
        self._parser = SSEParser()
        if last_event_id:
            self._parser._id_buffer = self._parser.last_event_id = last_event_id
        self._queue: list[_Dispatch] = []
        self._close = close
        self._status = status
        self.last_event_id: str | None = last_event_id or None

    @property
    def retry_ms(self) -> int | None:
        return self._parser.retry_ms

    def __iter__(self) -> "EventStream":
        return self

    def __next__(self) -> Event:
        while True:
            while self._queue:
                dispatch = self._queue.pop(0)
                self.last_event_id = dispatch.last_event_id or None
                if dispatch.data is None:
                    continue
                try:
                    data = json.loads(dispatch.data)
                except (ValueError, RecursionError):
                    raise ApiError(self._status, "invalid_event", "an event's data is not JSON") from None
                return Event(dispatch.last_event_id or None, dispatch.kind, data)
            try:
                chunk = next(self._chunks)
            except StopIteration:
                self.close()
                raise
            self._queue.extend(self._parser.feed(chunk))

    def close(self) -> None:
        close, self._close = self._close, None
        if close is not None:
            close()

    def __enter__(self) -> "EventStream":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass


def parse_event_stream(chunks: Iterable[bytes], last_event_id: str | None = None) -> EventStream:
    """The events in canned bytes (an iterable of chunks), as :meth:`ApiClient.events` yields them."""
    return EventStream(chunks, last_event_id)


# --- the client -------------------------------------------------------------------------------------------------


class ApiClient:
    """A signed-request client for ``mailroom serve`` (docs/API.md), acting for ``identity``'s mailbox.

    ``base_url`` is ``http://host:port`` or ``https://…`` (a path prefix, if any, is part of every target and so
    of every signature). Each call opens one connection. Refusals raise :class:`ApiError`; network failures
    raise ``OSError`` or ``http.client.HTTPException``.
    """

    def __init__(self, base_url: str, identity: Identity, *, timeout: float | None = 10.0) -> None:
        if not isinstance(identity, Identity):
            raise TypeError("ApiClient acts as an Identity")
        parts = urllib.parse.urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"the API URL must be http:// or https:// and name a host: {base_url!r}")
        if parts.query or parts.fragment or parts.username or parts.password:
            raise ValueError("the API URL takes no query, fragment or user information")
        self.base_url = base_url
        self.identity = identity
        self.timeout = timeout
        self._scheme = parts.scheme
        self._host = parts.hostname
        self._port = parts.port
        self._prefix = parts.path.rstrip("/")

    # --- transport ---

    def _connection(self, timeout: float | None) -> http.client.HTTPConnection:
        if self._scheme == "https":
            return http.client.HTTPSConnection(
                self._host, self._port, timeout=timeout, context=ssl.create_default_context()
            )
        return http.client.HTTPConnection(self._host, self._port, timeout=timeout)

    def target(self, path: str, query: Iterable[tuple[str, Any]] | None = None) -> str:
        """The request target sent and signed for ``path`` (under ``/v1/``) and ``query``."""
        return build_target(self._prefix + path, query)

    def _send(
        self,
        method: str,
        path: str,
        query: Iterable[tuple[str, Any]] | None = None,
        body: bytes = b"",
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
        method = method.upper()
        target = self.target(path, query)  # built once: this exact string is signed and sent
        all_headers = {"Accept": "application/json", "User-Agent": "mailroom-py"}
        all_headers.update(headers or {})
        all_headers.update(sign_request(self.identity, method, target, body))
        connection = self._connection(self.timeout if timeout is None else timeout)
        try:
            # http.client sends the target verbatim (it only refuses control characters); no body: no
            # Content-Length on GET/DELETE, "Content-Length: 0" on POST/PUT.
            connection.request(method, target, body=bytes(body) if body else None, headers=all_headers)
            response = connection.getresponse()
        except BaseException:
            connection.close()
            raise
        return connection, response

    def request(
        self,
        method: str,
        path: str,
        query: Iterable[tuple[str, Any]] | None = None,
        body: bytes = b"",
        headers: Mapping[str, str] | None = None,
    ) -> tuple[int, bytes]:
        """Sends one signed request; returns (status, body) for 2xx, raises :class:`ApiError` otherwise."""
        connection, response = self._send(method, path, query, body, headers)
        try:
            data = response.read()
        finally:
            connection.close()
        if not 200 <= response.status < 300:
            error = ApiError.from_response(response.status, data, response.reason)
            retry_after = (response.getheader("Retry-After") or "").strip()
            if retry_after.isascii() and retry_after.isdigit():
                error.retry_after = int(retry_after)
            raise error
        return response.status, data

    def _json(self, method: str, path: str, query=None, body: bytes = b"", headers=None) -> Any:
        status, data = self.request(method, path, query, body, headers)
        try:
            return _parse_json(data)  # strict: no duplicate names, integers apart from other numbers
        except EnvelopeError:
            raise ApiError(status, "invalid_response", "the response body is not JSON") from None

    @staticmethod
    def _member(obj: Any, name: str, status: int = 200) -> Any:
        if not isinstance(obj, dict) or name not in obj:
            raise ApiError(status, "invalid_response", f"the response has no member {name}")
        return obj[name]

    @staticmethod
    def _record(value: Any, where: str, box: str) -> AnyRecord:
        if not isinstance(value, dict):
            raise ApiError(200, "invalid_response", f"{where} is not a JSON object")
        try:
            record = parse_record(value)  # by its format: v1 (a single message) or v2 (a batch entry)
        except EnvelopeError as error:
            raise EnvelopeError(error.reason, f"{where}: {error.detail}") from None
        if record.kind != box:
            raise ApiError(200, "invalid_response", f"{where} is a {record.kind} record in the {box}")
        return record

    def _page(self, box: str, seek, limit, order, status=None) -> tuple[list[AnyRecord], str | None]:
        query = [("seek", seek.text if isinstance(seek, MessageId) else seek), ("limit", limit), ("order", order)]
        if box == "inbox":
            query.append(("status", status))
        obj = self._json("GET", f"/v1/{box}", query)
        records = self._member(obj, "records")
        next_seek = self._member(obj, "next_seek")
        if not isinstance(records, list):
            raise ApiError(200, "invalid_response", "records is not a list")
        if next_seek is not None and not isinstance(next_seek, str):
            raise ApiError(200, "invalid_response", "next_seek is neither a string nor null")
        return [self._record(r, f"record {i}", box) for i, r in enumerate(records)], next_seek

    # --- endpoints ---

    def setup_mailbox(self) -> dict:
        """``PUT /v1/mailbox``: sets up this key's mailbox; ``{"owner", "created_at"}``."""
        return self._json("PUT", "/v1/mailbox")

    def mailbox(self) -> dict:
        """``GET /v1/mailbox``: ``{"owner", "created_at"}`` (``mailbox_not_found`` before setup)."""
        return self._json("GET", "/v1/mailbox")

    def submit(self, envelope: bytes) -> dict:
        """``POST /v1/envelopes`` (202): ``{"id", "partition", "offset"}``. The envelope must be signed by this
        client's key (``not_the_sender``). It is a single envelope (v1) or one value of a batch envelope (v2: a
        recipient's record, whose ``id`` is the recipient's message id, or the sender's copy, whose ``id`` is the
        batch id); :meth:`submit_batch` sends a whole batch."""
        return self._json("POST", "/v1/envelopes", body=bytes(envelope), headers={"Content-Type": "application/octet-stream"})

    def submit_batch(self, batch: "Batch | Iterable[bytes]", *, max_wait_s: float = 60.0) -> list[dict]:
        """Submits a batch envelope (format v2, :mod:`mailroom_client.batch`) sealed by this client's key: every
        recipient's record, then the sender's copy, one ``POST /v1/envelopes`` each (202 each). Returns the answers
        in that order: each recipient record's ``id`` is that recipient's message id, the sender copy's is the
        batch id.

        ``batch`` is a :class:`~mailroom_client.batch.Batch`, or the values themselves (records and sender copy in
        any order: the server tells them apart). The server checks each value alone, as the worker does, and
        refuses a bad one with the envelope reason (``payload_mismatch``, ``bad_merkle_path``, ``bad_signature``,
        …) as :class:`ApiError`; values before it were accepted, so resubmitting the whole batch is safe (the
        worker stores each message once). A sender copy is about ``80 * recipients`` bytes plus the body: past the
        server's ``--max-body-bytes`` (256 KiB by default, about 2,400 recipients with a 64 KiB body) it is
        refused with 413 ``body_too_large``.

        Each value is a request, and the server limits requests per key (50/s sustained, bursts of 100 by default):
        on 429 ``rate_limited`` the value is sent again after the answer's ``Retry-After``, as long as the waits
        add up to at most ``max_wait_s`` seconds; past that the :class:`ApiError` is raised."""
        values = list(batch.records) + [batch.sender_copy] if isinstance(batch, Batch) else list(batch)
        answers = []
        waited = 0.0
        for value in values:
            while True:
                try:
                    answers.append(self.submit(value))
                    break
                except ApiError as error:
                    wait = error.retry_after
                    if error.status != 429 or wait is None or waited + wait > max_wait_s:
                        raise
                    time.sleep(wait)
                    waited += wait
        return answers

    def inbox(self, seek=None, limit=None, order=None, status=None) -> tuple[list[AnyRecord], str | None]:
        """``GET /v1/inbox``: one page, ``(records, next_seek)``. Each record is a single message's
        (:class:`Record`, ``is_batch`` False) or a batch recipient's (:class:`BatchRecord`, ``is_batch`` True); both
        have ``id``, ``kind``, ``read_at_ms``, ``verify()`` and ``open(identity)``. Records are parsed, not
        verified: call ``open`` (signature, owner, decryption) on each."""
        return self._page("inbox", seek, limit, order, status)

    def sentbox(self, seek=None, limit=None, order=None) -> tuple[list[AnyRecord], str | None]:
        """``GET /v1/sentbox``: one page, ``(records, next_seek)``, parsed, not verified. A batch is one entry
        (a :class:`BatchRecord` whose ``id`` is the batch id) however many recipients it had."""
        return self._page("sentbox", seek, limit, order)

    def mark_read(self, id: str | MessageId) -> AnyRecord:
        """``POST /v1/inbox/{id}/read``: the record as it is now (``read_at_ms`` set)."""
        obj = self._json("POST", f"/v1/inbox/{_segment(id)}/read")
        return self._record(self._member(obj, "record"), "record", "inbox")

    def delete_inbox(self, id: str | MessageId) -> None:
        """``DELETE /v1/inbox/{id}`` (204)."""
        self.request("DELETE", f"/v1/inbox/{_segment(id)}")

    def delete_sentbox(self, id: str | MessageId) -> None:
        """``DELETE /v1/sentbox/{id}`` (204)."""
        self.request("DELETE", f"/v1/sentbox/{_segment(id)}")

    def unread(self) -> int:
        """``GET /v1/inbox/unread``: how many inbox records have no ``read_at``."""
        n = self._member(self._json("GET", "/v1/inbox/unread"), "unread")
        if type(n) is not int or n < 0:
            raise ApiError(200, "invalid_response", "unread is not a non-negative integer")
        return n

    def events(
        self, box: str = "inbox", last_event_id: str | None = None, *, read_timeout: float | None = None
    ) -> EventStream:
        """``GET /v1/{box}/events``: an :class:`EventStream` of :class:`Event` (``data`` ``{"ids": […]}``).

        ``last_event_id`` is sent as ``Last-Event-ID`` to resume; the stream's ``last_event_id`` is what to pass
        next time. ``read_timeout`` bounds each wait for bytes (default: none, the server sends keep-alives).
        """
        if box not in _BOXES:
            raise ValueError("box is 'inbox' or 'sentbox'")
        headers = {"Accept": "text/event-stream", "Cache-Control": "no-cache"}
        if last_event_id:
            if any(c in last_event_id for c in "\r\n\x00"):
                raise ValueError("an event id holds no CR, LF or NUL")
            headers["Last-Event-ID"] = last_event_id
        connection, response = self._send("GET", f"/v1/{box}/events", headers=headers)
        if not 200 <= response.status < 300:
            try:
                data = response.read()
            finally:
                connection.close()
            raise ApiError.from_response(response.status, data, response.reason)
        # http.client hands the socket to the response when the server will close it: set the timeout there.
        sock = connection.sock or getattr(getattr(response.fp, "raw", None), "_sock", None)
        if sock is not None:
            sock.settimeout(read_timeout)

        def chunks() -> Iterator[bytes]:
            while True:
                chunk = response.read1(65536)
                if not chunk:
                    return
                yield chunk

        def close() -> None:
            response.close()
            connection.close()

        return EventStream(chunks(), last_event_id, close, response.status)
