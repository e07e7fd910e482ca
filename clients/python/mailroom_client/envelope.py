"""Envelope format v1: seal, verify (strictly, in the documented order) and open (docs/ENVELOPE.md).

Layout (big-endian; ``n`` = body length + 72)::

    version(1)=0x01 | id(16) | sender(32) | recipient(32) | created_at(8, signed ms) |
    recipient_ct_len(4)=n | recipient_ct(n) | sender_ct_len(4)=n | sender_ct(n) | signature(64)

The signature is Ed25519 over ``M`` = ``b"mailroom/envelope/v1\\0"`` || envelope bytes 0..88 ||
BLAKE2b-256(recipient_ct) || BLAKE2b-256(sender_ct). Every verdict on keys and signatures is libsodium's.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from functools import lru_cache

import nacl.bindings
import nacl.exceptions
import nacl.utils

from .errors import EnvelopeError, MailroomKeyError
from .keys import Identity, is_valid_public_key, parse_public_key, public_key_textile_string, validate_public_key
from .ulid import MAX_MILLISECONDS, MessageId

__all__ = [
    "Envelope",
    "EnvelopeError",
    "MailroomKeyError",
    "DEFAULT_MAX_BODY_BYTES",
    "SIGNED_MESSAGE_PREFIX",
    "BOX_OVERHEAD",
    "seal",
    "verify",
    "open_envelope",
    "kafka_key",
    "seal_body",
    "open_body",
    "signed_message",
    "ciphertext_hash",
    "signature_verifies",
]

VERSION = 1
DEFAULT_MAX_BODY_BYTES = 65536
SIGNED_MESSAGE_PREFIX = b"mailroom/envelope/v1\x00"
#: nonce(24) + ephemeral public key(32) + Poly1305 tag(16).
BOX_OVERHEAD = 72
HEADER_BYTES = 89  # version, id, sender, recipient, created_at
SIGNATURE_BYTES = 64
HASH_BYTES = 32
_NONCE = nacl.bindings.crypto_box_NONCEBYTES  # 24
_EPHEMERAL = nacl.bindings.crypto_box_PUBLICKEYBYTES  # 32


# --- body encryption (Textile-compatible) ---------------------------------------------------------------------


@lru_cache(maxsize=8192)
def _curve_public_key(ed25519_public_key: bytes) -> bytes:
    return nacl.bindings.crypto_sign_ed25519_pk_to_curve25519(ed25519_public_key)


def seal_body(body: bytes, recipient_public_key: bytes) -> bytes:
    """Seals ``body`` to an Ed25519 public key exactly as Textile Hub does:
    ``nonce(24) || ephemeral_public(32) || tag(16) || ciphertext``, fresh ephemeral key and nonce each call."""
    curve = _curve_public_key(validate_public_key(recipient_public_key))
    ephemeral_public, ephemeral_secret = nacl.bindings.crypto_box_keypair()
    nonce = nacl.utils.random(_NONCE)
    boxed = nacl.bindings.crypto_box(bytes(body), nonce, curve, ephemeral_secret)  # tag || ciphertext
    return nonce + ephemeral_public + boxed


def open_body(sealed: bytes, identity: Identity) -> bytes:
    """Opens a body sealed to ``identity`` (``invalid_ciphertext_length``, ``decryption_failed``)."""
    sealed = bytes(sealed)
    if len(sealed) < BOX_OVERHEAD:
        raise EnvelopeError(
            "invalid_ciphertext_length", f"a sealed body is at least {BOX_OVERHEAD} bytes, got {len(sealed)}"
        )
    nonce = sealed[:_NONCE]
    ephemeral_public = sealed[_NONCE : _NONCE + _EPHEMERAL]
    try:
        return nacl.bindings.crypto_box_open(
            sealed[_NONCE + _EPHEMERAL :], nonce, ephemeral_public, identity.curve_secret_key()
        )
    except nacl.exceptions.CryptoError:
        raise EnvelopeError("decryption_failed", "the body does not open with this identity's key") from None


# --- the signed message ---------------------------------------------------------------------------------------


def ciphertext_hash(ciphertext: bytes) -> bytes:
    """BLAKE2b-256, unkeyed (libsodium's ``crypto_generichash`` with a 32-byte output)."""
    return hashlib.blake2b(bytes(ciphertext), digest_size=HASH_BYTES).digest()


def _header(message_id: MessageId, sender: bytes, recipient: bytes, created_at_ms: int) -> bytes:
    return (
        bytes([VERSION]) + message_id.bytes + sender + recipient + created_at_ms.to_bytes(8, "big", signed=True)
    )


def signed_message(header: bytes, recipient_ct_hash: bytes, sender_ct_hash: bytes) -> bytes:
    """``M``: the 174 bytes the sender signs, from envelope bytes 0..88 and the two copies' hashes."""
    if len(header) != HEADER_BYTES or len(recipient_ct_hash) != HASH_BYTES or len(sender_ct_hash) != HASH_BYTES:
        raise ValueError("signed_message needs an 89-byte header and two 32-byte hashes")
    return SIGNED_MESSAGE_PREFIX + bytes(header) + bytes(recipient_ct_hash) + bytes(sender_ct_hash)


def signature_verifies(signature: bytes, message: bytes, public_key: bytes) -> bool:
    """libsodium's ``crypto_sign_verify_detached`` verdict (through ``crypto_sign_open``)."""
    if len(signature) != SIGNATURE_BYTES or len(public_key) != 32:
        return False
    try:
        nacl.bindings.crypto_sign_open(bytes(signature) + bytes(message), bytes(public_key))
    except nacl.exceptions.BadSignatureError:
        return False
    return True


# --- envelopes ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Envelope:
    """A verified envelope. Only :func:`verify` makes one; its fields are what the bytes say."""

    id: MessageId
    sender: bytes
    recipient: bytes
    created_at_ms: int
    recipient_ct: bytes = field(repr=False)
    sender_ct: bytes = field(repr=False)
    recipient_ct_hash: bytes = field(repr=False)
    sender_ct_hash: bytes = field(repr=False)
    signature: bytes = field(repr=False)
    raw: bytes = field(repr=False)

    @property
    def version(self) -> int:
        return self.raw[0]

    @property
    def sender_string(self) -> str:
        return public_key_textile_string(self.sender)

    @property
    def recipient_string(self) -> str:
        return public_key_textile_string(self.recipient)

    @property
    def body_length(self) -> int:
        return len(self.recipient_ct) - BOX_OVERHEAD

    @property
    def signed_message(self) -> bytes:
        return signed_message(self.raw[:HEADER_BYTES], self.recipient_ct_hash, self.sender_ct_hash)

    @property
    def kafka_key(self) -> bytes:
        return self.recipient

    def open(self, identity: Identity) -> bytes:
        return open_envelope(self, identity)


def seal(
    sender: Identity,
    recipient_public_key: bytes | str,
    body: bytes,
    *,
    message_id: MessageId | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
) -> bytes:
    """Seals ``body`` from ``sender`` to ``recipient_public_key`` (32 bytes, a Textile key string or 64 hex
    digits) and signs it: the envelope v1 bytes. ``message_id`` defaults to a new monotonic id; ``created_at``
    is always the id's time. Raises ``EnvelopeError('body_too_large')`` or :class:`MailroomKeyError`."""
    body = bytes(body)
    if len(body) > max_body_bytes:
        raise EnvelopeError("body_too_large", f"body of {len(body)} bytes exceeds the limit of {max_body_bytes}")
    if isinstance(recipient_public_key, str):
        recipient = parse_public_key(recipient_public_key)
    else:
        recipient = validate_public_key(recipient_public_key)
    if message_id is None:
        message_id = MessageId.generate()
    created_at_ms = message_id.milliseconds
    if created_at_ms > MAX_MILLISECONDS:  # cannot happen for a MessageId; kept for clarity
        raise EnvelopeError("invalid_message_id", "the id's time is outside ULID's 48-bit range")
    sender_pk = sender.public_key
    recipient_ct = seal_body(body, recipient)
    sender_ct = seal_body(body, sender_pk)
    header = _header(message_id, sender_pk, recipient, created_at_ms)
    message = signed_message(header, ciphertext_hash(recipient_ct), ciphertext_hash(sender_ct))
    signature = sender.sign_detached(message)
    n = len(recipient_ct).to_bytes(4, "big")
    return header + n + recipient_ct + n + sender_ct + signature


def verify(data: bytes, *, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES) -> Envelope:
    """Parses and verifies envelope bytes, reporting the **first** failure in docs/ENVELOPE.md's order
    ("Parsing and verification", steps 1–10). Raises :class:`EnvelopeError`."""
    data = bytes(data)
    length = len(data)
    max_body = max_body_bytes
    # 1.
    if length == 0:
        raise EnvelopeError("truncated", "the envelope is empty")
    # 2.
    if data[0] != VERSION:
        raise EnvelopeError("unsupported_version", f"envelope version {data[0]}, this client reads version 1")
    # 3.
    if length < 93:
        raise EnvelopeError("truncated", f"{length} bytes; the header and recipient_ct_len take 93")
    # 4.
    id_time = int.from_bytes(data[1:7], "big")
    created_at = int.from_bytes(data[81:89], "big", signed=True)
    if created_at != id_time:
        raise EnvelopeError("invalid_message_id", f"created_at {created_at} differs from the id's time {id_time}")
    # 5.
    r = int.from_bytes(data[89:93], "big")
    if r < BOX_OVERHEAD:
        raise EnvelopeError("invalid_ciphertext_length", f"recipient_ct_len {r} is below the {BOX_OVERHEAD}-byte box overhead")
    if r - BOX_OVERHEAD > max_body:
        raise EnvelopeError("body_too_large", f"recipient copy holds a {r - BOX_OVERHEAD}-byte body; the limit is {max_body}")
    if length - 93 < r + 4:
        raise EnvelopeError("truncated", f"the {r}-byte recipient copy at offset 93 and sender_ct_len do not fit in {length} bytes")
    # 6.
    s_offset = 93 + r
    s = int.from_bytes(data[s_offset : s_offset + 4], "big")
    if s < BOX_OVERHEAD:
        raise EnvelopeError("invalid_ciphertext_length", f"sender_ct_len {s} is below the {BOX_OVERHEAD}-byte box overhead")
    if s - BOX_OVERHEAD > max_body:
        raise EnvelopeError("body_too_large", f"sender copy holds a {s - BOX_OVERHEAD}-byte body; the limit is {max_body}")
    if s != r:
        raise EnvelopeError("invalid_ciphertext_length", f"sender_ct_len {s} differs from recipient_ct_len {r}")
    if length - (97 + r) < s + SIGNATURE_BYTES:
        raise EnvelopeError("truncated", f"the {s}-byte sender copy at offset {97 + r} and the signature do not fit in {length} bytes")
    # 7.
    if length != 161 + 2 * r:
        raise EnvelopeError("trailing_bytes", f"{length - (161 + 2 * r)} bytes follow the signature")
    sender = data[17:49]
    recipient = data[49:81]
    # 8.
    if not is_valid_public_key(sender):
        raise EnvelopeError("invalid_sender_key", "the sender key is not a valid Ed25519 point")
    # 9.
    if not is_valid_public_key(recipient):
        raise EnvelopeError("invalid_recipient_key", "the recipient key is not a valid Ed25519 point")
    # 10.
    recipient_ct = data[93 : 93 + r]
    sender_ct = data[97 + r : 97 + 2 * r]
    signature = data[97 + 2 * r :]
    recipient_ct_hash = ciphertext_hash(recipient_ct)
    sender_ct_hash = ciphertext_hash(sender_ct)
    if not signature_verifies(signature, signed_message(data[:HEADER_BYTES], recipient_ct_hash, sender_ct_hash), sender):
        raise EnvelopeError("bad_signature", "the signature does not verify against the sender key")
    return Envelope(
        id=MessageId.from_bytes(data[1:17]),
        sender=sender,
        recipient=recipient,
        created_at_ms=created_at,
        recipient_ct=recipient_ct,
        sender_ct=sender_ct,
        recipient_ct_hash=recipient_ct_hash,
        sender_ct_hash=sender_ct_hash,
        signature=signature,
        raw=data,
    )


def open_envelope(envelope: Envelope, identity: Identity) -> bytes:
    """Opens the copy of a verified envelope that ``identity`` is a party to: the recipient copy if it is the
    recipient (also for a message to oneself), else the sender copy; ``not_a_party`` if neither."""
    me = identity.public_key
    if hmac.compare_digest(me, envelope.recipient):
        return open_body(envelope.recipient_ct, identity)
    if hmac.compare_digest(me, envelope.sender):
        return open_body(envelope.sender_ct, identity)
    raise EnvelopeError("not_a_party", "the identity is neither the sender nor the recipient")


def kafka_key(envelope_bytes: bytes) -> bytes:
    """The Kafka record key of an envelope: the recipient's raw 32-byte public key (bytes 49–80)."""
    data = bytes(envelope_bytes)
    if len(data) < 81:
        raise EnvelopeError("truncated", f"{len(data)} bytes; the recipient key ends at offset 81")
    return data[49:81]

