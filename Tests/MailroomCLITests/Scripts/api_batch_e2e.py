"""A shared batch end to end through `mailroom serve` and a worker; prints one JSON object.

Usage: python api_batch_e2e.py URL  (a worker must be storing envelopes). Four fresh keys: alice submits one shared
batch to bob, carol and dave (ApiClient.submit_batch) and a single envelope (v1) to carol. Each recipient waits on
its inbox event stream for `created` of its message id (no sleeping: every wait is bounded by the stream's read
timeout), lists its inbox through the API, and verifies and opens the v2 record it gets; carol's page mixes a v1
and a v2 record, opened alike. Alice's sentbox holds ONE entry for the batch (a v2 sentbox record, id the batch id)
that opens for her alone. Bob marks his entry read and deletes it (events `read` and `deleted`); alice deletes the
batch's sentbox entry by its batch id.

`out["checks"]` maps each check to true or false; the other members are there to explain a false one."""
import json
import socket
import sys

from mailroom_client import BatchRecord, EnvelopeError, Record
from mailroom_client.api import ApiClient, ApiError
from mailroom_client.batch import RecipientRecord, SenderCopy, seal_shared
from mailroom_client.envelope import seal
from mailroom_client.keys import Identity

url = sys.argv[1]
BODY = b"batch over http: see you on Friday"
SINGLE = b"a single message, v1"
keys = {name: Identity.generate() for name in ("alice", "bob", "carol", "dave")}
clients = {name: ApiClient(url, key) for name, key in keys.items()}
for client in clients.values():
    client.setup_mailbox()
alice = clients["alice"]
recipients = ["bob", "carol", "dave"]
out = {"checks": {}, "events": {}}
checks = out["checks"]


def check(name, condition):
    checks[name] = bool(condition)


def reason(fn, *args):
    try:
        fn(*args)
    except (EnvelopeError, ApiError) as error:
        return getattr(error, "reason", None) or getattr(error, "code", None)
    return None


def wait_for(stream, wanted, box):
    """Reads events until every (kind, id) in `wanted` was seen (True), or the stream times out (False)."""
    wanted = set(wanted)
    try:
        for event in stream:
            out["events"].setdefault(box, []).append([event.kind, event.data.get("ids", [])])
            for message_id in event.data.get("ids", []):
                wanted.discard((event.kind, message_id))
            if not wanted:
                return True
    except (socket.timeout, TimeoutError):
        pass
    return False


# Streams first, so that no event can be missed: each recipient's inbox and alice's sentbox.
streams = {name: clients[name].events("inbox", read_timeout=60) for name in recipients}
streams["alice-sentbox"] = alice.events("sentbox", read_timeout=60)
check("streams_ready", all(next(s).kind == "ready" for s in streams.values()))

batch = seal_shared(keys["alice"], [keys[name].public_key for name in recipients], BODY)
answers = alice.submit_batch(batch)
batch_id = BatchRecord("sentbox", batch.sender_copy).batch_id.text
message_ids = {name: batch.message_ids[i].text for i, name in enumerate(recipients)}
check("submitted", [a["id"] for a in answers] == list(message_ids.values()) + [batch_id])
single_id = alice.submit(seal(keys["alice"], keys["carol"].public_key, SINGLE))["id"]
out["batch_id"], out["message_ids"], out["single_id"] = batch_id, message_ids, single_id

# Each recipient: created arrives, the inbox lists a v2 record that verifies alone and opens.
wanted = {name: [("created", message_ids[name])] for name in recipients}
wanted["carol"].append(("created", single_id))
for i, name in enumerate(recipients):
    check(f"{name}_created_event", wait_for(streams[name], wanted[name], name))
    records, next_seek = clients[name].inbox()
    batch_records = [r for r in records if r.is_batch]
    out[f"{name}_inbox"] = [[r.id.text, r.kind, r.is_batch] for r in records]
    check(f"{name}_one_batch_entry", len(batch_records) == 1 and next_seek is None)
    if not batch_records:
        continue
    record = batch_records[0]
    check(f"{name}_entry_id_kind", record.id.text == message_ids[name] and record.kind == "inbox")
    check(f"{name}_value_byte_for_byte", record.value == batch.records[i] and record.read_at_ms is None)
    verified = record.verify()
    check(
        f"{name}_verifies_alone",
        isinstance(verified, RecipientRecord)
        and verified.batch_id.text == batch_id
        and verified.index == i
        and verified.recipient == keys[name].public_key
        and verified.sender == keys["alice"].public_key,
    )
    check(f"{name}_opens", record.open(keys[name]) == BODY)
    check(f"{name}_not_for_others", reason(record.open, keys["alice"]) == "not_a_party")

# Carol's page mixes both formats; one call opens either.
carol_records, _ = clients["carol"].inbox()
check("carol_page_mixes_v1_and_v2", sorted(r.is_batch for r in carol_records) == [False, True])
check(
    "carol_opens_both_alike",
    {r.id.text: r.open(keys["carol"]) for r in carol_records} == {single_id: SINGLE, message_ids["carol"]: BODY},
)
check("carol_v1_is_a_record", any(isinstance(r, Record) and r.id.text == single_id for r in carol_records))

# Alice's sentbox: one entry for the whole batch, plus the single message's copy.
check("sentbox_created_event", wait_for(streams["alice-sentbox"], [("created", batch_id), ("created", single_id)], "alice-sentbox"))
sent, _ = alice.sentbox()
out["alice_sentbox"] = [[r.id.text, r.kind, r.is_batch] for r in sent]
sent_batches = [r for r in sent if r.is_batch]
check("sentbox_one_entry_per_batch", len(sent_batches) == 1 and len(sent) == 2)
if sent_batches:
    entry = sent_batches[0]
    check("sentbox_entry_id_kind", entry.id.text == batch_id and entry.kind == "sentbox")
    check("sentbox_value_byte_for_byte", entry.value == batch.sender_copy)
    copy = entry.verify()
    check(
        "sentbox_lists_the_recipients",
        isinstance(copy, SenderCopy)
        and [(key, mid.text) for key, mid, _ in copy.recipients]
        == [(keys[name].public_key, message_ids[name]) for name in recipients],
    )
    check("sentbox_opens_for_alice", entry.open(keys["alice"]) == BODY)
    check("sentbox_not_for_bob", reason(entry.open, keys["bob"]) == "not_a_party")
check("alice_inbox_empty", alice.inbox()[0] == [])

# Bob marks read, then deletes; nobody else can.
bob = clients["bob"]
bob_id = message_ids["bob"]
check("alice_cannot_read_bobs", reason(alice.mark_read, bob_id) == "message_not_found")
check("carol_cannot_delete_bobs", reason(clients["carol"].delete_inbox, bob_id) == "message_not_found")
check("bob_unread_before", bob.unread() == 1)
read = bob.mark_read(bob_id)
check("read_answer_is_v2", read.is_batch and read.id.text == bob_id and read.read_at_ms is not None)
check("read_record_still_opens", read.open(keys["bob"]) == BODY)
check("bob_read_event", wait_for(streams["bob"], [("read", bob_id)], "bob"))
check("bob_unread_after", bob.unread() == 0)
listed, _ = bob.inbox()
check("bob_listed_read_at", [r.read_at_ms for r in listed] == [read.read_at_ms])
check("bob_unread_page_empty", bob.inbox(status="unread")[0] == [])
bob.delete_inbox(bob_id)
check("bob_deleted_event", wait_for(streams["bob"], [("deleted", bob_id)], "bob"))
check("bob_inbox_empty", bob.inbox()[0] == [])
check("bob_delete_again_not_found", reason(bob.delete_inbox, bob_id) == "message_not_found")
# The others keep theirs, and alice's sentbox entry stays.
check("dave_keeps_his", [r.id.text for r in clients["dave"].inbox()[0]] == [message_ids["dave"]])
check("dave_opens_after_bob_deleted", clients["dave"].inbox()[0][0].open(keys["dave"]) == BODY)
check("sentbox_entry_stays", batch_id in [r.id.text for r in alice.sentbox()[0]])

# Alice deletes the batch's sentbox entry by its batch id.
alice.delete_sentbox(batch_id)
check("sentbox_deleted_event", wait_for(streams["alice-sentbox"], [("deleted", batch_id)], "alice-sentbox"))
check("sentbox_entry_gone", [r.id.text for r in alice.sentbox()[0]] == [single_id])
check("carol_still_opens", clients["carol"].inbox()[0] and all(
    r.open(keys["carol"]) in (BODY, SINGLE) for r in clients["carol"].inbox()[0]
))

for stream in streams.values():
    stream.close()
print(json.dumps(out))
