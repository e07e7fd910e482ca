"""Batch envelopes built in Python: round trips of both kinds, the Merkle tree, tampering and limits."""

from __future__ import annotations

import pytest

from helpers import identity
from mailroom_client import EnvelopeError
from mailroom_client.batch import (
    leaf_hash,
    merkle_path,
    merkle_root,
    root_from_path,
    seal_personalised,
    seal_shared,
    verify_recipient_record,
    verify_sender_copy,
)


def test_batch_merkle_paths_for_any_size():
    for n in range(1, 40):
        leaves = [leaf_hash(bytes([n, i])) for i in range(n)]
        root = merkle_root(leaves)
        for i in range(n):
            path = merkle_path(leaves, i)
            assert root_from_path(leaves[i], i, n, path) == root
            assert root_from_path(leaves[i], i, n, path + [leaves[0]]) is None
            if path:
                assert root_from_path(leaves[i], i, n, path[:-1]) != root
            if n > 1:
                assert root_from_path(leaves[i], (i + 1) % n, n, path) != root
        assert root_from_path(leaves[0], n, n, merkle_path(leaves, 0)) is None


@pytest.mark.parametrize("count", [1, 7, 300])
def test_batch_shared_round_trip(count):
    sender = identity(0)
    people = [identity(i + 1) for i in range(count)]
    body = b"an invitation for %d" % count
    batch = seal_shared(sender, [p.public_key for p in people], body)
    roots: set = set()
    for i, value in enumerate(batch.records):
        record = verify_recipient_record(value, verified_roots=roots)
        assert record.kafka_key == people[i].public_key
        assert record.open(people[i]) == body
        if count > 1:
            with pytest.raises(EnvelopeError) as caught:
                record.open(people[(i + 1) % count])
            assert caught.value.reason == "not_a_party"
    assert len(roots) == 1
    copy = verify_sender_copy(batch.sender_copy)
    assert copy.open(sender) == body
    assert [key for key, _, _ in copy.recipients] == [p.public_key for p in people]


def test_batch_personalised_round_trip():
    sender = identity(0)
    people = [identity(i + 1) for i in range(5)]
    batch = seal_personalised(sender, [(p.public_key, b"dear %d" % i) for i, p in enumerate(people)], b"dear {n}")
    for i, value in enumerate(batch.records):
        assert verify_recipient_record(value).open(people[i]) == b"dear %d" % i
    assert verify_sender_copy(batch.sender_copy).open(sender) == b"dear {n}"


def test_batch_tampering():
    sender = identity(0)
    people = [identity(i + 1) for i in range(5)]
    batch = seal_shared(sender, [p.public_key for p in people], b"x" * 100)
    other = seal_shared(sender, [p.public_key for p in people], b"y" * 100)
    good = batch.records[2]
    with pytest.raises(EnvelopeError) as caught:
        verify_recipient_record(good[: -len(other.shared_payload)] + other.shared_payload)
    assert caught.value.reason == "payload_mismatch"
    flipped = bytearray(good)
    flipped[170] ^= 1  # inside the root
    with pytest.raises(EnvelopeError) as caught:
        verify_recipient_record(bytes(flipped))
    assert caught.value.reason == "bad_merkle_path"
    flipped = bytearray(good)
    flipped[70] ^= 1  # inside the ephemeral key
    with pytest.raises(EnvelopeError) as caught:
        verify_recipient_record(bytes(flipped))
    assert caught.value.reason == "bad_signature"


def test_batch_limits():
    sender = identity(0)
    with pytest.raises(EnvelopeError) as caught:
        seal_shared(sender, [], b"")
    assert caught.value.reason == "invalid_batch"
    keys = [identity(i + 1).public_key for i in range(3)]
    with pytest.raises(EnvelopeError) as caught:
        seal_shared(sender, keys, b"", max_recipients=2)
    assert caught.value.reason == "batch_too_large"
    with pytest.raises(EnvelopeError) as caught:
        seal_shared(sender, keys, b"12345", max_body_bytes=4)
    assert caught.value.reason == "body_too_large"
    batch = seal_shared(sender, keys, b"12345")
    with pytest.raises(EnvelopeError) as caught:
        verify_recipient_record(batch.records[0], max_recipients=2)
    assert caught.value.reason == "batch_too_large"
