"""Portable records v1: both forms, round trips, tampering, strictness, reading order."""

from __future__ import annotations

import dataclasses
import json

import pytest

from helpers import assemble, identity, sealed_pair
from mailroom_client import EnvelopeError, MessageId, Record, parse_record, record_from_envelope, seal, verify
from mailroom_client.records import b64url_decode, b64url_encode

ALICE, BOB, CAROL = identity(1), identity(2), identity(3)
T0 = 1767225600000
ENVELOPE = verify(seal(ALICE, BOB.public_key, b"Hello Bob", message_id=MessageId.for_time(T0)))
OTHER = verify(seal(ALICE, BOB.public_key, b"Hello again", message_id=MessageId.for_time(T0 + 1)))
INBOX = record_from_envelope(ENVELOPE, "inbox")
SENTBOX = record_from_envelope(ENVELOPE, "sentbox")
SMALL_ORDER = bytes([1]) + bytes(31)


def reason(fn, *args, **kwargs) -> str:
    with pytest.raises(EnvelopeError) as caught:
        fn(*args, **kwargs)
    return caught.value.reason


def read_and_verify(data) -> None:
    record = Record.from_json(data) if isinstance(data, str) else Record.from_binary(data)
    record.verify()


def json_with(record: Record, **changes) -> str:
    obj = json.loads(record.to_json())
    for name, value in changes.items():
        if value is _DELETE:
            del obj[name]
        else:
            obj[name] = value
    return json.dumps(obj, separators=(",", ":"))


_DELETE = object()


@pytest.mark.parametrize("record", [INBOX, SENTBOX, INBOX.with_read_at(T0 + 5000), SENTBOX.with_read_at(-1)])
def test_round_trips(record):
    binary = record.to_binary()
    text = record.to_json()
    assert len(binary) == 196 + len(record.ciphertext) + (0 if record.read_at_ms is None else 8)
    assert binary[:7] == b"mrec\x01" + bytes([1 if record.kind == "inbox" else 2]) + b"\x01"
    assert Record.from_binary(binary) == record == Record.from_json(text)
    assert Record.from_json(text.encode()) == record
    assert Record.from_json(json.loads(text)) == record
    assert parse_record(binary) == parse_record(text) == parse_record(text.encode()) == record
    assert Record.from_json(Record.from_binary(binary).to_json()).to_binary() == binary
    record.verify()
    owner = BOB if record.kind == "inbox" else ALICE
    assert record.open(owner) == b"Hello Bob"


def test_json_text_shape():
    text = INBOX.with_read_at(T0 + 1).to_json()
    assert " " not in text
    obj = json.loads(text)
    assert list(obj) == [
        "format", "kind", "envelope_version", "id", "sender", "recipient", "created_at_ms", "ciphertext",
        "other_ciphertext_hash", "signature", "metadata",
    ]
    assert obj["format"] == "mailroom.record.v1" and obj["envelope_version"] == 1
    assert obj["id"] == ENVELOPE.id.text and obj["id"] == obj["id"].lower()
    assert obj["sender"] == ALICE.public_key_string and obj["recipient"] == BOB.public_key_string
    assert obj["metadata"] == {"read_at_ms": T0 + 1}
    assert '"metadata":{"read_at_ms":null}}' in INBOX.to_json()
    assert text.endswith("}}")


def test_record_from_envelope_hashes():
    assert INBOX.ciphertext == ENVELOPE.recipient_ct and INBOX.other_ciphertext_hash == ENVELOPE.sender_ct_hash
    assert SENTBOX.ciphertext == ENVELOPE.sender_ct and SENTBOX.other_ciphertext_hash == ENVELOPE.recipient_ct_hash
    assert INBOX.owner == BOB.public_key and SENTBOX.owner == ALICE.public_key


def test_read_at_is_not_signed():
    for read_at in (None, 0, T0, T0 + 10**9, -5):
        INBOX.with_read_at(read_at).verify()
        assert Record.from_binary(INBOX.with_read_at(read_at).to_binary()).open(BOB) == b"Hello Bob"


def flip(data: bytes, index: int) -> bytes:
    return data[:index] + bytes([data[index] ^ 1]) + data[index + 1 :]


@pytest.mark.parametrize("record", [INBOX, SENTBOX], ids=["inbox", "sentbox"])
def test_tampering_binary(record):
    b = record.to_binary()
    n = len(record.ciphertext)
    cases = {
        "id_random": (flip(b, 22), "bad_signature"),
        "id_time": (flip(b, 12), "invalid_message_id"),
        "created_at": (flip(b, 94), "invalid_message_id"),
        "sender": (b[:23] + CAROL.public_key + b[55:], "bad_signature"),
        "recipient": (b[:55] + CAROL.public_key + b[87:], "bad_signature"),
        "ciphertext": (flip(b, 99 + n // 2), "bad_signature"),
        "other_hash": (flip(b, 99 + n + 3), "bad_signature"),
        "signature": (flip(b, 131 + n + 10), "bad_signature"),
        "relabelled": (b[:5] + bytes([3 - b[5]]) + b[6:], "bad_signature"),
    }
    for name, (data, expected) in cases.items():
        assert reason(read_and_verify, data) == expected, name


def test_redated_consistently_and_other_signature():
    # Id and created_at moved together: the time matches, the signature does not.
    moved = MessageId.for_time(T0 + 7)
    redated = dataclasses.replace(INBOX, id=moved, created_at_ms=moved.milliseconds)
    assert reason(redated.verify) == "bad_signature"
    swapped = dataclasses.replace(INBOX, signature=OTHER.signature)
    assert reason(read_and_verify, swapped.to_binary()) == "bad_signature"
    assert reason(read_and_verify, swapped.to_json()) == "bad_signature"


def test_tampering_json():
    obj = json.loads(INBOX.to_json())
    ct = bytearray(b64url_decode(obj["ciphertext"]))
    ct[5] ^= 1
    assert reason(read_and_verify, json_with(INBOX, ciphertext=b64url_encode(bytes(ct)))) == "bad_signature"
    assert reason(read_and_verify, json_with(INBOX, created_at_ms=T0 + 1)) == "invalid_message_id"
    assert reason(read_and_verify, json_with(INBOX, sender=CAROL.public_key_string)) == "bad_signature"
    assert reason(read_and_verify, json_with(INBOX, recipient=CAROL.public_key.hex())) == "bad_signature"
    assert reason(read_and_verify, json_with(INBOX, kind="sentbox")) == "bad_signature"


def test_keys_in_json_may_be_hex_either_case():
    text = json_with(INBOX, sender=ALICE.public_key.hex(), recipient=BOB.public_key.hex().upper(), id=ENVELOPE.id.text.upper())
    assert Record.from_json(text) == INBOX
    assert Record.from_json(text).to_json() == INBOX.to_json()  # writers emit Textile strings and lowercase ids


def test_field_lengths_json_only():
    assert reason(read_and_verify, json_with(INBOX, other_ciphertext_hash=b64url_encode(bytes(31)))) == "invalid_field_length"
    assert reason(read_and_verify, json_with(INBOX, signature=b64url_encode(bytes(65)))) == "invalid_field_length"
    # Step order: a time mismatch is reported before a bad field length.
    assert (
        reason(read_and_verify, json_with(INBOX, signature=b64url_encode(bytes(63)), created_at_ms=1))
        == "invalid_message_id"
    )


def test_ciphertext_length_and_body_limit():
    short = dataclasses.replace(INBOX, ciphertext=INBOX.ciphertext[:71])
    assert reason(read_and_verify, short.to_binary()) == "invalid_ciphertext_length"
    assert reason(read_and_verify, short.to_json()) == "invalid_ciphertext_length"
    big = verify(seal(ALICE, BOB.public_key, bytes(100)))
    record = record_from_envelope(big, "inbox")
    assert reason(record.verify, max_body_bytes=99) == "body_too_large"
    record.verify(max_body_bytes=100)
    assert reason(record.open, BOB, max_body_bytes=99) == "body_too_large"


def test_open_checks_ownership_first():
    assert reason(INBOX.open, ALICE) == "not_a_party"
    assert reason(SENTBOX.open, BOB) == "not_a_party"
    assert reason(INBOX.open, CAROL) == "not_a_party"
    damaged = dataclasses.replace(INBOX, signature=bytes(64))
    assert reason(damaged.open, CAROL) == "not_a_party"
    assert reason(damaged.open, BOB) == "bad_signature"


def test_decryption_failed_after_a_good_signature():
    recipient_ct, sender_ct = sealed_pair(ALICE, BOB.public_key, b"fine")
    garbage = bytes(len(recipient_ct))
    envelope = verify(assemble(ALICE, BOB.public_key, garbage, sender_ct, MessageId.generate()))
    record = record_from_envelope(envelope, "inbox")
    record.verify()
    assert reason(record.open, BOB) == "decryption_failed"
    assert record_from_envelope(envelope, "sentbox").open(ALICE) == b"fine"


def test_keys_refused_at_parse():
    b = INBOX.to_binary()
    assert reason(Record.from_binary, b[:23] + SMALL_ORDER + b[55:]) == "invalid_sender_key"
    assert reason(Record.from_binary, b[:55] + SMALL_ORDER + b[87:]) == "invalid_recipient_key"
    # Both bad: the sender is reported.
    assert reason(Record.from_binary, b[:23] + SMALL_ORDER + SMALL_ORDER + b[87:]) == "invalid_sender_key"
    assert reason(Record.from_json, json_with(INBOX, sender=SMALL_ORDER.hex())) == "invalid_sender_key"
    assert reason(Record.from_json, json_with(INBOX, sender="bnotakey")) == "invalid_sender_key"
    assert reason(Record.from_json, json_with(INBOX, recipient="")) == "invalid_recipient_key"
    # Structure is checked before keys.
    assert reason(Record.from_json, json_with(INBOX, sender="bnotakey", extra=1)) == "invalid_record"
    assert reason(Record.from_binary, b[:23] + SMALL_ORDER + b[55:] + b"\x00") == "invalid_record"


def test_binary_structure():
    b = INBOX.to_binary()
    n = len(INBOX.ciphertext)
    assert reason(Record.from_binary, b"") == "invalid_record"
    assert reason(Record.from_binary, b"mrec") == "invalid_record"
    assert reason(Record.from_binary, b"mrex" + b[4:]) == "invalid_record"
    assert reason(Record.from_binary, b[:4] + b"\x02" + b[5:]) == "unsupported_record_version"
    assert reason(Record.from_binary, b[:4] + b"\x00" + b[5:]) == "unsupported_record_version"
    assert reason(Record.from_binary, b[:195]) == "invalid_record"
    assert reason(Record.from_binary, b[:5] + b"\x00" + b[6:]) == "invalid_record"
    assert reason(Record.from_binary, b[:5] + b"\x03" + b[6:]) == "invalid_record"
    assert reason(Record.from_binary, b[:6] + b"\x02" + b[7:]) == "invalid_record"
    assert reason(Record.from_binary, b[:95] + (n + 1).to_bytes(4, "big") + b[99:]) == "invalid_record"
    assert reason(Record.from_binary, b[:95] + (n - 1).to_bytes(4, "big") + b[99:]) == "invalid_record"
    assert reason(Record.from_binary, b[:-1] + b"\x02") == "invalid_record"
    assert reason(Record.from_binary, b[:-1] + b"\x01") == "invalid_record"  # read_at flagged, absent
    assert reason(Record.from_binary, b + b"\x00") == "invalid_record"
    read = INBOX.with_read_at(T0).to_binary()
    assert reason(Record.from_binary, read[:-1]) == "invalid_record"
    assert reason(Record.from_binary, read + b"\x00") == "invalid_record"
    assert reason(Record.from_binary, ENVELOPE.raw) == "invalid_record"
    # The smallest structurally valid record (an empty ciphertext) parses, then fails verification.
    tiny = dataclasses.replace(INBOX, ciphertext=b"").to_binary()
    assert len(tiny) == 196
    assert reason(read_and_verify, tiny) == "invalid_ciphertext_length"


@pytest.mark.parametrize(
    "value",
    ["", "A", "AA==", "AA=", "AB", "AAB", "+/8", "a b", "AAAAA", "_-_-=", "é"],
)
def test_base64url_strictness(value):
    assert b64url_decode(value) is None if value != "" else b64url_decode(value) == b""
    if value:
        assert reason(Record.from_json, json_with(INBOX, signature=value)) == "invalid_record"


def test_base64url_accepts_canonical():
    for data in (b"", b"\x00", b"\xff\xfe", b"\xfb\xff\xbf", bytes(range(256))):
        assert b64url_decode(b64url_encode(data)) == data
    assert b64url_encode(b"\xfb\xff") == "-_8"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "[]",
        "null",
        '"x"',
        "{",
        "{}",
        json_with(INBOX, extra=1),
        json_with(INBOX, metadata={"read_at_ms": None, "x": 1}),
        json_with(INBOX, metadata={}),
        json_with(INBOX, metadata=None),
        json_with(INBOX, signature=_DELETE),
        json_with(INBOX, format=_DELETE),
        json_with(INBOX, format=1),
        json_with(INBOX, format="mailroom.record"),
        json_with(INBOX, format="mailroom.record.v1 "),
        json_with(INBOX, kind="outbox"),
        json_with(INBOX, kind=1),
        json_with(INBOX, envelope_version=2),
        json_with(INBOX, envelope_version="1"),
        json_with(INBOX, envelope_version=True),
        json_with(INBOX, id="not a ulid"),
        json_with(INBOX, id=ENVELOPE.id.text[:-1] + "u"),
        json_with(INBOX, id=17),
        json_with(INBOX, sender=None),
        json_with(INBOX, created_at_ms=str(T0)),
        json_with(INBOX, created_at_ms=2**63),
        json_with(INBOX, metadata={"read_at_ms": "1"}),
        json_with(INBOX, metadata={"read_at_ms": False}),
        json_with(INBOX, ciphertext=None),
        INBOX.to_json().replace(f'"created_at_ms":{T0}', f'"created_at_ms":{T0}.0'),
        INBOX.to_json().replace(f'"created_at_ms":{T0}', '"created_at_ms":1.7672256e12'),
        INBOX.to_json().replace(f'"created_at_ms":{T0}', '"created_at_ms":NaN'),
        INBOX.to_json().replace('"read_at_ms":null', '"read_at_ms":1E3'),
        INBOX.to_json()[:-1] + ',"kind":"inbox"}',  # duplicate member
        INBOX.to_json() + "x",
        INBOX.to_json().replace('"format"', '"\\ud800":1,"format"'),
        "\ufeff" + INBOX.to_json(),
    ],
)
def test_json_structure(text):
    assert reason(Record.from_json, text) == "invalid_record"


def test_json_bytes_must_be_utf8():
    assert reason(Record.from_json, b"\xff" + INBOX.to_json().encode()) == "invalid_record"


def test_json_whitespace_and_member_order_are_free():
    obj = json.loads(INBOX.to_json())
    pretty = json.dumps(dict(reversed(list(obj.items()))), indent=2)
    assert Record.from_json(pretty) == INBOX


@pytest.mark.parametrize("fmt", ["mailroom.record.v2", "mailroom.record.v10", "mailroom.record.v999999999"])
def test_json_unsupported_version(fmt):
    assert reason(Record.from_json, json_with(INBOX, format=fmt)) == "unsupported_record_version"
    # Version is judged before the other members.
    assert reason(Record.from_json, json.dumps({"format": fmt})) == "unsupported_record_version"


@pytest.mark.parametrize(
    "fmt", ["mailroom.record.v0", "mailroom.record.v01", "mailroom.record.v+2", "mailroom.record.v", "mailroom.record.v1000000000"]
)
def test_json_format_that_is_no_version(fmt):
    assert reason(Record.from_json, json_with(INBOX, format=fmt)) == "invalid_record"


def test_to_binary_refuses_bad_field_lengths():
    assert reason(dataclasses.replace(INBOX, signature=bytes(63)).to_binary) == "invalid_field_length"


def test_repr_has_no_ciphertext():
    shown = repr(INBOX)
    assert INBOX.ciphertext.hex()[:40] not in shown and "ciphertext=" not in shown
