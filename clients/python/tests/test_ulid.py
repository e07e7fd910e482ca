from __future__ import annotations

import pytest

from mailroom_client import EnvelopeError, MessageId
from mailroom_client.ulid import MAX_MILLISECONDS


def test_text_round_trip_and_case():
    mid = MessageId.from_text("01KDVDNA007FTB0N4XX1D2FGGY")
    assert mid.text == "01kdvdna007ftb0n4xx1d2fggy"
    assert mid.milliseconds == 1767225600000
    assert MessageId.from_bytes(mid.bytes) == mid
    assert MessageId.from_text(str(mid)) == mid


@pytest.mark.parametrize(
    "text",
    ["", "01kdvdna007ftb0n4xx1d2fgg", "01kdvdna007ftb0n4xx1d2fggyy", "01kdvdna007ftb0n4xx1d2fggu",
     "01kdvdna007ftb0n4xx1d2fggi", "01kdvdna007ftb0n4xx1d2fggl", "01kdvdna007ftb0n4xx1d2fggo",
     "81kdvdna007ftb0n4xx1d2fggy", "01kdvdna007ftb0n4xx1d2fgg-"],
)
def test_malformed_text(text):
    with pytest.raises(EnvelopeError) as caught:
        MessageId.from_text(text)
    assert caught.value.reason == "invalid_message_id"


def test_extremes():
    assert MessageId.from_text("7" + "z" * 25).bytes == b"\xff" * 16
    assert MessageId.from_text("0" * 26).bytes == bytes(16)
    assert MessageId.for_time(MAX_MILLISECONDS).milliseconds == MAX_MILLISECONDS
    for bad in (-1, MAX_MILLISECONDS + 1):
        with pytest.raises(EnvelopeError):
            MessageId.for_time(bad)
    with pytest.raises(EnvelopeError):
        MessageId.from_bytes(bytes(15))


def test_monotonic():
    ids = [MessageId.generate() for _ in range(2000)]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    for a, b in zip(ids, ids[1:]):
        if a.milliseconds == b.milliseconds:
            assert int.from_bytes(b.bytes, "big") == int.from_bytes(a.bytes, "big") + 1
