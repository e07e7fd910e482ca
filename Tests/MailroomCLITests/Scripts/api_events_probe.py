"""Watches an inbox through `mailroom serve`'s event stream across a forced reconnect; prints one JSON object.

Usage: python api_events_probe.py URL  (a worker must be storing envelopes). Two fresh keys: alice sends to
bob through the API; bob's stream sees `created`; the stream is dropped; while it is down alice sends again
and bob marks the first read; bob reconnects with Last-Event-ID and must see both; then a delete. Every wait
is bounded by the stream's read timeout, so a lost event fails the run instead of hanging it."""
import json
import socket
import sys

from mailroom_client.api import ApiClient, ApiError
from mailroom_client.envelope import seal
from mailroom_client.keys import Identity

url = sys.argv[1]
if sys.argv[2:] == ["--hold"]:
    # Holds one stream open until the server ends it: prints `live`, then `ended` when the stream closes.
    holder = Identity.generate()
    client = ApiClient(url, holder)
    client.setup_mailbox()
    held = client.events("inbox", read_timeout=120)
    print("live", next(held).kind, flush=True)
    for _ in held:
        pass
    print("ended", flush=True)
    sys.exit(0)
alice_key, bob_key = Identity.generate(), Identity.generate()
alice, bob = ApiClient(url, alice_key), ApiClient(url, bob_key)
alice.setup_mailbox()
bob.setup_mailbox()
out = {"kinds": []}


def wait_for(stream, wanted):
    """Reads events until every (kind, id) in `wanted` was seen; returns what was seen."""
    wanted = set(wanted)
    seen = []
    try:
        for event in stream:
            out["kinds"].append(event.kind)
            for message_id in event.data.get("ids", []):
                seen.append((event.kind, message_id))
                wanted.discard((event.kind, message_id))
            if not wanted:
                return seen, True
    except (socket.timeout, TimeoutError):
        pass
    return seen, False


stream = bob.events("inbox", read_timeout=60)
ready = next(stream)
out["ready"] = {"kind": ready.kind, "id": ready.id}
first = alice.submit(seal(alice_key, bob_key.public_key, b"one"))["id"]
_, out["first_seen"] = wait_for(stream, [("created", first)])
cursor = stream.last_event_id
out["cursor"] = cursor
stream.close()  # the forced disconnect

# While bob is away: a second message, and the first read (by another of bob's devices, say).
second = alice.submit(seal(alice_key, bob_key.public_key, b"two"))["id"]
bob.mark_read(first)

stream = bob.events("inbox", last_event_id=cursor, read_timeout=60)
ready = next(stream)
out["resumed_ready"] = {"kind": ready.kind, "id": ready.id}
seen, out["resumed_all"] = wait_for(stream, [("created", second), ("read", first)])
out["resumed_seen"] = seen
bob.delete_inbox(second)
_, out["deleted_seen"] = wait_for(stream, [("deleted", second)])

# Streams per key are bounded: three more open, the fifth is refused.
extra = [bob.events("inbox", read_timeout=60) for _ in range(3)]
try:
    bob.events("inbox", read_timeout=60)
    out["fifth"] = "opened"
except ApiError as error:
    out["fifth"] = f"{error.status} {error.code}"
for s in extra:
    s.close()
stream.close()
# Another key's stream never sees bob's mail: alice's inbox stream is live and empty of these ids.
out["ids"] = [first, second]
print(json.dumps(out))
