"""Tests/MailroomCoreTests/Vectors/records.json, written by the Swift side (MAILROOM_RECORDS_VECTORS overrides
the path). Missing file = failure, not a skip: the vectors are what ties the two implementations together."""

from __future__ import annotations

import json

import pytest

from conftest import RECORDS_VECTORS
from mailroom_client import EnvelopeError, Identity, Record


def _load() -> dict | None:
    try:
        with open(RECORDS_VECTORS, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        return None


VECTORS = _load()
VALID = (VECTORS or {}).get("valid", [])
INVALID = (VECTORS or {}).get("invalid", [])


def _json_text(v: dict) -> str | None:
    """The JSON form: ``json_text`` (agreed schema); ``json`` as docs/ENVELOPE.md names it is read too."""
    if "json_text" in v:
        return v["json_text"]
    if "json" in v:
        return v["json"] if isinstance(v["json"], str) else json.dumps(v["json"], separators=(",", ":"))
    return None


def test_file_exists_and_has_the_agreed_shape():
    if VECTORS is None:
        pytest.fail(f"{RECORDS_VECTORS} is missing: the Swift vector generator writes it")
    assert isinstance(VECTORS.get("about"), str)
    assert isinstance(VECTORS.get("max_body_bytes"), int)
    assert VALID and INVALID
    for v in VALID:
        assert {"name", "kind", "owner_private_key", "plaintext_hex", "binary_hex"} <= set(v), v.get("name")
        assert _json_text(v) is not None, v["name"]
    for v in INVALID:
        assert {"name", "description", "reason"} <= set(v), v.get("name")
        assert "binary_hex" in v or _json_text(v) is not None, v["name"]
    assert len({v["name"] for v in VALID + INVALID}) == len(VALID) + len(INVALID)


@pytest.mark.parametrize("v", VALID, ids=[v["name"] for v in VALID])
def test_valid_record_vector(v):
    max_body = VECTORS["max_body_bytes"]
    binary = bytes.fromhex(v["binary_hex"])
    text = _json_text(v)
    from_binary = Record.from_binary(binary)
    from_json = Record.from_json(text)
    assert from_binary == from_json
    assert from_binary.kind == v["kind"]
    assert from_binary.to_binary() == binary
    if "json_text" in v:
        assert from_binary.to_json() == text  # byte for byte
    else:
        assert json.loads(from_binary.to_json()) == json.loads(text)
    assert Record.from_json(from_binary.to_json()) == from_binary
    assert Record.from_binary(from_json.to_binary()) == from_json
    from_binary.verify(max_body)
    owner = Identity.from_textile_string(v["owner_private_key"])
    assert owner.public_key == from_binary.owner
    assert from_binary.open(owner, max_body) == bytes.fromhex(v["plaintext_hex"])
    assert from_json.open(owner, max_body) == bytes.fromhex(v["plaintext_hex"])


def test_valid_vectors_cover_read_at():
    assert any(Record.from_binary(bytes.fromhex(v["binary_hex"])).read_at_ms is not None for v in VALID)
    assert {v["kind"] for v in VALID} == {"inbox", "sentbox"}


@pytest.mark.parametrize("v", INVALID, ids=[v["name"] for v in INVALID])
def test_invalid_record_vector(v):
    max_body = VECTORS["max_body_bytes"]
    forms = []
    if "binary_hex" in v:
        forms.append(("binary", lambda: Record.from_binary(bytes.fromhex(v["binary_hex"]))))
    text = _json_text(v)
    if text is not None:
        forms.append(("json", lambda: Record.from_json(text)))
    for form, parse in forms:
        with pytest.raises(EnvelopeError) as caught:
            record = parse()
            if "owner_private_key" in v:
                record.open(Identity.from_textile_string(v["owner_private_key"]), max_body)
            else:
                record.verify(max_body)
        assert caught.value.reason == v["reason"], f"{form}: {caught.value.detail}"
