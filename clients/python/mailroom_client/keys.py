"""Ed25519 identities and public keys, read and written as Textile Hub's key strings (docs/ENVELOPE.md, "Keys").

A key string is multibase base32 (``b`` + RFC 4648 base32, lowercase, no padding) of the libp2p protobuf key
message ``08 01 12 <varint length> <data>``. Public keys (``bbaarei…``) carry 32 bytes; private keys
(``bbaareq…``) carry seed(32) || public(32), and the legacy 96-byte form seed || public || public
(``bbaarey…``) is read too. Public keys are also written as 64 hex digits.

Every public key accepted here passes libsodium's ``crypto_core_ed25519_is_valid_point``.
"""

from __future__ import annotations

import hmac
from collections import OrderedDict
from threading import Lock

import nacl.bindings
import nacl.signing

from .errors import MailroomKeyError

__all__ = [
    "Identity",
    "MailroomKeyError",
    "parse_public_key",
    "public_key_from_textile_string",
    "public_key_from_hex",
    "public_key_textile_string",
    "public_key_hex",
    "validate_public_key",
    "is_valid_public_key",
]

_B32_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"
_B32_VALUES = {c: i for i, c in enumerate(_B32_ALPHABET)}
_ED25519_KEY_TYPE = 1


# --- multibase base32 -------------------------------------------------------------------------------------


def _b32_encode(data: bytes) -> str:
    out = ["b"]
    buffer = 0
    bits = 0
    for byte in data:
        buffer = ((buffer << 8) | byte) & 0xFFFF
        bits += 8
        while bits >= 5:
            bits -= 5
            out.append(_B32_ALPHABET[(buffer >> bits) & 31])
    if bits:
        out.append(_B32_ALPHABET[(buffer << (5 - bits)) & 31])
    return "".join(out)


def _b32_decode(text: str) -> bytearray:
    """Strict: prefix ``b``, lowercase alphabet only, a length some byte count encodes to, zero leftover bits."""
    if not isinstance(text, str) or not text.startswith("b"):
        raise MailroomKeyError("invalid_multibase_prefix", "expected a multibase base32 string starting with 'b'")
    symbols = len(text) - 1
    if symbols % 8 not in (0, 2, 4, 5, 7):
        raise MailroomKeyError("invalid_base32", f"{symbols} base32 symbols is not a length any byte string encodes to")
    out = bytearray()
    buffer = 0
    bits = 0
    for position, c in enumerate(text[1:], start=1):
        value = _B32_VALUES.get(c)
        if value is None:
            raise MailroomKeyError(
                "invalid_base32", f"character at position {position} is outside the lowercase base32 alphabet (a-z, 2-7)"
            )
        buffer = ((buffer << 5) | value) & 0xFFFF
        bits += 5
        if bits >= 8:
            bits -= 8
            out.append((buffer >> bits) & 0xFF)
    if bits and buffer & ((1 << bits) - 1):
        raise MailroomKeyError("invalid_base32", "non-zero padding bits at the end of the base32 string")
    return out


# --- libp2p protobuf key message ----------------------------------------------------------------------------


def _libp2p_encode(data: bytes) -> bytes:
    out = bytearray(b"\x08\x01\x12")
    length = len(data)
    while length >= 0x80:
        out.append((length & 0x7F) | 0x80)
        length >>= 7
    out.append(length)
    out += data
    return bytes(out)


def _read_varint(message: bytes | bytearray, index: int) -> tuple[int, int]:
    value = 0
    shift = 0
    while index < len(message):
        byte = message[index]
        index += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, index
        shift += 7
        if shift > 28:
            break
    raise MailroomKeyError("invalid_protobuf", "truncated or oversized varint in key message")


def _libp2p_decode(message: bytes | bytearray) -> tuple[int, int]:
    """Returns (start, end) of the key data. Strict: exactly the two fields, in order, nothing after."""
    if len(message) < 2 or message[0] != 0x08:
        raise MailroomKeyError("invalid_protobuf", "key message does not start with the key type field (0x08)")
    key_type, index = _read_varint(message, 1)
    if key_type != _ED25519_KEY_TYPE:
        raise MailroomKeyError("unsupported_key_type", f"key type {key_type} is not Ed25519 (1)")
    if index >= len(message) or message[index] != 0x12:
        raise MailroomKeyError("invalid_protobuf", "key type is not followed by the data field (0x12)")
    length, index = _read_varint(message, index + 1)
    if length != len(message) - index:
        raise MailroomKeyError("invalid_protobuf", f"data field declares {length} bytes but {len(message) - index} follow")
    return index, len(message)


# --- public keys --------------------------------------------------------------------------------------------

_VALID_CACHE_MAX = 8192
_valid_cache: OrderedDict[bytes, None] = OrderedDict()
_valid_lock = Lock()


def is_valid_public_key(key: bytes) -> bool:
    """libsodium's ``crypto_core_ed25519_is_valid_point`` (successes cached, bounded, FIFO)."""
    key = bytes(key)
    if len(key) != 32:
        return False
    with _valid_lock:
        if key in _valid_cache:
            return True
    if not nacl.bindings.crypto_core_ed25519_is_valid_point(key):
        return False
    with _valid_lock:
        _valid_cache[key] = None
        while len(_valid_cache) > _VALID_CACHE_MAX:
            _valid_cache.popitem(last=False)
    return True


def validate_public_key(key: bytes) -> bytes:
    """Returns ``key`` as bytes if it is an acceptable Ed25519 public key; raises :class:`MailroomKeyError`."""
    if not isinstance(key, (bytes, bytearray, memoryview)):
        raise MailroomKeyError("invalid_key_length", "an Ed25519 public key is 32 bytes")
    key = bytes(key)
    if len(key) != 32:
        raise MailroomKeyError("invalid_key_length", f"an Ed25519 public key is 32 bytes, got {len(key)}")
    if not is_valid_public_key(key):
        raise MailroomKeyError("invalid_point", "the 32 bytes are not a valid Ed25519 public key")
    return key


def public_key_from_textile_string(text: str) -> bytes:
    """Reads a Textile public key string (``bbaarei…``) to its 32 validated bytes."""
    message = _b32_decode(text)
    start, end = _libp2p_decode(message)
    if end - start != 32:
        raise MailroomKeyError(
            "invalid_key_length", f"an Ed25519 public key holds 32 bytes of data, this one {end - start}"
        )
    return validate_public_key(bytes(message[start:end]))


def public_key_from_hex(text: str) -> bytes:
    """Reads a public key written as 64 hex digits (either case)."""
    if not isinstance(text, str) or len(text) % 2 or any(c not in "0123456789abcdefABCDEF" for c in text):
        raise MailroomKeyError("invalid_hex", "a public key in hex is 64 characters 0-9a-f")
    return validate_public_key(bytes.fromhex(text))


def parse_public_key(text: str) -> bytes:
    """Reads a public key from a Textile key string or 64 hex digits (surrounding whitespace is not allowed)."""
    if isinstance(text, str) and len(text) == 64:
        try:
            return public_key_from_hex(text)
        except MailroomKeyError:
            pass
    return public_key_from_textile_string(text)


def public_key_textile_string(key: bytes) -> str:
    """The Textile key string (``bbaarei…``) of 32 public key bytes."""
    return _b32_encode(_libp2p_encode(validate_public_key(key)))


def public_key_hex(key: bytes) -> str:
    """The 64 lowercase hex digits of 32 public key bytes."""
    return validate_public_key(key).hex()


# --- identities ---------------------------------------------------------------------------------------------


class Identity:
    """A user's Ed25519 key pair. ``repr`` and ``str`` show the public key only."""

    __slots__ = ("_signing_key", "_public_key")

    def __init__(self, signing_key: nacl.signing.SigningKey) -> None:
        if not isinstance(signing_key, nacl.signing.SigningKey):
            raise TypeError("Identity wraps a nacl.signing.SigningKey")
        self._signing_key = signing_key
        self._public_key = bytes(signing_key.verify_key)

    @classmethod
    def generate(cls) -> "Identity":
        """A fresh random identity."""
        return cls(nacl.signing.SigningKey.generate())

    @classmethod
    def from_seed(cls, seed: bytes) -> "Identity":
        """The identity of a 32-byte Ed25519 seed."""
        if len(seed) != 32:
            raise MailroomKeyError("invalid_key_length", f"an Ed25519 seed is 32 bytes, got {len(seed)}")
        return cls(nacl.signing.SigningKey(bytes(seed)))

    @classmethod
    def from_textile_string(cls, text: str) -> "Identity":
        """Reads a Textile private key string (``bbaareq…``, or the legacy 96-byte ``bbaarey…`` form).

        Every public key embedded in it must equal the one derived from the seed (``mismatched_public_key``).
        """
        message = _b32_decode(text)
        try:
            start, end = _libp2p_decode(message)
            length = end - start
            if length not in (64, 96):
                raise MailroomKeyError(
                    "invalid_key_length",
                    f"an Ed25519 private key holds 64 bytes of data (or 96 in the legacy form), this one {length}",
                )
            identity = cls(nacl.signing.SigningKey(bytes(message[start : start + 32])))
            for offset in range(start + 32, end, 32):
                if not hmac.compare_digest(bytes(message[offset : offset + 32]), identity._public_key):
                    raise MailroomKeyError(
                        "mismatched_public_key",
                        "the public key embedded in the private key does not match the one derived from its seed",
                    )
            return identity
        finally:
            message[:] = bytes(len(message))

    def textile_string(self) -> str:
        """The Textile private key string (``bbaareq…``, 64-byte form). This string **is the secret key**."""
        return _b32_encode(_libp2p_encode(bytes(self._signing_key) + self._public_key))

    @property
    def public_key(self) -> bytes:
        """The 32-byte Ed25519 public key."""
        return self._public_key

    @property
    def public_key_string(self) -> str:
        """The Textile public key string (``bbaarei…``)."""
        return _b32_encode(_libp2p_encode(self._public_key))

    @property
    def public_key_hex(self) -> str:
        return self._public_key.hex()

    @property
    def signing_key(self) -> nacl.signing.SigningKey:
        return self._signing_key

    def sign_detached(self, message: bytes) -> bytes:
        """``crypto_sign_detached(message, sk)``: the 64-byte signature."""
        return self._signing_key.sign(bytes(message)).signature

    def curve_secret_key(self) -> bytes:
        """``crypto_sign_ed25519_sk_to_curve25519``: the X25519 secret that opens bodies sealed to this key."""
        return nacl.bindings.crypto_sign_ed25519_sk_to_curve25519(bytes(self._signing_key) + self._public_key)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Identity) and hmac.compare_digest(bytes(self._signing_key), bytes(other._signing_key))

    def __hash__(self) -> int:
        return hash(self._public_key)

    def __repr__(self) -> str:
        return f"Identity(public_key={self.public_key_string})"

    __str__ = __repr__

    def __reduce__(self):  # no pickling of secrets by accident
        raise TypeError("an Identity is not picklable; export it with textile_string() deliberately")
