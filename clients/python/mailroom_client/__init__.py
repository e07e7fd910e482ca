"""Mailroom's Python client: seal, verify and open envelope v1, batch envelopes v2 (``mailroom_client.batch``) and
portable records v1 and v2 (docs/ENVELOPE.md), and talk to the HTTP API with signed requests (docs/API.md).

PyNaCl (libsodium) does every cryptographic check, so verdicts match Mailroom's Swift code exactly.
"""

from .api import ApiAuthError, ApiClient, ApiError, Event, canonical_request, sign_request, verify_request
from .batch import seal_personalised, seal_shared, verify_recipient_record, verify_sender_copy
from .envelope import DEFAULT_MAX_BODY_BYTES, Envelope, kafka_key, open_envelope, seal, verify
from .errors import EnvelopeError, MailroomKeyError
from .keys import Identity, parse_public_key, public_key_hex, public_key_textile_string
from .records import AnyRecord, BatchRecord, Record, parse_record, record_from_envelope
from .ulid import MessageId

__version__ = "0.1.0"

__all__ = [
    "AnyRecord",
    "ApiAuthError",
    "ApiClient",
    "ApiError",
    "Event",
    "canonical_request",
    "sign_request",
    "verify_request",
    "BatchRecord",
    "DEFAULT_MAX_BODY_BYTES",
    "Envelope",
    "EnvelopeError",
    "Identity",
    "MailroomKeyError",
    "MessageId",
    "Record",
    "kafka_key",
    "open_envelope",
    "parse_public_key",
    "parse_record",
    "public_key_hex",
    "public_key_textile_string",
    "record_from_envelope",
    "seal",
    "seal_personalised",
    "seal_shared",
    "verify",
    "verify_recipient_record",
    "verify_sender_copy",
]
