"""Batch envelopes, format v2: seal, verify (strictly, in the documented order) and open
(docs/ENVELOPE.md, "Batch envelopes (format v2)").

One sender, 1..10,000 recipients, one Ed25519 signature over ``b"mailroom/batch/v2\\0" || header(158) || root(32)``,
where the root is RFC 9162's Merkle tree hash (BLAKE2b-256, leaf prefix 0x00, node prefix 0x01) of per-recipient
leaves. A **shared** batch encrypts the body once (XChaCha20-Poly1305 under a random content key) and wraps the key
to each recipient (``crypto_box_beforenm`` from one ephemeral X25519 key + ``crypto_box_easy_afternm``); a
**personalised** batch seals each body as envelope v1 does. Each recipient record verifies alone; the sender's copy
(one per batch) carries the body sealed to the sender and the recipients list.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field

import nacl.bindings
import nacl.exceptions
import nacl.utils

from .envelope import BOX_OVERHEAD, DEFAULT_MAX_BODY_BYTES, _curve_public_key, open_body, seal_body, signature_verifies
from .errors import EnvelopeError
from .keys import Identity, is_valid_public_key, parse_public_key, validate_public_key
from .ulid import MessageId

__all__ = [
    "SHARED",
    "PERSONALISED",
    "MAX_RECIPIENTS",
    "SIGNATURE_DOMAIN",
    "BATCH_VERIFICATION_REASONS",
    "Batch",
    "RecipientRecord",
    "SenderCopy",
    "seal_shared",
    "seal_personalised",
    "verify_recipient_record",
    "verify_sender_copy",
    "leaf_hash",
    "node_hash",
    "merkle_root",
    "merkle_path",
    "root_from_path",
]

VERSION = 2
SHARED = 1
PERSONALISED = 2
KIND_NAMES = {SHARED: "shared", PERSONALISED: "personalised"}
MAX_RECIPIENTS = 10_000
SIGNATURE_DOMAIN = b"mailroom/batch/v2\x00"
HEADER_BYTES = 158
HEAD_BYTES = HEADER_BYTES + 32 + 64  # header, root, signature
RECIPIENT_PART = 1
SENDER_PART = 2
ITEM_OFFSET = HEAD_BYTES + 1 + 4 + 32 + 16 + 8 + 4  # 319
SENDER_COPY_OFFSET = HEAD_BYTES + 1 + 4  # 259
LIST_ENTRY_BYTES = 80
WRAPPED_KEY_BYTES = 48
PAYLOAD_OVERHEAD = 40  # nonce(24) + tag(16)
_ZERO32 = bytes(32)
#: Where a value holds the id its mailbox entry is listed under: a recipient record's message id, a sender copy's
#: batch id (portable batch records, docs/ENVELOPE.md).
BATCH_RECORD_ID_OFFSETS = {"inbox": 291, "sentbox": 2}

#: Every reason the two verifiers raise, in the order their checks run.
BATCH_VERIFICATION_REASONS = (
    "truncated",
    "unsupported_version",
    "invalid_batch",
    "batch_too_large",
    "invalid_message_id",
    "invalid_ciphertext_length",
    "body_too_large",
    "trailing_bytes",
    "invalid_sender_key",
    "invalid_recipient_key",
    "payload_mismatch",
    "bad_merkle_path",
    "bad_signature",
)


def _h(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=32).digest()


# --- Merkle tree (RFC 9162 §2.1 with BLAKE2b-256) ------------------------------------------------------------


def leaf_bytes(
    batch_id: bytes,
    index: int,
    recipient: bytes,
    message_id: bytes,
    created_at_ms: int,
    item_hash: bytes,
    payload_hash: bytes,
) -> bytes:
    """The 140 leaf bytes."""
    return (
        batch_id
        + index.to_bytes(4, "big")
        + recipient
        + message_id
        + created_at_ms.to_bytes(8, "big", signed=True)
        + item_hash
        + payload_hash
    )


def leaf_hash(leaf: bytes) -> bytes:
    return _h(b"\x00" + leaf)


def node_hash(left: bytes, right: bytes) -> bytes:
    return _h(b"\x01" + left + right)


def merkle_root(leaf_hashes: list[bytes]) -> bytes:
    """RFC 9162's MTH: k = the largest power of two below n; node(MTH(first k), MTH(rest))."""
    n = len(leaf_hashes)
    if n == 0:
        raise ValueError("a tree has at least one leaf")
    if n == 1:
        return leaf_hashes[0]
    k = 1
    while k * 2 < n:
        k *= 2
    return node_hash(merkle_root(leaf_hashes[:k]), merkle_root(leaf_hashes[k:]))


def _levels(leaf_hashes: list[bytes]) -> list[list[bytes]]:
    levels = [list(leaf_hashes)]
    while len(levels[-1]) > 1:
        below = levels[-1]
        above = [node_hash(below[i], below[i + 1]) for i in range(0, len(below) - 1, 2)]
        if len(below) % 2:
            above.append(below[-1])
        levels.append(above)
    return levels


def merkle_path(leaf_hashes: list[bytes], index: int) -> list[bytes]:
    """RFC 9162's PATH(index, D[n]): sibling hashes from the leaf up."""
    return _path_from_levels(_levels(leaf_hashes), index)


def _path_from_levels(levels: list[list[bytes]], index: int) -> list[bytes]:
    path = []
    i = index
    for level in levels[:-1]:
        if (i ^ 1) < len(level):
            path.append(level[i ^ 1])
        i >>= 1
    return path


def root_from_path(leaf: bytes, index: int, size: int, path: list[bytes]) -> bytes | None:
    """RFC 9162 §2.1.3.2: the root the path leads to, or None if it cannot belong to (index, size)."""
    if not 0 <= index < size:
        return None
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return r if sn == 0 else None


# --- layout helpers -------------------------------------------------------------------------------------------


def _wrap_nonce(batch_id: bytes, index: int) -> bytes:
    return batch_id + index.to_bytes(4, "big") + bytes(4)


def _header(
    kind: int,
    batch_id: MessageId,
    sender: bytes,
    count: int,
    ephemeral: bytes,
    payload_hash: bytes,
    sender_copy_hash: bytes,
) -> bytes:
    return (
        bytes([VERSION, kind])
        + batch_id.bytes
        + sender
        + batch_id.milliseconds.to_bytes(8, "big", signed=True)
        + count.to_bytes(4, "big")
        + ephemeral
        + payload_hash
        + sender_copy_hash
    )


def signed_message(header: bytes, root: bytes) -> bytes:
    return SIGNATURE_DOMAIN + header + root


@dataclass(frozen=True)
class _Head:
    kind: int
    batch_id: MessageId
    sender: bytes
    created_at_ms: int
    recipient_count: int
    ephemeral_public: bytes
    payload_hash: bytes
    sender_copy_hash: bytes
    root: bytes
    signature: bytes
    header: bytes


def _parse_head(data: bytes, part: int, max_recipients: int) -> _Head:
    length = len(data)
    if length == 0:
        raise EnvelopeError("truncated", "the value is empty")
    if data[0] != VERSION:
        raise EnvelopeError("unsupported_version", f"version {data[0]}; a batch record is version 2")
    if length < HEAD_BYTES + 1:
        raise EnvelopeError("truncated", f"{length} bytes; the head and part type take {HEAD_BYTES + 1}")
    kind = data[1]
    if kind not in KIND_NAMES:
        raise EnvelopeError("invalid_batch", f"kind {kind} is neither 1 (shared) nor 2 (personalised)")
    count = int.from_bytes(data[58:62], "big")
    if count == 0:
        raise EnvelopeError("invalid_batch", "a batch has at least one recipient")
    if count > min(max_recipients, MAX_RECIPIENTS):
        limit = min(max_recipients, MAX_RECIPIENTS)
        raise EnvelopeError("batch_too_large", f"{count} recipients; the limit is {limit}")
    ephemeral, payload_hash = data[62:94], data[94:126]
    if kind == PERSONALISED and (ephemeral != _ZERO32 or payload_hash != _ZERO32):
        raise EnvelopeError("invalid_batch", "a personalised batch has an all-zero ephemeral key and payload hash")
    batch_id = MessageId.from_bytes(data[2:18])
    created_at = int.from_bytes(data[50:58], "big", signed=True)
    if created_at != batch_id.milliseconds:
        raise EnvelopeError("invalid_message_id", f"created_at {created_at} differs from the batch id's time")
    if data[HEAD_BYTES] != part:
        raise EnvelopeError("invalid_batch", f"part type {data[HEAD_BYTES]}, expected {part}")
    return _Head(
        kind=kind,
        batch_id=batch_id,
        sender=data[18:50],
        created_at_ms=created_at,
        recipient_count=count,
        ephemeral_public=ephemeral,
        payload_hash=payload_hash,
        sender_copy_hash=data[126:158],
        root=data[158:190],
        signature=data[190:254],
        header=data[:HEADER_BYTES],
    )


def _check_signature(head: _Head, verified_roots: set | None) -> None:
    message = signed_message(head.header, head.root)
    key = _h(message + head.signature)
    if verified_roots is not None and key in verified_roots:
        return
    if not signature_verifies(head.signature, message, head.sender):
        raise EnvelopeError("bad_signature", "the batch signature does not verify against the sender key")
    if verified_roots is not None:
        verified_roots.add(key)


def _check_sealed_length(n: int, max_body: int, which: str) -> None:
    if n < BOX_OVERHEAD:
        raise EnvelopeError("invalid_ciphertext_length", f"{which} copy of {n} bytes is shorter than a sealed box")
    if n - BOX_OVERHEAD > max_body:
        raise EnvelopeError("body_too_large", f"{which} copy holds a {n - BOX_OVERHEAD}-byte body; limit {max_body}")


# --- verified values ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RecipientRecord:
    """A verified recipient record; only :func:`verify_recipient_record` and sealing make one."""

    kind: int
    batch_id: MessageId
    sender: bytes
    created_at_ms: int
    recipient_count: int
    index: int
    recipient: bytes
    message_id: MessageId
    ephemeral_public: bytes = field(repr=False)
    payload_hash: bytes = field(repr=False)
    root: bytes = field(repr=False)
    signature: bytes = field(repr=False)
    item: bytes = field(repr=False)
    path: tuple[bytes, ...] = field(repr=False)
    payload: bytes = field(repr=False)
    leaf: bytes = field(repr=False)
    raw: bytes = field(repr=False)

    @property
    def kafka_key(self) -> bytes:
        return self.recipient

    def open(self, identity: Identity) -> bytes:
        """The body, for the recipient only (``not_a_party``, ``decryption_failed``)."""
        if not hmac.compare_digest(identity.public_key, self.recipient):
            raise EnvelopeError("not_a_party", "the identity is not this record's recipient")
        if self.kind == PERSONALISED:
            return open_body(self.item, identity)
        try:
            shared = nacl.bindings.crypto_box_beforenm(self.ephemeral_public, identity.curve_secret_key())
            content_key = nacl.bindings.crypto_box_open_easy_afternm(
                self.item, _wrap_nonce(self.batch_id.bytes, self.index), shared
            )
            return nacl.bindings.crypto_aead_xchacha20poly1305_ietf_decrypt(
                self.payload[24:], self.batch_id.bytes, self.payload[:24], content_key
            )
        except nacl.exceptions.CryptoError:
            raise EnvelopeError("decryption_failed", "the shared body does not open with this identity's key") from None


@dataclass(frozen=True)
class SenderCopy:
    """A verified sender's copy (the sentbox entry of a batch)."""

    kind: int
    batch_id: MessageId
    sender: bytes
    created_at_ms: int
    root: bytes = field(repr=False)
    signature: bytes = field(repr=False)
    sender_ct: bytes = field(repr=False)
    #: (recipient key, message id, item hash) per leaf, in order.
    recipients: tuple[tuple[bytes, MessageId, bytes], ...] = field(repr=False)
    raw: bytes = field(repr=False)

    def open(self, identity: Identity) -> bytes:
        if not hmac.compare_digest(identity.public_key, self.sender):
            raise EnvelopeError("not_a_party", "the identity is not the batch's sender")
        return open_body(self.sender_ct, identity)


def verify_recipient_record(
    data: bytes,
    *,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    max_recipients: int = MAX_RECIPIENTS,
    verified_roots: set | None = None,
) -> RecipientRecord:
    """Parses and verifies a recipient record alone, reporting the first failure in docs/ENVELOPE.md's order.
    ``verified_roots`` (a set) remembers heads whose signature verified, so a batch's signature is checked once."""
    data = bytes(data)
    head = _parse_head(data, RECIPIENT_PART, max_recipients)
    length = len(data)
    if length < ITEM_OFFSET:
        raise EnvelopeError("truncated", f"{length} bytes; a recipient record's fixed fields take {ITEM_OFFSET}")
    index = int.from_bytes(data[255:259], "big")
    recipient = data[259:291]
    message_id = MessageId.from_bytes(data[291:307])
    created_at = int.from_bytes(data[307:315], "big", signed=True)
    if created_at != head.created_at_ms or message_id.milliseconds != created_at:
        raise EnvelopeError("invalid_message_id", "the message's created_at and id time must equal the batch's")
    m = int.from_bytes(data[315:319], "big")
    if head.kind == SHARED:
        if m != WRAPPED_KEY_BYTES:
            raise EnvelopeError("invalid_ciphertext_length", f"a wrapped content key is 48 bytes, got {m}")
    else:
        _check_sealed_length(m, max_body_bytes, "recipient")
    if length - ITEM_OFFSET < m + 1:
        raise EnvelopeError("truncated", "the item and the path length run past the end")
    offset = ITEM_OFFSET + m
    p = data[offset]
    offset += 1
    if length - offset < 32 * p + 4:
        raise EnvelopeError("truncated", f"a path of {p} hashes and the payload length run past the end")
    path = tuple(data[offset + 32 * k : offset + 32 * k + 32] for k in range(p))
    offset += 32 * p
    payload_len = int.from_bytes(data[offset : offset + 4], "big")
    offset += 4
    if head.kind == SHARED:
        if payload_len < PAYLOAD_OVERHEAD:
            raise EnvelopeError(
                "invalid_ciphertext_length", f"a {payload_len}-byte payload is shorter than nonce and tag"
            )
        if payload_len - PAYLOAD_OVERHEAD > max_body_bytes:
            raise EnvelopeError("body_too_large", f"the payload holds a {payload_len - PAYLOAD_OVERHEAD}-byte body")
    elif payload_len != 0:
        raise EnvelopeError("invalid_ciphertext_length", "a personalised batch carries no shared payload")
    if length - offset < payload_len:
        raise EnvelopeError("truncated", f"the {payload_len}-byte payload runs past the end")
    if length - offset > payload_len:
        raise EnvelopeError("trailing_bytes", f"{length - offset - payload_len} bytes follow the payload")
    if not is_valid_public_key(head.sender):
        raise EnvelopeError("invalid_sender_key", "the sender key is not a valid Ed25519 point")
    if not is_valid_public_key(recipient):
        raise EnvelopeError("invalid_recipient_key", "the recipient key is not a valid Ed25519 point")
    payload = data[offset:]
    if head.kind == SHARED and _h(payload) != head.payload_hash:
        raise EnvelopeError("payload_mismatch", "the payload does not hash to the header's payload_hash")
    item = data[ITEM_OFFSET : ITEM_OFFSET + m]
    leaf = leaf_bytes(head.batch_id.bytes, index, recipient, message_id.bytes, created_at, _h(item), head.payload_hash)
    if root_from_path(leaf_hash(leaf), index, head.recipient_count, list(path)) != head.root:
        raise EnvelopeError("bad_merkle_path", f"leaf {index} and its path do not lead to the batch's root")
    _check_signature(head, verified_roots)
    return RecipientRecord(
        kind=head.kind,
        batch_id=head.batch_id,
        sender=head.sender,
        created_at_ms=created_at,
        recipient_count=head.recipient_count,
        index=index,
        recipient=recipient,
        message_id=message_id,
        ephemeral_public=head.ephemeral_public,
        payload_hash=head.payload_hash,
        root=head.root,
        signature=head.signature,
        item=item,
        path=path,
        payload=payload,
        leaf=leaf,
        raw=data,
    )


def verify_sender_copy(
    data: bytes,
    *,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    max_recipients: int = MAX_RECIPIENTS,
    verified_roots: set | None = None,
) -> SenderCopy:
    """Parses and verifies a sender's copy alone, reporting the first failure in docs/ENVELOPE.md's order."""
    data = bytes(data)
    head = _parse_head(data, SENDER_PART, max_recipients)
    length = len(data)
    if length < SENDER_COPY_OFFSET:
        raise EnvelopeError("truncated", f"{length} bytes; a sender copy's fixed fields take {SENDER_COPY_OFFSET}")
    s = int.from_bytes(data[255:259], "big")
    _check_sealed_length(s, max_body_bytes, "sender")
    list_len = LIST_ENTRY_BYTES * head.recipient_count
    if length - SENDER_COPY_OFFSET < s + list_len:
        raise EnvelopeError("truncated", "the sender copy and the recipients list run past the end")
    if length - SENDER_COPY_OFFSET > s + list_len:
        raise EnvelopeError("trailing_bytes", "bytes follow the recipients list")
    start = SENDER_COPY_OFFSET + s
    entries = []
    for i in range(head.recipient_count):
        at = start + LIST_ENTRY_BYTES * i
        message_id = MessageId.from_bytes(data[at + 32 : at + 48])
        if message_id.milliseconds != head.created_at_ms:
            raise EnvelopeError("invalid_message_id", f"recipient {i}'s message id time differs from the batch's")
        entries.append((data[at : at + 32], message_id, data[at + 48 : at + 80]))
    if not is_valid_public_key(head.sender):
        raise EnvelopeError("invalid_sender_key", "the sender key is not a valid Ed25519 point")
    for i, (key, _, _) in enumerate(entries):
        if not is_valid_public_key(key):
            raise EnvelopeError("invalid_recipient_key", f"recipient {i}'s key is not a valid Ed25519 point")
    sender_ct = data[SENDER_COPY_OFFSET:start]
    if _h(sender_ct) != head.sender_copy_hash:
        raise EnvelopeError("payload_mismatch", "the sender's copy does not hash to the header's sender_copy_hash")
    leaves = [
        leaf_hash(leaf_bytes(head.batch_id.bytes, i, key, mid.bytes, head.created_at_ms, item_hash, head.payload_hash))
        for i, (key, mid, item_hash) in enumerate(entries)
    ]
    if merkle_root(leaves) != head.root:
        raise EnvelopeError("bad_merkle_path", "the recipients list does not lead to the batch's root")
    _check_signature(head, verified_roots)
    return SenderCopy(
        kind=head.kind,
        batch_id=head.batch_id,
        sender=head.sender,
        created_at_ms=head.created_at_ms,
        root=head.root,
        signature=head.signature,
        sender_ct=sender_ct,
        recipients=tuple(entries),
        raw=data,
    )


# --- sealing --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Batch:
    """A sealed batch: ``records[i]`` is recipient i's Kafka value (key: ``recipients[i]``); ``sender_copy`` is
    the sentbox entry."""

    header: bytes
    root: bytes
    signature: bytes
    recipients: tuple[bytes, ...]
    message_ids: tuple[MessageId, ...]
    records: tuple[bytes, ...] = field(repr=False)
    sender_copy: bytes = field(repr=False)
    shared_payload: bytes = field(repr=False)


def _key(recipient: bytes | str) -> bytes:
    return parse_public_key(recipient) if isinstance(recipient, str) else validate_public_key(bytes(recipient))


def _seal(kind, sender, recipients, bodies, sender_body, batch_id, max_body_bytes, max_recipients) -> Batch:
    if not recipients:
        raise EnvelopeError("invalid_batch", "a batch has at least one recipient")
    if len(recipients) > min(max_recipients, MAX_RECIPIENTS):
        limit = min(max_recipients, MAX_RECIPIENTS)
        raise EnvelopeError("batch_too_large", f"{len(recipients)} recipients; the limit is {limit}")
    for body in [*bodies, sender_body]:
        if len(body) > max_body_bytes:
            raise EnvelopeError("body_too_large", f"body of {len(body)} bytes exceeds the limit of {max_body_bytes}")
    batch_id = batch_id or MessageId.generate()
    created_at = batch_id.milliseconds
    message_ids = [MessageId.for_time(created_at) for _ in recipients]
    if kind == SHARED:
        content_key = nacl.utils.random(32)
        nonce = nacl.utils.random(24)
        payload = nonce + nacl.bindings.crypto_aead_xchacha20poly1305_ietf_encrypt(
            bodies[0], batch_id.bytes, nonce, content_key
        )
        ephemeral_public, ephemeral_secret = nacl.bindings.crypto_box_keypair()
        items = [
            nacl.bindings.crypto_box_easy_afternm(
                content_key,
                _wrap_nonce(batch_id.bytes, i),
                nacl.bindings.crypto_box_beforenm(_curve_public_key(r), ephemeral_secret),
            )
            for i, r in enumerate(recipients)
        ]
        payload_hash = _h(payload)
    else:
        payload, ephemeral_public, payload_hash = b"", _ZERO32, _ZERO32
        items = [seal_body(body, r) for r, body in zip(recipients, bodies)]
    sender_ct = seal_body(sender_body, sender.public_key)
    item_hashes = [_h(item) for item in items]
    leaves = [
        leaf_hash(leaf_bytes(batch_id.bytes, i, r, mid.bytes, created_at, ih, payload_hash))
        for i, (r, mid, ih) in enumerate(zip(recipients, message_ids, item_hashes))
    ]
    levels = _levels(leaves)
    root = levels[-1][0]
    header = _header(kind, batch_id, sender.public_key, len(recipients), ephemeral_public, payload_hash, _h(sender_ct))
    signature = sender.sign_detached(signed_message(header, root))
    head = header + root + signature
    records = []
    for i, (r, mid, item) in enumerate(zip(recipients, message_ids, items)):
        path = _path_from_levels(levels, i)
        records.append(
            head
            + bytes([RECIPIENT_PART])
            + i.to_bytes(4, "big")
            + r
            + mid.bytes
            + created_at.to_bytes(8, "big", signed=True)
            + len(item).to_bytes(4, "big")
            + item
            + bytes([len(path)])
            + b"".join(path)
            + len(payload).to_bytes(4, "big")
            + payload
        )
    sender_copy = (
        head
        + bytes([SENDER_PART])
        + len(sender_ct).to_bytes(4, "big")
        + sender_ct
        + b"".join(r + mid.bytes + ih for r, mid, ih in zip(recipients, message_ids, item_hashes))
    )
    return Batch(
        header=header,
        root=root,
        signature=signature,
        recipients=tuple(recipients),
        message_ids=tuple(message_ids),
        records=tuple(records),
        sender_copy=sender_copy,
        shared_payload=payload,
    )


def seal_shared(
    sender: Identity,
    recipients: list[bytes | str],
    body: bytes,
    *,
    sender_body: bytes | None = None,
    batch_id: MessageId | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    max_recipients: int = MAX_RECIPIENTS,
) -> Batch:
    """One body to many recipients: encrypted once, the content key wrapped to each (``invalid_batch``,
    ``batch_too_large``, ``body_too_large``)."""
    body = bytes(body)
    return _seal(
        SHARED, sender, [_key(r) for r in recipients], [body], body if sender_body is None else bytes(sender_body),
        batch_id, max_body_bytes, max_recipients,
    )


def seal_personalised(
    sender: Identity,
    recipients: list[tuple[bytes | str, bytes]],
    sender_body: bytes,
    *,
    batch_id: MessageId | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    max_recipients: int = MAX_RECIPIENTS,
) -> Batch:
    """A body per recipient, each sealed as in envelope v1; ``sender_body`` is what the sender's copy holds."""
    return _seal(
        PERSONALISED, sender, [_key(r) for r, _ in recipients], [bytes(b) for _, b in recipients], bytes(sender_body),
        batch_id, max_body_bytes, max_recipients,
    )
