"""Building blocks for tests: deterministic identities and hand-assembled envelopes."""

from __future__ import annotations

import hashlib

from mailroom_client import Identity, MessageId
from mailroom_client.envelope import _header, ciphertext_hash, seal_body, signed_message

#: Ed25519's group order.
L = 2**252 + 27742317777372353535851937790883648493


def identity(n: int) -> Identity:
    """A fixed identity per small integer."""
    return Identity.from_seed(hashlib.sha256(b"mailroom-py test identity %d" % n).digest())


def assemble(
    sender: Identity,
    recipient: bytes,
    recipient_ct: bytes,
    sender_ct: bytes,
    message_id: MessageId,
    created_at_ms: int | None = None,
    signature: bytes | None = None,
) -> bytes:
    """An envelope from its parts, signed by ``sender`` unless a signature is given."""
    created = message_id.milliseconds if created_at_ms is None else created_at_ms
    header = _header(message_id, sender.public_key, recipient, created)
    if signature is None:
        signature = sender.sign_detached(
            signed_message(header, ciphertext_hash(recipient_ct), ciphertext_hash(sender_ct))
        )
    return (
        header
        + len(recipient_ct).to_bytes(4, "big")
        + recipient_ct
        + len(sender_ct).to_bytes(4, "big")
        + sender_ct
        + signature
    )


def sealed_pair(sender: Identity, recipient: bytes, body: bytes) -> tuple[bytes, bytes]:
    return seal_body(body, recipient), seal_body(body, sender.public_key)
