"""Every vector of Tests/MailroomCoreTests/Vectors/batch-envelopes.json (batch envelopes, format v2)."""

from __future__ import annotations

import pytest

from conftest import load_json
from mailroom_client import EnvelopeError, Identity
from mailroom_client.batch import (
    BATCH_VERIFICATION_REASONS,
    KIND_NAMES,
    MAX_RECIPIENTS,
    SIGNATURE_DOMAIN,
    leaf_hash,
    merkle_root,
    signed_message,
    verify_recipient_record,
    verify_sender_copy,
)

_VECTORS = load_json("batch-envelopes.json")
VALID = _VECTORS["valid"]
INVALID = _VECTORS["invalid"]


def test_batch_file_shape():
    assert _VECTORS["max_body_bytes"] == 65536
    assert _VECTORS["max_recipients"] == MAX_RECIPIENTS
    assert bytes.fromhex(_VECTORS["signature_domain_hex"]) == SIGNATURE_DOMAIN
    assert tuple(_VECTORS["reason_codes"]) == BATCH_VERIFICATION_REASONS
    assert {v["reason"] for v in INVALID} == set(BATCH_VERIFICATION_REASONS)


@pytest.mark.parametrize("b", VALID, ids=[b["name"] for b in VALID])
def test_batch_valid_vector(b):
    sender = Identity.from_textile_string(b["sender_private_key"])
    assert sender.public_key.hex() == b["sender_public_key_hex"]
    header, root = bytes.fromhex(b["header_hex"]), bytes.fromhex(b["root_hex"])
    assert signed_message(header, root).hex() == b["signed_message_hex"]
    leaves = [bytes.fromhex(r["leaf_hash_hex"]) for r in b["recipients"]]
    assert merkle_root(leaves) == root
    roots: set = set()
    copy = verify_sender_copy(bytes.fromhex(b["sender_copy_hex"]), verified_roots=roots)
    assert copy.open(sender) == bytes.fromhex(b["sender_plaintext_hex"])
    assert copy.sender_ct.hex() == b["sender_ciphertext_hex"]
    assert [key.hex() for key, _, _ in copy.recipients] == [r["public_key_hex"] for r in b["recipients"]]
    for r in b["recipients"]:
        record = verify_recipient_record(bytes.fromhex(r["record_hex"]), verified_roots=roots)
        assert KIND_NAMES[record.kind] == b["kind"]
        assert str(record.batch_id) == b["batch_id"]
        assert record.created_at_ms == b["created_at_ms"]
        assert record.index == r["index"]
        assert record.recipient.hex() == r["public_key_hex"]
        assert str(record.message_id) == r["message_id"]
        assert record.item.hex() == r["item_hex"]
        assert record.leaf.hex() == r["leaf_hex"]
        assert leaf_hash(record.leaf).hex() == r["leaf_hash_hex"]
        assert [p.hex() for p in record.path] == r["path_hex"]
        assert record.payload.hex() == b["shared_payload_hex"]
        assert record.signature.hex() == b["signature_hex"]
        identity = Identity.from_textile_string(r["private_key"])
        assert record.open(identity) == bytes.fromhex(r["plaintext_hex"])
    assert len(roots) == 1


@pytest.mark.parametrize("v", INVALID, ids=[v["name"] for v in INVALID])
def test_batch_invalid_vector(v):
    verify = verify_sender_copy if v["part"] == "sender" else verify_recipient_record
    with pytest.raises(EnvelopeError) as caught:
        verify(bytes.fromhex(v["value_hex"]))
    assert caught.value.reason == v["reason"], caught.value.detail
