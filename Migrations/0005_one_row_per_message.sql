-- One row per message instead of an inbox row and a sentbox row: the worker's write path halves its heap rows
-- and goes from seven index entries per envelope to two b-tree entries and a BRIN summary (docs/BENCHMARKS.md,
-- "Write path", has the measurements behind each choice).
--
-- * `messages` holds both sealed copies. The recipient's copy is the inbox, the sender's copy the sentbox; a
--   box's delete clears its own copy (its body becomes NULL), and the row goes when both are gone.
-- * The primary key (recipient, id) is the inbox's keyset index; the unique index (sender, id) the sentbox's.
--   Both carry stored_xid (INCLUDE), so a watcher's catch-up reads the index alone instead of a separate
--   (owner, stored_xid) index per box.
-- * The unread partial index is gone: unread counts come from mailbox_usage (exact, same transaction); an
--   unread page filters the owner's primary-key range.
-- * Expiry finds old rows through a BRIN index on stored_at (rows arrive in stored_at order): a few pages of
--   summaries instead of a b-tree entry per row.
-- * The insert rollups (mailbox_usage, per-minute counts and latency) are written by the worker's batch
--   statement itself, from the batch it holds, instead of by a trigger copying every new row (bodies
--   included) into a transition table. Updates and deletes keep their triggers (the query library and
--   `mailroom expire` write those).
-- * inbox_messages and sentbox_messages stay, as views: every reader (the query library, dashboards, an operator
--   at psql) keeps its SQL. Deleting through a view clears that box's copy only (an INSTEAD OF trigger);
--   marking read through the inbox view is a plain auto-updatable view update.

CREATE TABLE messages (
    recipient          bytea       NOT NULL CHECK (octet_length(recipient) = 32),
    id                 uuid        NOT NULL,                                    -- ULID
    sender             bytea       NOT NULL CHECK (octet_length(sender) = 32),
    created_at         timestamptz NOT NULL,
    inbox_body         bytea,      -- sealed to the recipient; NULL once the recipient deleted it
    sentbox_body       bytea,      -- sealed to the sender; NULL once the sender deleted it
    inbox_body_hash    bytea,      -- BLAKE2b-256 of each copy: a copy is verified with the other's hash
    sentbox_body_hash  bytea,      -- (NULL only for a copy's own hash carried over from 0001's tables)
    signature          bytea       NOT NULL CHECK (octet_length(signature) = 64),
    read_at            timestamptz,
    stored_at          timestamptz NOT NULL DEFAULT now(),
    stored_xid         bigint      NOT NULL DEFAULT (pg_current_xact_id()::text::bigint),
    CONSTRAINT messages_pkey PRIMARY KEY (recipient, id) INCLUDE (stored_xid)
);
CREATE UNIQUE INDEX messages_sender ON messages (sender, id) INCLUDE (stored_xid);
CREATE INDEX messages_stored_at ON messages USING brin (stored_at);

-- Carry over what 0001-0004 stored (nothing in a new deployment).
INSERT INTO messages (recipient, id, sender, created_at, inbox_body, sentbox_body, inbox_body_hash,
                      sentbox_body_hash, signature, read_at, stored_at, stored_xid)
SELECT coalesce(i.owner, s.recipient), coalesce(i.id, s.id), coalesce(i.sender, s.owner),
       coalesce(i.created_at, s.created_at), i.body, s.body, s.inbox_body_hash,
       i.sentbox_body_hash, coalesce(i.signature, s.signature), i.read_at,
       least(i.stored_at, s.stored_at), coalesce(least(i.stored_xid, s.stored_xid), 0)
FROM inbox_messages i FULL JOIN sentbox_messages s ON s.owner = i.sender AND s.recipient = i.owner AND s.id = i.id;

DROP TABLE inbox_messages, sentbox_messages;
DROP FUNCTION mailroom_inbox_inserted(), mailroom_inbox_updated(), mailroom_inbox_deleted(),
              mailroom_sentbox_inserted();

-- ---- the two boxes, as views ------------------------------------------------------------------------------

CREATE VIEW inbox_messages AS
SELECT recipient AS owner, id, sender, created_at, inbox_body AS body, sentbox_body_hash, signature, read_at,
       stored_at, stored_xid
FROM messages WHERE inbox_body IS NOT NULL;

CREATE VIEW sentbox_messages AS
SELECT sender AS owner, id, recipient, created_at, sentbox_body AS body, inbox_body_hash, signature, stored_at,
       stored_xid
FROM messages WHERE sentbox_body IS NOT NULL;

-- Deleting a box's message clears that box's copy, then removes the row if the other copy is gone too. The
-- two statements run one after the other with fresh snapshots, so when recipient and sender delete at the same
-- moment the second one to commit always sees the first's NULL and removes the row. SECURITY DEFINER: whoever
-- may delete through the view needs no rights on `messages` itself.
CREATE FUNCTION mailroom_inbox_delete() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
    UPDATE messages SET inbox_body = NULL WHERE recipient = OLD.owner AND id = OLD.id AND inbox_body IS NOT NULL;
    IF NOT FOUND THEN
        RETURN NULL;   -- already gone: not counted as deleted
    END IF;
    DELETE FROM messages WHERE recipient = OLD.owner AND id = OLD.id AND sentbox_body IS NULL AND inbox_body IS NULL;
    RETURN OLD;
END $$;

CREATE FUNCTION mailroom_sentbox_delete() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
    UPDATE messages SET sentbox_body = NULL
    WHERE sender = OLD.owner AND id = OLD.id AND recipient = OLD.recipient AND sentbox_body IS NOT NULL;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    DELETE FROM messages
    WHERE sender = OLD.owner AND id = OLD.id AND recipient = OLD.recipient
      AND sentbox_body IS NULL AND inbox_body IS NULL;
    RETURN OLD;
END $$;

CREATE TRIGGER inbox_messages_delete INSTEAD OF DELETE ON inbox_messages
    FOR EACH ROW EXECUTE FUNCTION mailroom_inbox_delete();
CREATE TRIGGER sentbox_messages_delete INSTEAD OF DELETE ON sentbox_messages
    FOR EACH ROW EXECUTE FUNCTION mailroom_sentbox_delete();

-- ---- rollups ----------------------------------------------------------------------------------------------
-- Inserts: the worker's batch statement (MessageWriter) adds to mailbox_usage and the per-minute tables itself.
-- Updates and deletes: these triggers. `messages` and `unread` count inbox copies (inbox_body IS NOT NULL).

CREATE FUNCTION mailroom_messages_updated() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
    UPDATE mailbox_usage u SET messages = u.messages + d.messages, unread = u.unread + d.unread
    FROM (SELECT n.recipient AS owner,
                 sum((n.inbox_body IS NOT NULL)::int - (o.inbox_body IS NOT NULL)::int) AS messages,
                 sum((n.inbox_body IS NOT NULL AND n.read_at IS NULL)::int
                     - (o.inbox_body IS NOT NULL AND o.read_at IS NULL)::int) AS unread
          FROM old_rows o JOIN new_rows n ON n.recipient = o.recipient AND n.id = o.id
          GROUP BY n.recipient ORDER BY n.recipient) d
    WHERE u.owner = d.owner AND (d.messages <> 0 OR d.unread <> 0);
    RETURN NULL;
END $$;

CREATE FUNCTION mailroom_messages_deleted() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
    UPDATE mailbox_usage u SET messages = u.messages - d.messages, unread = u.unread - d.unread
    FROM (SELECT recipient AS owner, count(*) AS messages, count(*) FILTER (WHERE read_at IS NULL) AS unread
          FROM old_rows WHERE inbox_body IS NOT NULL GROUP BY recipient ORDER BY recipient) d
    WHERE u.owner = d.owner;
    RETURN NULL;
END $$;

CREATE TRIGGER messages_updated AFTER UPDATE ON messages
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION mailroom_messages_updated();
CREATE TRIGGER messages_deleted AFTER DELETE ON messages
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION mailroom_messages_deleted();

-- Counters recomputed from the carried-over rows (they were kept by 0002's triggers; this makes sure).
UPDATE mailbox_usage u SET messages = coalesce(c.messages, 0), unread = coalesce(c.unread, 0)
FROM mailboxes b LEFT JOIN (
    SELECT recipient, count(*) AS messages, count(*) FILTER (WHERE read_at IS NULL) AS unread
    FROM messages WHERE inbox_body IS NOT NULL GROUP BY recipient
) c ON c.recipient = b.owner
WHERE u.owner = b.owner;

-- ---- privileges -------------------------------------------------------------------------------------------

REVOKE ALL ON messages, inbox_messages, sentbox_messages FROM PUBLIC;

-- The worker: insert messages; read back only what detects a redelivery or an id clash (never a body); keep the
-- insert rollups. It may not change a mailbox's quota (max_messages).
GRANT INSERT ON messages TO mailroom_worker;
GRANT SELECT (recipient, id, sender, created_at, signature) ON messages TO mailroom_worker;
GRANT SELECT (owner, id, signature) ON inbox_messages, sentbox_messages TO mailroom_worker;
GRANT INSERT (owner, messages, unread, last_active_at), UPDATE (messages, unread, last_active_at),
      SELECT (owner, messages, unread, max_messages, last_active_at) ON mailbox_usage TO mailroom_worker;
GRANT SELECT, INSERT, UPDATE ON stats_stored_per_minute, stats_latency_per_minute TO mailroom_worker;

-- The query library: read, mark read and delete through the views; watchers' catch-up reads `messages` by
-- key, and `mailroom expire` (run with this role) deletes whole rows from it. It still cannot change a
-- message's content.
GRANT SELECT, DELETE ON inbox_messages, sentbox_messages TO mailroom_query;
GRANT UPDATE (read_at) ON inbox_messages TO mailroom_query;
GRANT SELECT, DELETE ON messages TO mailroom_query;
