"""The two error types: a key string that cannot be read, and an envelope, record or body that is rejected.

Both carry a stable snake_case ``reason`` (docs/ENVELOPE.md) and a human ``detail`` that holds offsets and
lengths, never key material or bodies.
"""

from __future__ import annotations

__all__ = ["MailroomKeyError", "EnvelopeError", "KEY_REASONS", "VERIFICATION_REASONS", "RECORD_REASONS"]

#: Reasons a key string or key bytes are refused (docs/ENVELOPE.md, "Keys").
KEY_REASONS = (
    "invalid_multibase_prefix",
    "invalid_base32",
    "invalid_hex",
    "invalid_protobuf",
    "unsupported_key_type",
    "invalid_key_length",
    "mismatched_public_key",
    "invalid_point",
)

#: Every reason :func:`mailroom_client.envelope.verify` raises, in the order its checks run.
VERIFICATION_REASONS = (
    "unsupported_version",
    "truncated",
    "invalid_message_id",
    "invalid_ciphertext_length",
    "body_too_large",
    "trailing_bytes",
    "invalid_sender_key",
    "invalid_recipient_key",
    "bad_signature",
)

#: Reasons only portable records raise.
RECORD_REASONS = ("invalid_record", "unsupported_record_version")


class _ReasonError(Exception):
    """An error with a stable ``reason`` code and a ``detail`` free of secrets."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(reason, detail)
        self.reason = reason
        self.detail = detail

    def __str__(self) -> str:
        return f"{self.reason}: {self.detail}" if self.detail else self.reason

    def __repr__(self) -> str:
        return f"{type(self).__name__}(reason={self.reason!r}, detail={self.detail!r})"


class MailroomKeyError(_ReasonError, ValueError):
    """A key string, hex string or key bytes that could not be read; ``reason`` is one of :data:`KEY_REASONS`."""


class EnvelopeError(_ReasonError, ValueError):
    """An envelope, record or sealed body was rejected; ``reason`` is a docs/ENVELOPE.md reason code."""
