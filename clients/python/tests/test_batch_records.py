"""Portable batch records (record format v2, docs/ENVELOPE.md "Portable batch records"): the Swift side's vectors
(batch-envelopes.json: portable_records, invalid_portable_records), the JSON wrapper of the API's pages, reading
either format through parse_record, and a page that mixes v1 and v2 records through ApiClient."""

from __future__ import annotations

import base64
import json

import pytest

from conftest import load_json
from helpers import identity
from mailroom_client import (
    ApiClient,
    BatchRecord,
    EnvelopeError,
    Identity,
    MessageId,
    Record,
    parse_record,
    record_from_envelope,
    seal,
    seal_personalised,
    seal_shared,
    verify,
)
from mailroom_client.batch import RecipientRecord, SenderCopy
from mailroom_client.records import b64url_encode
from test_api import server  # noqa: F401  (the canned-reply HTTP server fixture)

_VECTORS = load_json("batch-envelopes.json")
PORTABLE = _VECTORS["portable_records"]
INVALID_PORTABLE = _VECTORS["invalid_portable_records"]


def reason(fn, *args, **kwargs) -> str | None:
    try:
        fn(*args, **kwargs)
    except EnvelopeError as error:
        return error.reason
    return None


# --- Swift's bytes --------------------------------------------------------------------------------------------


def test_vectors_cover_both_kinds_metadata_and_every_stage():
    assert {v["kind"] for v in PORTABLE} == {"inbox", "sentbox"}
    assert any(v.get("read_at_ms") is not None for v in PORTABLE)
    assert any(v.get("read_at_ms") is None for v in PORTABLE)
    assert {v["stage"] for v in INVALID_PORTABLE} == {"parse", "verify", "open"}


@pytest.mark.parametrize("v", PORTABLE, ids=[v["name"] for v in PORTABLE])
def test_portable_vector(v):
    binary = bytes.fromhex(v["binary_hex"])
    record = BatchRecord.from_binary(binary)
    assert record.kind == v["kind"] and record.is_batch
    assert record.value.hex() == v["value_hex"]
    assert record.read_at_ms == v.get("read_at_ms")
    assert record.id.text == v["id"]
    # Python writes Swift's bytes, binary and JSON.
    assert record.to_binary() == binary
    assert BatchRecord(v["kind"], bytes.fromhex(v["value_hex"]), v.get("read_at_ms")).to_binary() == binary
    assert record.to_json() == v["json"]
    # The JSON wrapper Swift wrote reads back to the same record, listed under the vector's id.
    from_json = BatchRecord.from_json(v["json"])
    assert from_json.to_binary() == binary and from_json.listed_id.text == v["id"]
    assert parse_record(v["json"]) == from_json and parse_record(binary) == record
    assert parse_record(json.loads(v["json"])) == from_json
    verified = from_json.verify()
    if v["kind"] == "inbox":
        assert isinstance(verified, RecipientRecord) and verified.message_id.text == v["id"]
        assert record.recipient == verified.recipient
    else:
        assert isinstance(verified, SenderCopy) and verified.batch_id.text == v["id"]
        assert record.recipient is None
    assert record.sender == verified.sender and record.created_at_ms == verified.created_at_ms
    owner = Identity.from_textile_string(v["owner_private_key"])
    assert record.owner == owner.public_key
    assert from_json.open(owner).hex() == v["plaintext_hex"]
    assert reason(from_json.open, identity(99)) == "not_a_party"


@pytest.mark.parametrize("v", INVALID_PORTABLE, ids=[v["name"] for v in INVALID_PORTABLE])
def test_invalid_portable_vector(v):
    binary = bytes.fromhex(v["binary_hex"])
    if v["stage"] == "parse":
        assert reason(BatchRecord.from_binary, binary) == v["reason"]
        if binary[:4] == b"mrec" and len(binary) > 4 and binary[4] == 2:
            assert reason(parse_record, binary) == v["reason"]
        return
    record = BatchRecord.from_binary(binary)
    if v["stage"] == "verify":
        assert reason(record.verify) == v["reason"]
        return
    record.verify()
    assert reason(record.open, Identity.from_textile_string(v["identity_private_key"])) == v["reason"]


# --- the JSON wrapper, strictly -------------------------------------------------------------------------------

SAMPLE = next(v for v in PORTABLE if v["kind"] == "inbox")


def wrapper(**changes) -> str:
    obj = json.loads(SAMPLE["json"])
    for name, value in changes.items():
        if value is ...:
            obj.pop(name)
        else:
            obj[name] = value
    return json.dumps(obj)


@pytest.mark.parametrize(
    "changes, expected",
    [
        ({"format": "mailroom.record.v3"}, "unsupported_record_version"),
        ({"format": "mailroom.record.v02"}, "invalid_record"),
        ({"format": "mailroom.record.v2 "}, "invalid_record"),
        ({"format": 2}, "invalid_record"),
        ({"kind": "trash"}, "invalid_record"),
        ({"kind": "sentbox"}, "invalid_record"),  # the binary record says inbox
        ({"id": "not-a-ulid"}, "invalid_record"),
        ({"id": 7}, "invalid_record"),
        ({"record": b64url_encode(bytes.fromhex(SAMPLE["binary_hex"])) + "="}, "invalid_record"),
        ({"record": "!!"}, "invalid_record"),
        ({"record": None}, "invalid_record"),
        ({"record": ...}, "invalid_record"),
        ({"id": ...}, "invalid_record"),
        ({"extra": 1}, "invalid_record"),
        ({"record": b64url_encode(b"mrec\x01" + bytes(300))}, "unsupported_record_version"),
    ],
)
def test_json_wrapper_is_strict(changes, expected):
    assert reason(BatchRecord.from_json, wrapper(**changes)) == expected


def test_json_wrapper_duplicate_members_and_not_json():
    text = SAMPLE["json"]
    assert reason(BatchRecord.from_json, text[:-1] + ',"id":"' + SAMPLE["id"] + '"}') == "invalid_record"
    assert reason(BatchRecord.from_json, "[]") == "invalid_record"
    assert reason(BatchRecord.from_json, "\ufeff" + text) == "invalid_record"


def test_listed_id_must_be_the_records_own():
    other = MessageId.for_time(MessageId.from_text(SAMPLE["id"]).milliseconds)
    record = BatchRecord.from_json(wrapper(id=other.text))
    assert record.id == other  # parsing does not look inside the value
    assert reason(record.verify) == "invalid_record"
    assert reason(record.open, Identity.from_textile_string(SAMPLE["owner_private_key"])) == "invalid_record"


def test_v1_and_v2_readers_refuse_each_other():
    v1 = record_from_envelope(verify(seal(identity(1), identity(2).public_key, b"single")), "inbox")
    assert reason(BatchRecord.from_binary, v1.to_binary()) == "unsupported_record_version"
    assert reason(BatchRecord.from_json, v1.to_json()) == "unsupported_record_version"
    assert reason(Record.from_binary, bytes.fromhex(SAMPLE["binary_hex"])) == "unsupported_record_version"
    assert reason(Record.from_json, SAMPLE["json"]) == "unsupported_record_version"
    # parse_record reads both, by the version byte or the format.
    assert parse_record(v1.to_binary()) == v1 and parse_record(v1.to_json()) == v1
    assert not parse_record(v1.to_json()).is_batch and parse_record(SAMPLE["json"]).is_batch
    assert reason(parse_record, b"mrec\x03" + bytes(20)) == "unsupported_record_version"
    assert reason(parse_record, '{"format":"mailroom.record.v3"}') == "unsupported_record_version"


# --- records Python seals ---------------------------------------------------------------------------------------


def test_round_trip_of_python_batches_both_kinds():
    alice, bob, carol = identity(1), identity(2), identity(3)
    shared = seal_shared(alice, [bob.public_key, carol.public_key], b"hello both")
    personal = seal_personalised(alice, [(bob.public_key, b"hi bob"), (carol.public_key, b"hi carol")], b"hi {name}")
    for batch, bodies, sender_body in (
        (shared, [b"hello both"] * 2, b"hello both"),
        (personal, [b"hi bob", b"hi carol"], b"hi {name}"),
    ):
        for i, who in enumerate((bob, carol)):
            record = BatchRecord("inbox", batch.records[i], read_at_ms=123 if i else None)
            again = parse_record(record.to_json())
            assert again.id == batch.message_ids[i] and again.read_at_ms == record.read_at_ms
            assert again.open(who) == bodies[i]
            assert reason(again.open, alice) == "not_a_party"
        sentbox = parse_record(BatchRecord("sentbox", batch.sender_copy).to_binary())
        assert sentbox.open(alice) == sender_body
        assert reason(sentbox.open, bob) == "not_a_party"
        assert len(sentbox.verify().recipients) == 2
    # A sender's copy filed as an inbox entry, and the reverse, is invalid_batch.
    assert reason(BatchRecord("inbox", shared.sender_copy).verify) == "invalid_batch"
    assert reason(BatchRecord("sentbox", shared.records[0]).verify) == "invalid_batch"


# --- a page that mixes both formats -----------------------------------------------------------------------------


def test_api_page_mixes_v1_and_v2_records(server):
    alice, bob = identity(1), identity(2)
    single = record_from_envelope(verify(seal(alice, bob.public_key, b"single")), "inbox")
    batch = seal_shared(alice, [identity(3).public_key, bob.public_key], b"to many")
    entry = BatchRecord("inbox", batch.records[1], listed_id=batch.message_ids[1])
    server.reply(200, {"records": [json.loads(single.to_json()), json.loads(entry.to_json())], "next_seek": None})
    got, _ = ApiClient(server.url, bob).inbox()
    assert [r.is_batch for r in got] == [False, True]
    assert [r.id for r in got] == [single.id, batch.message_ids[1]]
    assert [r.kind for r in got] == ["inbox", "inbox"]
    assert [r.open(bob) for r in got] == [b"single", b"to many"]
    assert all(r.sender == alice.public_key for r in got)

    # A sentbox page: the batch is one entry, opened by the sender.
    copy = BatchRecord("sentbox", batch.sender_copy)
    assert copy.id == copy.batch_id  # read from the value when nothing lists it
    server.reply(200, {"records": [json.loads(copy.to_json())], "next_seek": None})
    (got_copy,), _ = ApiClient(server.url, alice).sentbox()
    assert got_copy.is_batch and got_copy.id == copy.batch_id and got_copy.open(alice) == b"to many"

    # mark_read answers with the record as it is now.
    server.reply(200, {"record": json.loads(entry.with_read_at(5).to_json())})
    read = ApiClient(server.url, bob).mark_read(entry.id)
    assert read.is_batch and read.read_at_ms == 5 and read.open(bob) == b"to many"

    # An entry of the other mailbox in a page is not what was asked for.
    server.reply(200, {"records": [json.loads(copy.to_json())], "next_seek": None})
    with pytest.raises(Exception) as info:
        ApiClient(server.url, bob).inbox()
    assert getattr(info.value, "code", None) == "invalid_response"


# --- the command line -------------------------------------------------------------------------------------------


def test_cli_opens_batch_records_in_both_forms(tmp_path):
    from test_cli import run

    alice, bob = identity(1), identity(2)
    batch = seal_shared(alice, [identity(3).public_key, bob.public_key], b"cli batch")
    key_file = tmp_path / "bob.key"
    key_file.write_text(bob.textile_string())
    key_file.chmod(0o600)
    entry = BatchRecord("inbox", batch.records[1], read_at_ms=7)
    for data in (entry.to_json().encode(), entry.to_binary()):
        result = run("open", "-", "--identity", str(key_file), "--json", stdin=data)
        assert result.returncode == 0, result.stderr
        out = json.loads(result.stdout)
        assert base64.b64decode(out["body_base64"]) == b"cli batch"
        assert out["id"] == batch.message_ids[1].text and out["kind"] == "inbox" and out["read_at_ms"] == 7
        assert out["sender"] == alice.public_key_string and out["recipient"] == bob.public_key_string
    # The sender's copy is not bob's to open.
    result = run("open", "-", "--identity", str(key_file), stdin=BatchRecord("sentbox", batch.sender_copy).to_json().encode())
    assert result.returncode == 3 and result.stderr.decode().startswith("error: not_a_party: ")
