"""seal -> verify -> open, the body limit, and libsodium's signature rules."""

from __future__ import annotations

import hashlib

import nacl.bindings
import pytest

from helpers import L, assemble, identity, sealed_pair
from mailroom_client import EnvelopeError, Identity, MessageId, kafka_key, open_envelope, seal, verify
from mailroom_client.envelope import BOX_OVERHEAD, open_body, signed_message

ALICE, BOB, CAROL = identity(1), identity(2), identity(3)


def reason(fn, *args, **kwargs) -> str:
    with pytest.raises(EnvelopeError) as caught:
        fn(*args, **kwargs)
    return caught.value.reason


@pytest.mark.parametrize("size", [0, 1, 100, 65536])
def test_round_trip(size):
    body = bytes(range(256)) * (size // 256) + bytes(range(size % 256))
    data = seal(ALICE, BOB.public_key, body)
    assert len(data) == 161 + 2 * (size + BOX_OVERHEAD)
    envelope = verify(data)
    assert envelope.sender == ALICE.public_key and envelope.recipient == BOB.public_key
    assert envelope.created_at_ms == envelope.id.milliseconds
    assert open_envelope(envelope, BOB) == body
    assert open_envelope(envelope, ALICE) == body
    assert envelope.open(BOB) == body
    assert kafka_key(data) == BOB.public_key == envelope.kafka_key


def test_recipient_as_string_and_fresh_randomness():
    a = seal(ALICE, BOB.public_key_string, b"hi")
    b = seal(ALICE, BOB.public_key.hex(), b"hi")
    envelope_a, envelope_b = verify(a), verify(b)
    assert envelope_a.recipient == envelope_b.recipient == BOB.public_key
    # Fresh nonce and ephemeral key per copy and per envelope.
    copies = {envelope_a.recipient_ct[:56], envelope_a.sender_ct[:56], envelope_b.recipient_ct[:56], envelope_b.sender_ct[:56]}
    assert len(copies) == 4


def test_given_message_id_sets_created_at():
    mid = MessageId.for_time(1767225600000)
    envelope = verify(seal(ALICE, BOB.public_key, b"x", message_id=mid))
    assert envelope.id == mid and envelope.created_at_ms == 1767225600000


def test_message_to_oneself():
    envelope = verify(seal(ALICE, ALICE.public_key, b"note to self"))
    assert open_envelope(envelope, ALICE) == b"note to self"
    assert open_body(envelope.sender_ct, ALICE) == b"note to self"


def test_not_a_party_and_decryption_failed():
    envelope = verify(seal(ALICE, BOB.public_key, b"secret"))
    assert reason(open_envelope, envelope, CAROL) == "not_a_party"
    assert reason(open_body, envelope.recipient_ct, CAROL) == "decryption_failed"
    damaged = bytearray(envelope.recipient_ct)
    damaged[-1] ^= 1
    assert reason(open_body, bytes(damaged), BOB) == "decryption_failed"
    assert reason(open_body, envelope.recipient_ct[:71], BOB) == "invalid_ciphertext_length"


def test_body_limit():
    assert reason(seal, ALICE, BOB.public_key, bytes(65537)) == "body_too_large"
    assert reason(seal, ALICE, BOB.public_key, bytes(11), max_body_bytes=10) == "body_too_large"
    data = seal(ALICE, BOB.public_key, bytes(11))
    assert reason(verify, data, max_body_bytes=10) == "body_too_large"
    verify(data, max_body_bytes=11)


def test_seal_refuses_invalid_recipient():
    from mailroom_client import MailroomKeyError

    with pytest.raises(MailroomKeyError) as caught:
        seal(ALICE, bytes([1]) + bytes(31), b"x")
    assert caught.value.reason == "invalid_point"


def test_check_order_examples():
    good = seal(ALICE, BOB.public_key, b"hello")
    assert reason(verify, b"") == "truncated"
    assert reason(verify, b"\x02") == "unsupported_version"
    assert reason(verify, good[:92]) == "truncated"
    # created_at is checked before the lengths, so a short envelope with a bad time says invalid_message_id.
    bad_time = bytearray(good[:93])
    bad_time[88] ^= 1
    assert reason(verify, bytes(bad_time)) == "invalid_message_id"
    assert reason(verify, good[:-1]) == "truncated"
    assert reason(verify, good + b"\x00") == "trailing_bytes"
    # A huge declared length is refused before reading: body_too_large although the input is short.
    huge = bytearray(good[:93])
    huge[89:93] = (0xFFFFFFFF).to_bytes(4, "big")
    assert reason(verify, bytes(huge)) == "body_too_large"


def _signature_variant(envelope_bytes: bytes, signature: bytes) -> bytes:
    return envelope_bytes[:-64] + signature


def test_s_plus_l_refused():
    data = seal(ALICE, BOB.public_key, b"malleable?")
    sig = data[-64:]
    s = int.from_bytes(sig[32:], "little")
    assert s < L
    forged = sig[:32] + (s + L).to_bytes(32, "little")
    assert reason(verify, _signature_variant(data, forged)) == "bad_signature"


def test_small_order_r_refused_even_when_the_equation_holds():
    """R = the identity point, S = h*a: [S]B - [h]A = identity = R holds (cofactorless), and a generic RFC 8032
    verifier would accept it; libsodium refuses small-order R."""
    me = identity(9)
    recipient_ct, sender_ct = sealed_pair(me, BOB.public_key, b"small order R")
    mid = MessageId.for_time(1767225600000)
    unsigned = assemble(me, BOB.public_key, recipient_ct, sender_ct, mid)
    header = unsigned[:89]
    from mailroom_client.envelope import ciphertext_hash

    message = signed_message(header, ciphertext_hash(recipient_ct), ciphertext_hash(sender_ct))
    r = bytes([1]) + bytes(31)
    h = int.from_bytes(hashlib.sha512(r + me.public_key + message).digest(), "little") % L
    digest = hashlib.sha512(bytes(me.signing_key)).digest()
    a = bytearray(digest[:32])
    a[0] &= 248
    a[31] &= 127
    a[31] |= 64
    a_int = int.from_bytes(a, "little")
    s = (h * a_int) % L
    # The equation does hold: [S]B == [h]A.
    sb = nacl.bindings.crypto_scalarmult_ed25519_base_noclamp(s.to_bytes(32, "little"))
    ha = nacl.bindings.crypto_scalarmult_ed25519_noclamp(h.to_bytes(32, "little"), me.public_key)
    assert sb == ha
    forged = r + s.to_bytes(32, "little")
    data = assemble(me, BOB.public_key, recipient_ct, sender_ct, mid, signature=forged)
    assert reason(verify, data) == "bad_signature"
    # And the plain small-order R with S = 0.
    assert reason(verify, _signature_variant(data, r + bytes(32))) == "bad_signature"


def test_other_protocols_signature_refused():
    """A signature over the ciphertext alone (Textile's) is not a Mailroom signature."""
    recipient_ct, sender_ct = sealed_pair(ALICE, BOB.public_key, b"textile")
    mid = MessageId.generate()
    data = assemble(ALICE, BOB.public_key, recipient_ct, sender_ct, mid, signature=ALICE.sign_detached(recipient_ct))
    assert reason(verify, data) == "bad_signature"


def test_kafka_key_of_short_input():
    assert reason(kafka_key, bytes(80)) == "truncated"


def test_identity_is_not_picklable():
    import pickle

    with pytest.raises(TypeError):
        pickle.dumps(Identity.generate())
