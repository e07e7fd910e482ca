"""Every vector of Tests/MailroomCoreTests/Vectors/envelopes.json and textile-box.json."""

from __future__ import annotations

import pytest

from conftest import load_json
from mailroom_client import EnvelopeError, Identity, MessageId, kafka_key, open_envelope, verify
from mailroom_client.envelope import SIGNED_MESSAGE_PREFIX, open_body
from mailroom_client.errors import VERIFICATION_REASONS
from mailroom_client.keys import (
    parse_public_key,
    public_key_from_hex,
    public_key_from_textile_string,
    public_key_textile_string,
)

_VECTORS = load_json("envelopes.json")
VALID = _VECTORS["valid"]
INVALID = _VECTORS["invalid"]
MAX_BODY = _VECTORS["max_body_bytes"]


def test_file_shape(envelope_vectors):
    assert envelope_vectors["max_body_bytes"] == 65536
    assert bytes.fromhex(envelope_vectors["signed_message_prefix_hex"]) == SIGNED_MESSAGE_PREFIX
    assert sorted(envelope_vectors["reason_codes"]) == sorted(VERIFICATION_REASONS)
    assert {v["reason"] for v in INVALID} == set(VERIFICATION_REASONS)


@pytest.mark.parametrize("v", VALID, ids=[v["name"] for v in VALID])
def test_valid_vector(v):
    data = bytes.fromhex(v["envelope_hex"])
    envelope = verify(data, max_body_bytes=MAX_BODY)
    assert envelope.signed_message.hex() == v["signed_message_hex"]
    assert len(envelope.signed_message) == 174
    assert envelope.id.bytes.hex() == v["message_id_hex"]
    assert envelope.id.text == v["message_id"]
    assert envelope.created_at_ms == v["created_at_ms"] == envelope.id.milliseconds
    assert envelope.sender.hex() == v["sender_public_key_hex"]
    assert envelope.recipient.hex() == v["recipient_public_key_hex"]
    assert envelope.sender_string == v["sender_public_key"]
    assert envelope.recipient_string == v["recipient_public_key"]
    assert envelope.recipient_ct.hex() == v["recipient_ciphertext_hex"]
    assert envelope.sender_ct.hex() == v["sender_ciphertext_hex"]
    assert envelope.recipient_ct_hash.hex() == v["recipient_ciphertext_blake2b256_hex"]
    assert envelope.sender_ct_hash.hex() == v["sender_ciphertext_blake2b256_hex"]
    assert envelope.signature.hex() == v["signature_hex"]
    assert envelope.raw == data
    assert kafka_key(data) == envelope.recipient

    plaintext = bytes.fromhex(v["plaintext_hex"])
    recipient = Identity.from_textile_string(v["recipient_private_key"])
    sender = Identity.from_textile_string(v["sender_private_key"])
    assert recipient.public_key == envelope.recipient
    assert sender.public_key == envelope.sender
    # Both copies open, each with its party's key.
    assert open_body(envelope.recipient_ct, recipient) == plaintext
    assert open_body(envelope.sender_ct, sender) == plaintext
    assert open_envelope(envelope, recipient) == plaintext
    assert open_envelope(envelope, sender) == plaintext


@pytest.mark.parametrize("v", VALID, ids=[v["name"] for v in VALID])
def test_valid_vector_text_forms_round_trip(v):
    for prefix in ("sender", "recipient"):
        text = v[f"{prefix}_public_key"]
        raw = bytes.fromhex(v[f"{prefix}_public_key_hex"])
        assert text.startswith("bbaarei")
        assert public_key_from_textile_string(text) == raw
        assert public_key_from_hex(v[f"{prefix}_public_key_hex"]) == raw
        assert public_key_from_hex(v[f"{prefix}_public_key_hex"].upper()) == raw
        assert parse_public_key(text) == parse_public_key(raw.hex()) == raw
        assert public_key_textile_string(raw) == text
        private = v[f"{prefix}_private_key"]
        assert private.startswith("bbaareq")
        identity = Identity.from_textile_string(private)
        assert identity.textile_string() == private
        assert identity.public_key == raw
        assert identity.public_key_string == text
    message_id = MessageId.from_text(v["message_id"])
    assert message_id.bytes.hex() == v["message_id_hex"]
    assert MessageId.from_text(v["message_id"].upper()) == message_id
    assert str(MessageId.from_bytes(bytes.fromhex(v["message_id_hex"]))) == v["message_id"]


@pytest.mark.parametrize("v", INVALID, ids=[v["name"] for v in INVALID])
def test_invalid_vector(v):
    with pytest.raises(EnvelopeError) as caught:
        verify(bytes.fromhex(v["envelope_hex"]), max_body_bytes=MAX_BODY)
    assert caught.value.reason == v["reason"], caught.value.detail


def test_textile_box(textile_box):
    identity = Identity.from_textile_string(textile_box["private_key_string"])
    legacy = Identity.from_textile_string(textile_box["private_key_string_legacy_96_byte_form"])
    assert textile_box["private_key_string_legacy_96_byte_form"].startswith("bbaarey")
    assert identity == legacy
    assert identity.public_key_string == textile_box["public_key_string"]
    assert public_key_from_textile_string(textile_box["public_key_string"]) == identity.public_key
    # The legacy string is the protobuf in the file; Mailroom writes the 64-byte form.
    protobuf = bytes.fromhex(textile_box["private_key_libp2p_protobuf_hex"])
    assert protobuf[:4] == bytes([0x08, 0x01, 0x12, 96])
    assert protobuf[4:36] == bytes(identity.signing_key)
    assert protobuf[36:68] == protobuf[68:100] == identity.public_key
    assert legacy.textile_string() == textile_box["private_key_string"]
    # Textile's own body encryption opens with libsodium's Ed25519 -> X25519 conversion.
    ciphertext = bytes.fromhex(textile_box["ciphertext_hex"])
    assert open_body(ciphertext, identity).decode("utf-8") == textile_box["plaintext_utf8"]
    assert len(ciphertext) == len(textile_box["plaintext_utf8"].encode()) + 72


def test_vector_addressed_to_textile_key(textile_box):
    (v,) = [v for v in VALID if v["recipient_public_key"] == textile_box["public_key_string"]]
    envelope = verify(bytes.fromhex(v["envelope_hex"]))
    identity = Identity.from_textile_string(textile_box["private_key_string"])
    assert open_envelope(envelope, identity) == bytes.fromhex(v["plaintext_hex"])
