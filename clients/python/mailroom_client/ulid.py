"""Message ids: 128-bit ULIDs, 48-bit big-endian Unix time in ms then 80 random bits (docs/ENVELOPE.md).

The text form is Textile's: 26 characters of lowercase Crockford base32 (``0123456789abcdefghjkmnpqrstvwxyz``);
uppercase is read too (but not Crockford's aliases I, L, O, U). Ids order by their bytes, which is time order.
"""

from __future__ import annotations

import os
import threading
import time
from functools import total_ordering

from .errors import EnvelopeError

__all__ = ["MessageId", "MAX_MILLISECONDS"]

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
_VALUES = {c: i for i, c in enumerate(_ALPHABET)}
_VALUES.update({c.upper(): i for c, i in list(_VALUES.items()) if c.isalpha()})

#: The largest millisecond time a ULID holds (2^48 − 1).
MAX_MILLISECONDS = (1 << 48) - 1
_RANDOM_MASK = (1 << 80) - 1

_last_lock = threading.Lock()
_last_value: int | None = None


@total_ordering
class MessageId:
    """A message id (ULID). Immutable, hashable, ordered by bytes; ``str()`` is the lowercase text form."""

    __slots__ = ("_value",)

    def __init__(self, value: int) -> None:
        if not 0 <= value < (1 << 128):
            raise EnvelopeError("invalid_message_id", "a ULID is a 128-bit number")
        self._value = value

    # --- construction ---

    @classmethod
    def from_bytes(cls, data: bytes) -> "MessageId":
        if len(data) != 16:
            raise EnvelopeError("invalid_message_id", f"a message id is 16 bytes, got {len(data)}")
        return cls(int.from_bytes(data, "big"))

    @classmethod
    def from_text(cls, text: str) -> "MessageId":
        """Reads the 26-character Crockford base32 form, either case; raises ``invalid_message_id``."""
        if not isinstance(text, str) or len(text) != 26:
            got = len(text) if isinstance(text, str) else type(text).__name__
            raise EnvelopeError("invalid_message_id", f"a ULID is 26 characters, got {got}")
        value = 0
        for position, c in enumerate(text):
            digit = _VALUES.get(c)
            if digit is None:
                raise EnvelopeError("invalid_message_id", f"character {position} is not Crockford base32")
            if position == 0 and digit > 7:
                raise EnvelopeError("invalid_message_id", "the first character overflows 128 bits")
            value = (value << 5) | digit
        return cls(value)

    @classmethod
    def for_time(cls, milliseconds: int) -> "MessageId":
        """A new id for ``milliseconds`` with 80 fresh random bits (not monotonic; see :meth:`generate`)."""
        if not 0 <= milliseconds <= MAX_MILLISECONDS:
            raise EnvelopeError("invalid_message_id", f"time {milliseconds} ms is outside ULID's 48-bit range")
        return cls((milliseconds << 80) | int.from_bytes(os.urandom(10), "big"))

    @classmethod
    def generate(cls) -> "MessageId":
        """A new id for now, monotonic within the process: in the same millisecond as the previous id (or when
        the clock stepped back), the previous id's time with its random part plus one."""
        global _last_value
        now = time.time_ns() // 1_000_000
        fresh = int.from_bytes(os.urandom(10), "big")
        with _last_lock:
            previous = _last_value
            if previous is not None and (previous >> 80) >= now and previous & _RANDOM_MASK != _RANDOM_MASK:
                value = previous + 1
            else:
                value = (min(max(now, 0), MAX_MILLISECONDS) << 80) | fresh
            _last_value = value
        return cls(value)

    # --- views ---

    @property
    def bytes(self) -> bytes:
        return self._value.to_bytes(16, "big")

    @property
    def milliseconds(self) -> int:
        """The time part: Unix time in milliseconds."""
        return self._value >> 80

    @property
    def text(self) -> str:
        return "".join(_ALPHABET[(self._value >> (5 * (25 - i))) & 31] for i in range(26))

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return f"MessageId({self.text!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, MessageId) and self._value == other._value

    def __lt__(self, other: "MessageId") -> bool:
        if not isinstance(other, MessageId):
            return NotImplemented
        return self._value < other._value

    def __hash__(self) -> int:
        return hash(self._value)
