"""Portable message records (docs/ENVELOPE.md): format v1 ("Portable message records", :class:`Record`) for a
single message, format v2 ("Portable batch records", :class:`BatchRecord`) for a batch entry.

A record is one mailbox row a device can carry away and check alone. v1: its owner's sealed copy, the hash of the
other copy, the envelope's signature and the row's unsigned metadata (``read_at``); two forms, binary and JSON;
:meth:`Record.from_binary` and :meth:`Record.from_json` parse (structure, then both keys), :meth:`Record.verify`
checks the signature over the record alone, :meth:`Record.open` checks ownership, verifies and decrypts. v2: a
batch value (a recipient record for an inbox entry, a sender's copy for the sentbox entry) and the same metadata;
binary, or the JSON wrapper ``{"format":"mailroom.record.v2","kind","id","record"}`` of the HTTP API's pages.

Both kinds answer ``id``, ``kind``, ``is_batch``, ``sender``, ``read_at_ms``, ``verify()``, ``open(identity)``
and ``to_json()``, so a caller can treat a page's records alike; :func:`parse_record` reads either.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import re
from dataclasses import dataclass, field
from typing import Any

from .envelope import (
    BOX_OVERHEAD,
    DEFAULT_MAX_BODY_BYTES,
    HASH_BYTES,
    SIGNATURE_BYTES,
    Envelope,
    EnvelopeError,
    _header,
    ciphertext_hash,
    open_body,
    signature_verifies,
    signed_message,
)
from .batch import (
    BATCH_RECORD_ID_OFFSETS,
    MAX_RECIPIENTS,
    RecipientRecord,
    SenderCopy,
    verify_recipient_record,
    verify_sender_copy,
)
from .keys import Identity, MailroomKeyError, is_valid_public_key, parse_public_key, public_key_textile_string
from .ulid import MessageId

__all__ = [
    "Record",
    "BatchRecord",
    "AnyRecord",
    "record_from_envelope",
    "parse_record",
    "b64url_encode",
    "b64url_decode",
    "MAGIC",
    "JSON_FORMAT",
    "BATCH_JSON_FORMAT",
]

MAGIC = b"mrec"
RECORD_VERSION = 1
ENVELOPE_VERSION = 1
JSON_FORMAT = "mailroom.record.v1"
BATCH_RECORD_VERSION = 2
BATCH_JSON_FORMAT = "mailroom.record.v2"
_BATCH_MEMBERS = ("format", "kind", "id", "record")
_KIND_CODES = {"inbox": 1, "sentbox": 2}
_KIND_NAMES = {v: k for k, v in _KIND_CODES.items()}
_HEADER_BYTES = 4 + 1 + 1 + 1 + 16 + 32 + 32 + 8 + 4  # 99: up to and including ciphertext_len
_TRAILER_BYTES = HASH_BYTES + SIGNATURE_BYTES + 1  # 97: other hash, signature, metadata_flags
_MIN_BYTES = _HEADER_BYTES + _TRAILER_BYTES  # 196
_READ_AT_FLAG = 0x01
_INT64_MIN = -(1 << 63)
_INT64_MAX = (1 << 63) - 1
_MEMBERS = (
    "format",
    "kind",
    "envelope_version",
    "id",
    "sender",
    "recipient",
    "created_at_ms",
    "ciphertext",
    "other_ciphertext_hash",
    "signature",
    "metadata",
)
_FORMAT_VN = re.compile(r"mailroom\.record\.v([1-9][0-9]{0,8})", re.ASCII)
_B64URL_ALPHABET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


# --- base64url without padding, strict ----------------------------------------------------------------------


def b64url_encode(data: bytes) -> str:
    """RFC 4648 §5 base64url without padding."""
    return base64.urlsafe_b64encode(bytes(data)).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes | None:
    """Strict unpadded base64url: ``None`` for padding, a character outside the alphabet, an impossible length
    or non-zero unused bits (it re-encodes what it decoded and compares)."""
    if not isinstance(text, str) or len(text) % 4 == 1 or not _B64URL_ALPHABET.issuperset(text):
        return None
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return None
    return data if b64url_encode(data) == text else None


# --- strict JSON --------------------------------------------------------------------------------------------


class _NotAnInteger:
    """A JSON number written with a fraction or an exponent (kept apart from integers)."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


class _JSONFault(Exception):
    pass


def _reject_constant(name: str) -> Any:
    raise _JSONFault(f"{name} is not JSON")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in pairs:
        if name in out:
            raise _JSONFault(f"member {name} appears twice")
        out[name] = value
    return out


_MAX_DEPTH = 16  # values at depths 0 to 15: the top-level value is at depth 0
_MAX_NUMBER_CHARACTERS = 4300


def _parse_int(text: str) -> int:
    if len(text) > _MAX_NUMBER_CHARACTERS:
        raise _JSONFault("a number of more than 4,300 characters")
    return int(text)


def _parse_float(text: str) -> Any:
    if len(text) > _MAX_NUMBER_CHARACTERS:
        raise _JSONFault("a number of more than 4,300 characters")
    return _NotAnInteger(text)


def _check_depth(value: Any, depth: int = 0) -> None:
    if depth >= _MAX_DEPTH:
        raise _JSONFault("nested more than 16 deep")
    if isinstance(value, dict):
        for member in value.values():
            _check_depth(member, depth + 1)
    elif isinstance(value, list):
        for element in value:
            _check_depth(element, depth + 1)


def _check_strings(value: Any) -> None:
    """Every string (names included) must be valid Unicode: no lone surrogates from ``\\u`` escapes."""
    if isinstance(value, str):
        value.encode("utf-8")
    elif isinstance(value, dict):
        for name, member in value.items():
            name.encode("utf-8")
            _check_strings(member)
    elif isinstance(value, list):
        for element in value:
            _check_strings(element)


def _parse_json(text: str | bytes | bytearray) -> Any:
    try:
        if isinstance(text, (bytes, bytearray, memoryview)):
            text = bytes(text).decode("utf-8")
        value = json.loads(
            text,
            object_pairs_hook=_no_duplicates,
            parse_int=_parse_int,
            parse_float=_parse_float,
            parse_constant=_reject_constant,
        )
        _check_depth(value)
        _check_strings(value)
        return value
    except (ValueError, _JSONFault, RecursionError, UnicodeError) as error:
        detail = error.args[0] if isinstance(error, _JSONFault) else type(error).__name__
        raise EnvelopeError("invalid_record", f"not JSON: {detail}") from None


def _record_object(
    source: str | bytes | dict,
    fmt_expected: str,
    version: int,
    members: tuple[str, ...],
    reads: str,
    separator: str = ",",
) -> dict:
    """A record's JSON object, checked: an object, ``format`` exactly ``fmt_expected`` (another version of the
    format is ``unsupported_record_version``, ``reads`` saying which this parser reads), exactly ``members``."""
    obj = source if isinstance(source, dict) else _parse_json(source)
    if not isinstance(obj, dict):
        raise EnvelopeError("invalid_record", "a record is a JSON object")
    fmt = obj.get("format")
    if not isinstance(fmt, str):
        raise EnvelopeError("invalid_record", "member format is missing or not a string")
    if fmt != fmt_expected:
        match = _FORMAT_VN.fullmatch(fmt)
        if match and int(match.group(1)) != version:
            raise EnvelopeError("unsupported_record_version", f"record format {fmt}{separator} {reads}")
        raise EnvelopeError("invalid_record", f"format is not {fmt_expected}")
    for name in members:
        if name not in obj:
            raise EnvelopeError("invalid_record", f"member {name} is missing")
    extra = sorted(set(obj) - set(members))
    if extra:
        raise EnvelopeError("invalid_record", f"unknown member {extra[0]}")
    return obj


def _is_int64(value: Any) -> bool:
    return type(value) is int and _INT64_MIN <= value <= _INT64_MAX


# --- records --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Record:
    """One mailbox row in portable form. ``read_at_ms`` is metadata: not signed, a hint from the server."""

    kind: str
    id: MessageId
    sender: bytes
    recipient: bytes
    created_at_ms: int
    ciphertext: bytes = field(repr=False)
    other_ciphertext_hash: bytes = field(repr=False)
    signature: bytes = field(repr=False)
    read_at_ms: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in _KIND_CODES:
            raise ValueError(f"kind must be 'inbox' or 'sentbox', not {self.kind!r}")

    #: A single message's record (format v1); :class:`BatchRecord` answers True.
    is_batch = False

    # --- views ---

    @property
    def owner(self) -> bytes:
        """Whose mailbox the record comes from: the recipient (inbox) or the sender (sentbox)."""
        return self.recipient if self.kind == "inbox" else self.sender

    @property
    def sender_string(self) -> str:
        return public_key_textile_string(self.sender)

    @property
    def recipient_string(self) -> str:
        return public_key_textile_string(self.recipient)

    # --- binary form ---

    @classmethod
    def from_binary(cls, data: bytes) -> "Record":
        """Parses the binary form strictly (structure, then sender and recipient keys)."""
        data = bytes(data)
        if len(data) < len(MAGIC) or data[:4] != MAGIC:
            raise EnvelopeError("invalid_record", "not a record: the first 4 bytes are not 'mrec'")
        if len(data) < 5:
            raise EnvelopeError("invalid_record", "the record ends before its version")
        if data[4] != RECORD_VERSION:
            raise EnvelopeError("unsupported_record_version", f"record version {data[4]}, this client reads version 1")
        if len(data) < _MIN_BYTES:
            raise EnvelopeError("invalid_record", f"{len(data)} bytes; a record is at least {_MIN_BYTES}")
        if data[5] not in _KIND_NAMES:
            raise EnvelopeError("invalid_record", f"kind {data[5]} is neither 1 (inbox) nor 2 (sentbox)")
        if data[6] != ENVELOPE_VERSION:
            raise EnvelopeError("invalid_record", f"envelope version {data[6]}, records carry version 1")
        message_id = MessageId.from_bytes(data[7:23])
        sender = data[23:55]
        recipient = data[55:87]
        created_at = int.from_bytes(data[87:95], "big", signed=True)
        n = int.from_bytes(data[95:99], "big")
        if len(data) - _HEADER_BYTES < n + _TRAILER_BYTES:
            raise EnvelopeError("invalid_record", f"a {n}-byte ciphertext runs past the end of the record")
        offset = _HEADER_BYTES
        ciphertext = data[offset : offset + n]
        offset += n
        other_hash = data[offset : offset + HASH_BYTES]
        offset += HASH_BYTES
        signature = data[offset : offset + SIGNATURE_BYTES]
        offset += SIGNATURE_BYTES
        flags = data[offset]
        offset += 1
        if flags & ~_READ_AT_FLAG:
            raise EnvelopeError("invalid_record", f"unknown metadata flags {flags:#04x}")
        read_at = None
        if flags & _READ_AT_FLAG:
            if len(data) - offset < 8:
                raise EnvelopeError("invalid_record", "the record ends inside read_at")
            read_at = int.from_bytes(data[offset : offset + 8], "big", signed=True)
            offset += 8
        if offset != len(data):
            raise EnvelopeError("invalid_record", f"{len(data) - offset} bytes follow the record")
        _check_parties(sender, recipient)
        return cls(
            kind=_KIND_NAMES[data[5]],
            id=message_id,
            sender=sender,
            recipient=recipient,
            created_at_ms=created_at,
            ciphertext=ciphertext,
            other_ciphertext_hash=other_hash,
            signature=signature,
            read_at_ms=read_at,
        )

    def to_binary(self) -> bytes:
        """The binary form. The hash must be 32 bytes and the signature 64 (``invalid_field_length``)."""
        self._check_field_lengths()
        out = bytearray(MAGIC)
        out += bytes([RECORD_VERSION, _KIND_CODES[self.kind], ENVELOPE_VERSION])
        out += self.id.bytes + bytes(self.sender) + bytes(self.recipient)
        out += self.created_at_ms.to_bytes(8, "big", signed=True)
        out += len(self.ciphertext).to_bytes(4, "big")
        out += self.ciphertext + self.other_ciphertext_hash + self.signature
        if self.read_at_ms is None:
            out.append(0)
        else:
            out.append(_READ_AT_FLAG)
            out += self.read_at_ms.to_bytes(8, "big", signed=True)
        return bytes(out)

    # --- JSON form ---

    @classmethod
    def from_json(cls, source: str | bytes | dict) -> "Record":
        """Parses the JSON form strictly (text, UTF-8 bytes, or an already decoded object)."""
        obj = _record_object(source, JSON_FORMAT, RECORD_VERSION, _MEMBERS, "this client reads v1")
        kind = obj["kind"]
        if not isinstance(kind, str) or kind not in _KIND_CODES:
            raise EnvelopeError("invalid_record", "kind is neither inbox nor sentbox")
        if not _is_int64(obj["envelope_version"]) or obj["envelope_version"] != ENVELOPE_VERSION:
            raise EnvelopeError("invalid_record", "envelope_version is not the integer 1")
        if not isinstance(obj["id"], str):
            raise EnvelopeError("invalid_record", "member id is not a string")
        try:
            message_id = MessageId.from_text(obj["id"])
        except EnvelopeError:
            raise EnvelopeError("invalid_record", "id is not a ULID") from None
        for name in ("sender", "recipient"):
            if not isinstance(obj[name], str):
                raise EnvelopeError("invalid_record", f"member {name} is not a string")
        if not _is_int64(obj["created_at_ms"]):
            raise EnvelopeError("invalid_record", "member created_at_ms is not a 64-bit integer")
        binary = {}
        for name in ("ciphertext", "other_ciphertext_hash", "signature"):
            decoded = b64url_decode(obj[name])
            if decoded is None:
                raise EnvelopeError("invalid_record", f"member {name} is not unpadded base64url")
            binary[name] = decoded
        metadata = obj["metadata"]
        if not isinstance(metadata, dict):
            raise EnvelopeError("invalid_record", "member metadata is not an object")
        if "read_at_ms" not in metadata:
            raise EnvelopeError("invalid_record", "member metadata.read_at_ms is missing")
        read_at = metadata["read_at_ms"]
        if read_at is not None and not _is_int64(read_at):
            raise EnvelopeError("invalid_record", "member metadata.read_at_ms is neither a 64-bit integer nor null")
        extra = sorted(set(metadata) - {"read_at_ms"})
        if extra:
            raise EnvelopeError("invalid_record", f"unknown member metadata.{extra[0]}")
        try:
            sender = parse_public_key(obj["sender"])
        except MailroomKeyError as error:
            raise EnvelopeError("invalid_sender_key", f"the sender is not a valid public key ({error.reason})") from None
        try:
            recipient = parse_public_key(obj["recipient"])
        except MailroomKeyError as error:
            raise EnvelopeError(
                "invalid_recipient_key", f"the recipient is not a valid public key ({error.reason})"
            ) from None
        return cls(
            kind=kind,
            id=message_id,
            sender=sender,
            recipient=recipient,
            created_at_ms=obj["created_at_ms"],
            ciphertext=binary["ciphertext"],
            other_ciphertext_hash=binary["other_ciphertext_hash"],
            signature=binary["signature"],
            read_at_ms=read_at,
        )

    def to_json(self) -> str:
        """The compact JSON form, members in the spec's order, lowercase id, Textile key strings."""
        read_at = "null" if self.read_at_ms is None else str(int(self.read_at_ms))
        return (
            f'{{"format":"{JSON_FORMAT}","kind":"{self.kind}","envelope_version":{ENVELOPE_VERSION},'
            f'"id":"{self.id.text}","sender":"{self.sender_string}","recipient":"{self.recipient_string}",'
            f'"created_at_ms":{int(self.created_at_ms)},"ciphertext":"{b64url_encode(self.ciphertext)}",'
            f'"other_ciphertext_hash":"{b64url_encode(self.other_ciphertext_hash)}",'
            f'"signature":"{b64url_encode(self.signature)}","metadata":{{"read_at_ms":{read_at}}}}}'
        )

    # --- verification and opening ---

    def _check_field_lengths(self) -> None:
        if len(self.other_ciphertext_hash) != HASH_BYTES:
            raise EnvelopeError(
                "invalid_field_length", f"a ciphertext hash is {HASH_BYTES} bytes, got {len(self.other_ciphertext_hash)}"
            )
        if len(self.signature) != SIGNATURE_BYTES:
            raise EnvelopeError(
                "invalid_field_length", f"a signature is {SIGNATURE_BYTES} bytes, got {len(self.signature)}"
            )

    def verify(self, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES) -> None:
        """Checks the sender's signature over the record alone ("Reading a record", steps 3–6): raises
        ``invalid_message_id``, ``invalid_ciphertext_length``, ``body_too_large``, ``invalid_field_length`` or
        ``bad_signature``, the first that applies."""
        # A parsed record's keys are valid already (step 2); this only matters for hand-built records.
        _check_parties(self.sender, self.recipient)
        if self.created_at_ms != self.id.milliseconds:
            raise EnvelopeError(
                "invalid_message_id", f"created_at {self.created_at_ms} differs from the id's time {self.id.milliseconds}"
            )
        n = len(self.ciphertext)
        which = "recipient" if self.kind == "inbox" else "sender"
        if n < BOX_OVERHEAD:
            raise EnvelopeError(
                "invalid_ciphertext_length", f"the {which} copy is {n} bytes, below the {BOX_OVERHEAD}-byte box overhead"
            )
        if n - BOX_OVERHEAD > max_body_bytes:
            raise EnvelopeError(
                "body_too_large", f"the {which} copy holds a {n - BOX_OVERHEAD}-byte body; the limit is {max_body_bytes}"
            )
        self._check_field_lengths()
        own = ciphertext_hash(self.ciphertext)
        other = bytes(self.other_ciphertext_hash)
        recipient_hash, sender_hash = (own, other) if self.kind == "inbox" else (other, own)
        header = _header(self.id, bytes(self.sender), bytes(self.recipient), self.created_at_ms)
        if not signature_verifies(self.signature, signed_message(header, recipient_hash, sender_hash), self.sender):
            raise EnvelopeError("bad_signature", "the signature does not verify against the sender key")

    def open(self, identity: Identity, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES) -> bytes:
        """Checks that ``identity`` owns the record (``not_a_party``), verifies it, then decrypts its copy."""
        if not hmac.compare_digest(identity.public_key, bytes(self.owner)):
            raise EnvelopeError("not_a_party", f"the identity does not own this {self.kind} record")
        self.verify(max_body_bytes)
        return open_body(self.ciphertext, identity)

    def with_read_at(self, read_at_ms: int | None) -> "Record":
        """The same record with other metadata (which the signature does not cover)."""
        from dataclasses import replace

        return replace(self, read_at_ms=read_at_ms)


def _check_parties(sender: bytes, recipient: bytes) -> None:
    if not is_valid_public_key(sender):
        raise EnvelopeError("invalid_sender_key", "the sender key is not a valid Ed25519 point")
    if not is_valid_public_key(recipient):
        raise EnvelopeError("invalid_recipient_key", "the recipient key is not a valid Ed25519 point")


@dataclass(frozen=True)
class BatchRecord:
    """A batch entry in portable form (record format v2): ``value`` is a recipient record (``kind`` 'inbox') or a
    sender's copy ('sentbox'), byte for byte as the batch carried it; ``read_at_ms`` is unsigned metadata, a hint
    from the server. ``listed_id`` is the id the entry was listed under (the JSON form's ``id``), if any.

    Parsing checks structure only; :meth:`verify` checks the value alone (docs/ENVELOPE.md, "Verifying a batch
    record"), :meth:`open` verifies, then decrypts for the recipient (inbox) or the sender (sentbox)."""

    kind: str
    value: bytes = field(repr=False)
    read_at_ms: int | None = None
    listed_id: MessageId | None = None

    #: A batch entry (format v2); :class:`Record` answers False.
    is_batch = True

    def __post_init__(self) -> None:
        if self.kind not in _KIND_CODES:
            raise ValueError(f"kind must be 'inbox' or 'sentbox', not {self.kind!r}")

    # --- views (read from the value without verifying it: call verify() before trusting them) ---

    @property
    def id(self) -> MessageId | None:
        """The entry's id: the recipient's message id (inbox) or the batch id (sentbox); the listed id when the
        record came with one, else read from the value (``None`` if the value is too short to hold one)."""
        if self.listed_id is not None:
            return self.listed_id
        return _value_id(self.kind, self.value)

    @property
    def sender(self) -> bytes | None:
        """The batch's sender key as the value's header states it (``None`` if the value is too short)."""
        return self.value[18:50] if len(self.value) >= 50 else None

    @property
    def sender_string(self) -> str | None:
        return None if self.sender is None else public_key_textile_string(self.sender)

    @property
    def recipient(self) -> bytes | None:
        """An inbox entry's recipient key; ``None`` for a sentbox entry (a batch has many: verify() lists them)."""
        return self.value[259:291] if self.kind == "inbox" and len(self.value) >= 291 else None

    @property
    def recipient_string(self) -> str | None:
        return None if self.recipient is None else public_key_textile_string(self.recipient)

    @property
    def owner(self) -> bytes | None:
        """Whose mailbox the entry comes from: the recipient (inbox) or the sender (sentbox)."""
        return self.recipient if self.kind == "inbox" else self.sender

    @property
    def batch_id(self) -> MessageId | None:
        return MessageId.from_bytes(self.value[2:18]) if len(self.value) >= 18 else None

    @property
    def created_at_ms(self) -> int | None:
        return int.from_bytes(self.value[50:58], "big", signed=True) if len(self.value) >= 58 else None

    # --- binary form ---

    @classmethod
    def from_binary(cls, data: bytes, listed_id: MessageId | None = None) -> "BatchRecord":
        """Parses the binary form strictly: ``mrec`` | 0x02 | kind | value_len u32 | value | flags | read_at?
        (``invalid_record``, ``unsupported_record_version``)."""
        data = bytes(data)
        if len(data) < len(MAGIC) or data[:4] != MAGIC:
            raise EnvelopeError("invalid_record", "not a record: the first 4 bytes are not 'mrec'")
        if len(data) < 5:
            raise EnvelopeError("invalid_record", "the record ends before its version")
        if data[4] != BATCH_RECORD_VERSION:
            raise EnvelopeError("unsupported_record_version", f"record version {data[4]}; a batch record is version 2")
        if len(data) < 11:
            raise EnvelopeError("invalid_record", f"{len(data)} bytes; a batch record is at least 11")
        if data[5] not in _KIND_NAMES:
            raise EnvelopeError("invalid_record", f"kind {data[5]} is neither 1 (inbox) nor 2 (sentbox)")
        v = int.from_bytes(data[6:10], "big")
        if len(data) - 10 < v + 1:
            raise EnvelopeError("invalid_record", f"a {v}-byte value runs past the end")
        flags = data[10 + v]
        if flags & ~_READ_AT_FLAG:
            raise EnvelopeError("invalid_record", f"unknown metadata flags {flags:#04x}")
        expected = 11 + v + (8 if flags & _READ_AT_FLAG else 0)
        if len(data) != expected:
            raise EnvelopeError("invalid_record", f"{len(data)} bytes, the record's fields take {expected}")
        read_at = int.from_bytes(data[11 + v : 19 + v], "big", signed=True) if flags & _READ_AT_FLAG else None
        return cls(kind=_KIND_NAMES[data[5]], value=data[10 : 10 + v], read_at_ms=read_at, listed_id=listed_id)

    def to_binary(self) -> bytes:
        out = bytearray(MAGIC)
        out += bytes([BATCH_RECORD_VERSION, _KIND_CODES[self.kind]])
        out += len(self.value).to_bytes(4, "big") + self.value
        if self.read_at_ms is None:
            out.append(0)
        else:
            out.append(_READ_AT_FLAG)
            out += self.read_at_ms.to_bytes(8, "big", signed=True)
        return bytes(out)

    # --- JSON form (the HTTP API's wrapper) ---

    @classmethod
    def from_json(cls, source: str | bytes | dict) -> "BatchRecord":
        """Parses ``{"format":"mailroom.record.v2","kind":…,"id":…,"record":…}`` strictly: exactly these members,
        ``kind`` as the binary form's, ``id`` a ULID, ``record`` the binary form in unpadded base64url."""
        obj = _record_object(
            source, BATCH_JSON_FORMAT, BATCH_RECORD_VERSION, _BATCH_MEMBERS, "a batch record is v2", separator=";"
        )
        kind, text_id, text = obj["kind"], obj["id"], obj["record"]
        if not isinstance(kind, str) or kind not in _KIND_CODES:
            raise EnvelopeError("invalid_record", "kind is neither inbox nor sentbox")
        if not isinstance(text_id, str):
            raise EnvelopeError("invalid_record", "member id is not a string")
        try:
            listed_id = MessageId.from_text(text_id)
        except EnvelopeError:
            raise EnvelopeError("invalid_record", "id is not a ULID") from None
        binary = b64url_decode(text)
        if binary is None:
            raise EnvelopeError("invalid_record", "member record is not unpadded base64url")
        record = cls.from_binary(binary, listed_id=listed_id)
        if record.kind != kind:
            raise EnvelopeError("invalid_record", f"kind {kind} differs from the binary record's {record.kind}")
        return record

    def to_json(self) -> str:
        """The JSON form the API writes: members in order, lowercase id."""
        if self.id is None:
            raise EnvelopeError("invalid_record", "the value is too short to hold the entry's id")
        return (
            f'{{"format":"{BATCH_JSON_FORMAT}","kind":"{self.kind}","id":"{self.id.text}",'
            f'"record":"{b64url_encode(self.to_binary())}"}}'
        )

    # --- verification and opening ---

    def verify(
        self,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        *,
        max_recipients: int = MAX_RECIPIENTS,
        verified_roots: set | None = None,
    ) -> RecipientRecord | SenderCopy:
        """Verifies the value alone: a recipient record (inbox) or a sender's copy (sentbox), raising the first
        failure in docs/ENVELOPE.md's order (a value of the other part is ``invalid_batch``). With a listed id, a
        value whose own id differs (the message id, or the batch id) is ``invalid_record``."""
        check = verify_recipient_record if self.kind == "inbox" else verify_sender_copy
        verified = check(
            self.value, max_body_bytes=max_body_bytes, max_recipients=max_recipients, verified_roots=verified_roots
        )
        own = verified.message_id if self.kind == "inbox" else verified.batch_id
        if self.listed_id is not None and self.listed_id != own:
            raise EnvelopeError("invalid_record", f"listed as {self.listed_id.text}, the record is {own.text}")
        return verified

    def open(self, identity: Identity, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES) -> bytes:
        """Verifies, then decrypts for its owner: the recipient of an inbox entry, the sender of a sentbox entry
        (``not_a_party`` otherwise, ``decryption_failed`` if it does not open)."""
        return self.verify(max_body_bytes).open(identity)

    def with_read_at(self, read_at_ms: int | None) -> "BatchRecord":
        from dataclasses import replace

        return replace(self, read_at_ms=read_at_ms)


#: What a page of the API lists: a single message's record or a batch entry.
AnyRecord = Record | BatchRecord


def _value_id(kind: str, value: bytes) -> MessageId | None:
    start = BATCH_RECORD_ID_OFFSETS[kind]
    return MessageId.from_bytes(value[start : start + 16]) if len(value) >= start + 16 else None


def _format_version(obj: Any) -> int | None:
    fmt = obj.get("format") if isinstance(obj, dict) else None
    match = _FORMAT_VN.fullmatch(fmt) if isinstance(fmt, str) else None
    return int(match.group(1)) if match else None


def parse_record(data: bytes | str | dict) -> AnyRecord:
    """Reads a record of either format in either form: binary if it starts with the magic ``mrec`` (version byte 1:
    :class:`Record`, 2: :class:`BatchRecord`), JSON otherwise (``format`` ``mailroom.record.v1`` or ``.v2``)."""
    if isinstance(data, (bytes, bytearray, memoryview)):
        data = bytes(data)
        if data[:4] == MAGIC:
            if len(data) > 4 and data[4] == BATCH_RECORD_VERSION:
                return BatchRecord.from_binary(data)
            return Record.from_binary(data)
    obj = data if isinstance(data, dict) else _parse_json(data)
    if _format_version(obj) == BATCH_RECORD_VERSION:
        return BatchRecord.from_json(obj)
    return Record.from_json(obj)


def record_from_envelope(envelope: Envelope, kind: str, read_at_ms: int | None = None) -> Record:
    """The record the worker stores for a verified envelope in the mailbox of ``kind`` ('inbox' or 'sentbox')."""
    if kind == "inbox":
        own, other = envelope.recipient_ct, envelope.sender_ct_hash
    elif kind == "sentbox":
        own, other = envelope.sender_ct, envelope.recipient_ct_hash
    else:
        raise ValueError(f"kind must be 'inbox' or 'sentbox', not {kind!r}")
    return Record(
        kind=kind,
        id=envelope.id,
        sender=envelope.sender,
        recipient=envelope.recipient,
        created_at_ms=envelope.created_at_ms,
        ciphertext=own,
        other_ciphertext_hash=other,
        signature=envelope.signature,
        read_at_ms=read_at_ms,
    )
