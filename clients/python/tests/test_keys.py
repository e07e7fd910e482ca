"""Textile key strings, hex keys and their reason codes."""

from __future__ import annotations

import pytest

from helpers import identity
from mailroom_client import Identity, MailroomKeyError
from mailroom_client.keys import (
    _b32_encode,
    _libp2p_encode,
    parse_public_key,
    public_key_from_hex,
    public_key_from_textile_string,
    public_key_hex,
    public_key_textile_string,
    validate_public_key,
)

IDENTITY_POINT = bytes([1]) + bytes(31)  # the neutral element: small order
ORDER_2_POINT = bytes.fromhex("ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f")
# y = 2 is not the y of any curve point.
OFF_CURVE = bytes([2]) + bytes(31)
# y = p (non-canonical encoding of y = 0)
NON_CANONICAL = bytes.fromhex("edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f")


def reason(fn, *args) -> str:
    with pytest.raises(MailroomKeyError) as caught:
        fn(*args)
    return caught.value.reason


def test_generate_and_round_trip():
    me = Identity.generate()
    text = me.textile_string()
    assert text.startswith("bbaareq")
    again = Identity.from_textile_string(text)
    assert again == me and again.public_key == me.public_key
    assert me.public_key_string.startswith("bbaarei")
    assert public_key_from_textile_string(me.public_key_string) == me.public_key
    assert public_key_hex(me.public_key) == me.public_key.hex()
    assert parse_public_key(me.public_key.hex().upper()) == me.public_key


def test_legacy_96_byte_form_checks_both_public_keys():
    me, other = identity(1), identity(2)
    seed = bytes(me.signing_key)
    legacy = _b32_encode(_libp2p_encode(seed + me.public_key + me.public_key))
    assert legacy.startswith("bbaarey")
    assert Identity.from_textile_string(legacy) == me
    for bad in (seed + other.public_key + me.public_key, seed + me.public_key + other.public_key):
        assert reason(Identity.from_textile_string, _b32_encode(_libp2p_encode(bad))) == "mismatched_public_key"
    assert reason(Identity.from_textile_string, _b32_encode(_libp2p_encode(seed + other.public_key))) == "mismatched_public_key"


def test_secret_never_in_repr_or_errors():
    me = identity(3)
    secret_text = me.textile_string()
    seed_hex = bytes(me.signing_key).hex()
    for shown in (repr(me), str(me)):
        assert secret_text not in shown and seed_hex not in shown
        assert me.public_key_string in shown
    bad = _b32_encode(_libp2p_encode(bytes(me.signing_key) + identity(4).public_key))
    with pytest.raises(MailroomKeyError) as caught:
        Identity.from_textile_string(bad)
    for shown in (str(caught.value), repr(caught.value), caught.value.detail):
        assert bad not in shown and seed_hex not in shown and bad[1:20] not in shown


@pytest.mark.parametrize(
    "text, expected",
    [
        ("", "invalid_multibase_prefix"),
        ("zbaarei", "invalid_multibase_prefix"),
        ("Bbaarei", "invalid_multibase_prefix"),
        ("b", "invalid_protobuf"),
        ("bBAAREI", "invalid_base32"),  # uppercase is outside the alphabet
        ("baa1", "invalid_base32"),  # '1' is not base32
        ("ba", "invalid_base32"),  # 1 symbol: no byte string encodes to it
        ("bab", "invalid_base32"),  # 2 symbols, non-zero padding bits
        ("baa======", "invalid_base32"),  # padding
    ],
)
def test_malformed_strings(text, expected):
    assert reason(public_key_from_textile_string, text) == expected


def test_protobuf_faults():
    key = identity(5).public_key
    assert reason(public_key_from_textile_string, _b32_encode(b"\x0a\x01\x12\x20" + key)) == "invalid_protobuf"
    assert reason(public_key_from_textile_string, _b32_encode(b"\x08\x02\x12\x20" + key)) == "unsupported_key_type"
    assert reason(public_key_from_textile_string, _b32_encode(b"\x08\x01\x1a\x20" + key)) == "invalid_protobuf"
    assert reason(public_key_from_textile_string, _b32_encode(b"\x08\x01\x12\x21" + key)) == "invalid_protobuf"
    assert reason(public_key_from_textile_string, _b32_encode(b"\x08\x01\x12\x20" + key + b"\x00")) == "invalid_protobuf"
    assert reason(public_key_from_textile_string, _b32_encode(b"\x08\x81")) == "invalid_protobuf"
    assert reason(public_key_from_textile_string, _b32_encode(_libp2p_encode(key[:31]))) == "invalid_key_length"
    assert reason(Identity.from_textile_string, _b32_encode(_libp2p_encode(key))) == "invalid_key_length"
    # A public key string is not a private key and vice versa.
    assert reason(public_key_from_textile_string, identity(5).textile_string()) == "invalid_key_length"


@pytest.mark.parametrize("raw", [IDENTITY_POINT, ORDER_2_POINT, OFF_CURVE, NON_CANONICAL, bytes(32)])
def test_invalid_points(raw):
    assert reason(validate_public_key, raw) == "invalid_point"
    assert reason(public_key_from_hex, raw.hex()) == "invalid_point"
    assert reason(public_key_from_textile_string, _b32_encode(_libp2p_encode(raw))) == "invalid_point"


def test_mixed_order_point_refused():
    from nacl.bindings import crypto_core_ed25519_add

    mixed = crypto_core_ed25519_add(identity(6).public_key, ORDER_2_POINT)
    assert reason(validate_public_key, mixed) == "invalid_point"


def test_hex_faults():
    key = identity(7).public_key.hex()
    assert reason(public_key_from_hex, key[:-1]) == "invalid_hex"
    assert reason(public_key_from_hex, key[:-1] + "g") == "invalid_hex"
    assert reason(public_key_from_hex, key[:-2]) == "invalid_key_length"
    # 64 characters that are not hex are read as a Textile string (and fail as one).
    assert reason(parse_public_key, "g" * 64) == "invalid_multibase_prefix"
    with pytest.raises(MailroomKeyError):
        public_key_textile_string(bytes(31))
