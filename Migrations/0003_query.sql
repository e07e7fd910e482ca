-- What the query library needs beyond the worker's tables: a commit-safe catch-up position for watchers,
-- and a short log of read and delete events so that a watcher that lost its LISTEN connection misses none.
--
-- Message ids are ULIDs from the sender's clock, so a message can be stored with an id older than one a
-- watcher already saw: "id > last id seen" would skip it. Instead every row records the id of the
-- transaction that stored it (stored_xid, a 64-bit epoch-extended xid as bigint). A watcher keeps, per
-- owner, a frontier: the oldest transaction still running when it last looked (pg_snapshot_xmin). Every
-- transaction below the frontier had finished, so all its rows were visible to that look; the next look
-- only reads rows with stored_xid >= frontier and drops those it already reported (docs/QUERY.md).

ALTER TABLE inbox_messages
    ADD COLUMN stored_xid bigint NOT NULL DEFAULT (pg_current_xact_id()::text::bigint);
ALTER TABLE sentbox_messages
    ADD COLUMN stored_xid bigint NOT NULL DEFAULT (pg_current_xact_id()::text::bigint);

CREATE INDEX inbox_messages_stored_xid ON inbox_messages (owner, stored_xid);
CREATE INDEX sentbox_messages_stored_xid ON sentbox_messages (owner, stored_xid);

-- Read and delete events, written by the query library in the same statement as the change and its NOTIFY.
-- Watchers read them back by (owner, box, xid) like the message rows. Old rows can be pruned
-- (MailroomClient.pruneWatchEvents); a watcher disconnected for longer than the retention misses them.
CREATE TABLE mailbox_events (
    seq        bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    box        text        NOT NULL CHECK (box IN ('inbox', 'sentbox')),
    event      text        NOT NULL CHECK (event IN ('read', 'deleted')),
    owner      bytea       NOT NULL CHECK (octet_length(owner) = 32),
    id         uuid        NOT NULL,
    xid        bigint      NOT NULL DEFAULT (pg_current_xact_id()::text::bigint),
    at         timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX mailbox_events_owner_xid ON mailbox_events (owner, box, xid);
CREATE INDEX mailbox_events_at ON mailbox_events (at);
