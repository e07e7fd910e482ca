-- Batch envelopes (envelope format v2, docs/ENVELOPE.md): one signed head and one shared payload for many
-- recipients, and one sentbox entry per batch.
--
-- * `message_batches` holds what a batch's records share, once: the head (header, Merkle root, signature), the
--   shared payload, and the sender's copy (the body sealed to the sender, and the list of recipients: key,
--   message id and item hash per leaf, 80 bytes each, from which every leaf, the tree and each recipient's
--   Merkle path are rebuilt). The sentbox entry is the sender's body: it exists while `sender_body` is there.
-- * A recipient's message is a row of `messages` like any other (the inbox, quotas, read marks, deletes,
--   watches, expiry and tombstones work unchanged), holding its item (the wrapped content key, or its sealed
--   body) as `inbox_body`, the batch's id and its leaf index. It has no sentbox copy and no signature of its own:
--   the batch's is in the head. Its Merkle path comes from the batch's recipient list; while that list is not
--   stored (the records travel on different partitions, so a recipient's record may come first), the path waits in
--   `message_batch_paths`, and goes when the list arrives or the copy is deleted.
-- * The shared payload goes with the last recipient copy (`inbox_copies` reaches 0); the recipient list with the
--   last inbox copy once the sender's body is gone too. The batch row itself stays, like a tombstone, so that a
--   redelivered record is recognised; `mailroom expire` removes it with the last tombstone of its rows.
-- * v2 rows are not in the sentbox (one entry per batch instead), so the sender index covers v1 rows only.

CREATE TABLE message_batches (
    sender              bytea       NOT NULL CHECK (octet_length(sender) = 32),
    batch_id            uuid        NOT NULL,                                   -- ULID
    head                bytea       NOT NULL CHECK (octet_length(head) = 254),   -- header | root | signature
    created_at          timestamptz NOT NULL,
    payload             bytea,      -- the shared payload; NULL in a personalised batch and once no inbox copy is left
    sender_body         bytea,      -- the body sealed to the sender (the sentbox entry); NULL until stored, or deleted
    recipients          bytea,      -- the sender copy's recipient list; NULL until stored, or once nothing needs it
    sender_copy_stored  boolean     NOT NULL DEFAULT false,   -- once true, a redelivered sender copy changes nothing
    sender_copy_xid     bigint,     -- the transaction that stored the sender's copy (sentbox watchers)
    inbox_copies        integer     NOT NULL DEFAULT 0,       -- rows of this batch holding their inbox copy
    recipient_rows      integer     NOT NULL DEFAULT 0,       -- rows of this batch, tombstones included
    stored_at           timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT message_batches_pkey PRIMARY KEY (sender, batch_id)
);
-- Ciphertext and hashes do not compress; stored out of line uncompressed, a slice is read without the rest.
ALTER TABLE message_batches ALTER COLUMN payload SET STORAGE EXTERNAL,
                            ALTER COLUMN sender_body SET STORAGE EXTERNAL,
                            ALTER COLUMN recipients SET STORAGE EXTERNAL;
CREATE INDEX message_batches_sentbox ON message_batches (sender, sender_copy_xid)
    WHERE sender_copy_xid IS NOT NULL;
CREATE INDEX message_batches_stored_at ON message_batches USING brin (stored_at);

-- Merkle paths of recipients' rows whose batch's recipient list is not stored yet.
CREATE TABLE message_batch_paths (
    sender       bytea   NOT NULL,
    batch_id     uuid    NOT NULL,
    batch_index  integer NOT NULL,
    path         bytea   NOT NULL,
    CONSTRAINT message_batch_paths_pkey PRIMARY KEY (sender, batch_id, batch_index)
);

ALTER TABLE messages
    ADD COLUMN batch_id    uuid,       -- v2: the batch (with `sender`, the key of message_batches)
    ADD COLUMN batch_index integer,    -- v2: the recipient's leaf index
    ALTER COLUMN signature DROP NOT NULL,
    ADD CONSTRAINT messages_format CHECK (
        CASE WHEN batch_id IS NULL THEN signature IS NOT NULL AND batch_index IS NULL
             ELSE signature IS NULL AND batch_index IS NOT NULL AND batch_index >= 0 AND sentbox_body IS NULL END);

-- The sender index covers v1 rows: their sentbox copies and their (sender, id) uniqueness.
CREATE UNIQUE INDEX messages_sender_single ON messages (sender, id) INCLUDE (stored_xid) WHERE batch_id IS NULL;
DROP INDEX messages_sender;

CREATE OR REPLACE VIEW inbox_messages AS
SELECT recipient AS owner, id, sender, created_at, inbox_body AS body, sentbox_body_hash, signature, read_at,
       stored_at, stored_xid, batch_id, batch_index
FROM messages WHERE inbox_body IS NOT NULL;

CREATE OR REPLACE VIEW sentbox_messages AS
SELECT sender AS owner, id, recipient, created_at, sentbox_body AS body, inbox_body_hash, signature, stored_at,
       stored_xid
FROM messages WHERE sentbox_body IS NOT NULL AND batch_id IS NULL;

-- The sentbox entries of batches: one per batch, while the sender's body is there.
CREATE VIEW sentbox_batches AS
SELECT sender AS owner, batch_id AS id, created_at, head, sender_body AS body, recipients,
       (get_byte(head, 58) << 24) | (get_byte(head, 59) << 16) | (get_byte(head, 60) << 8) | get_byte(head, 61)
           AS recipient_count,
       stored_at, sender_copy_xid AS stored_xid
FROM message_batches WHERE sender_body IS NOT NULL;

-- Deleting a batch's sentbox entry clears the sender's body; the recipient list stays while an inbox copy needs it.
CREATE FUNCTION mailroom_sentbox_batch_delete() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
BEGIN
    UPDATE public.message_batches
    SET sender_body = NULL, recipients = CASE WHEN inbox_copies > 0 THEN recipients END
    WHERE sender = OLD.owner AND batch_id = OLD.id AND sender_body IS NOT NULL;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    RETURN OLD;
END $$;
CREATE TRIGGER sentbox_batches_delete INSTEAD OF DELETE ON sentbox_batches
    FOR EACH ROW EXECUTE FUNCTION mailroom_sentbox_batch_delete();

-- ---- the worker's batch statements ------------------------------------------------------------------------
-- Stores the heads of the batches a worker batch refers to and the sender copies it carries (their recipient list
-- makes the waiting paths of their rows redundant: those go), then tells per batch whether the stored head is the
-- same (otherwise the records clash with another batch of that id), whether the recipient list is stored (then
-- recipient rows need no path), and whether this call stored the sender copy. The batch rows stay locked, in key
-- order, until the commit, so that no delete lets the recipient list go under a row that relies on it. One entry
-- per batch; copy_bodies and copy_lists are NULL where the entry carries no sender copy. SECURITY DEFINER: the worker
-- may not read a payload or a body, not even whether it is there.
CREATE FUNCTION mailroom_store_batches(senders bytea[], ids uuid[], heads bytea[], created timestamptz[],
                                       copy_bodies bytea[], copy_lists bytea[])
RETURNS TABLE (sender bytea, batch_id uuid, same_head boolean, has_recipients boolean, copy_stored boolean)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
    stored_copies text[];
BEGIN
    INSERT INTO public.message_batches (sender, batch_id, head, created_at)
    SELECT * FROM unnest(senders, ids, heads, created) ORDER BY 1, 2
    ON CONFLICT ON CONSTRAINT message_batches_pkey DO NOTHING;
    WITH c AS (
        UPDATE public.message_batches b
        SET sender_body = i.body, recipients = coalesce(b.recipients, i.list), sender_copy_stored = true,
            sender_copy_xid = pg_current_xact_id()::text::bigint
        FROM unnest(senders, ids, heads, copy_bodies, copy_lists) AS i(sender, batch_id, head, body, list)
        WHERE i.body IS NOT NULL AND b.sender = i.sender AND b.batch_id = i.batch_id AND b.head = i.head
          AND NOT b.sender_copy_stored
        RETURNING encode(b.sender, 'hex') || b.batch_id::text AS k
    )
    SELECT array_agg(k) INTO stored_copies FROM c;
    IF stored_copies IS NOT NULL THEN
        DELETE FROM public.message_batch_paths p
        USING unnest(senders, ids) AS i(sender, batch_id)
        WHERE p.sender = i.sender AND p.batch_id = i.batch_id
          AND encode(i.sender, 'hex') || i.batch_id::text = ANY (stored_copies);
    END IF;
    RETURN QUERY
    SELECT b.sender, b.batch_id, b.head = i.head, b.recipients IS NOT NULL,
           coalesce(encode(b.sender, 'hex') || b.batch_id::text = ANY (stored_copies), false)
    FROM unnest(senders, ids, heads) AS i(sender, batch_id, head)
    JOIN public.message_batches b ON b.sender = i.sender AND b.batch_id = i.batch_id
    ORDER BY b.sender, b.batch_id
    FOR UPDATE OF b;
END $$;
REVOKE ALL ON FUNCTION mailroom_store_batches(bytea[], uuid[], bytea[], timestamptz[], bytea[], bytea[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION mailroom_store_batches(bytea[], uuid[], bytea[], timestamptz[], bytea[], bytea[])
    TO mailroom_worker;

-- After the worker inserted recipients' rows: adds them to their batches' counters, and stores a shared batch's
-- payload where the batch holds none (its first rows, or a late recipient's after every other copy went). Only rows
-- actually inserted count, so a redelivery never brings a deleted payload back, and a batch whose every record was
-- refused holds none. SECURITY DEFINER: the worker may neither read nor set the counters itself.
CREATE FUNCTION mailroom_batches_stored(senders bytea[], ids uuid[], counts integer[], payloads bytea[])
RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
    UPDATE public.message_batches b
    SET inbox_copies = b.inbox_copies + d.n, recipient_rows = b.recipient_rows + d.n,
        payload = coalesce(b.payload, d.payload)
    FROM (SELECT * FROM unnest(senders, ids, counts, payloads) AS x(sender, batch_id, n, payload)
          WHERE n > 0 ORDER BY 1, 2) d
    WHERE b.sender = d.sender AND b.batch_id = d.batch_id
$$;
REVOKE ALL ON FUNCTION mailroom_batches_stored(bytea[], uuid[], integer[], bytea[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION mailroom_batches_stored(bytea[], uuid[], integer[], bytea[]) TO mailroom_worker;

-- ---- counters and letting go ------------------------------------------------------------------------------
-- Inserts: the worker's batch statement adds to inbox_copies and recipient_rows. Updates and deletes of rows: the
-- triggers below, beside mailbox_usage's.

CREATE FUNCTION mailroom_batches_release(changes_sender bytea[], changes_id uuid[], copies integer[], rows integer[])
RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
    UPDATE public.message_batches b
    SET inbox_copies = b.inbox_copies + d.copies, recipient_rows = b.recipient_rows + d.rows,
        payload = CASE WHEN b.inbox_copies + d.copies > 0 THEN b.payload END,
        recipients = CASE WHEN b.inbox_copies + d.copies > 0 OR b.sender_body IS NOT NULL THEN b.recipients END
    FROM (SELECT s, i, sum(c)::integer AS copies, sum(r)::integer AS rows
          FROM unnest(changes_sender, changes_id, copies, rows) AS x(s, i, c, r)
          GROUP BY s, i ORDER BY s, i) d
    WHERE b.sender = d.s AND b.batch_id = d.i AND (d.copies <> 0 OR d.rows <> 0)
$$;
REVOKE ALL ON FUNCTION mailroom_batches_release(bytea[], uuid[], integer[], integer[]) FROM PUBLIC;

CREATE OR REPLACE FUNCTION mailroom_messages_updated() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
BEGIN
    -- Batches first, then mailbox_usage: the worker's batch statement locks in that order too (its batch rows in
    -- mailroom_store_batches, then the usage rows), so a delete racing a redelivered record cannot deadlock.
    IF EXISTS (SELECT 1 FROM new_rows WHERE batch_id IS NOT NULL) THEN
        PERFORM mailroom_batches_release(array_agg(n.sender), array_agg(n.batch_id),
                                         array_agg((n.inbox_body IS NOT NULL)::int - (o.inbox_body IS NOT NULL)::int),
                                         array_agg(0))
        FROM old_rows o JOIN new_rows n ON n.recipient = o.recipient AND n.id = o.id
        WHERE n.batch_id IS NOT NULL AND (n.inbox_body IS NULL) <> (o.inbox_body IS NULL);
        -- A copy that is gone needs its path no more.
        DELETE FROM message_batch_paths p USING new_rows n
        WHERE n.batch_id IS NOT NULL AND n.inbox_body IS NULL
          AND p.sender = n.sender AND p.batch_id = n.batch_id AND p.batch_index = n.batch_index;
    END IF;
    UPDATE mailbox_usage u
    SET messages = u.messages + d.messages, unread = u.unread + d.unread, bytes = u.bytes + d.bytes
    FROM (SELECT n.recipient AS owner,
                 sum((n.inbox_body IS NOT NULL)::int - (o.inbox_body IS NOT NULL)::int) AS messages,
                 sum((n.inbox_body IS NOT NULL AND n.read_at IS NULL)::int
                     - (o.inbox_body IS NOT NULL AND o.read_at IS NULL)::int) AS unread,
                 sum(coalesce(octet_length(n.inbox_body), 0) - coalesce(octet_length(o.inbox_body), 0)) AS bytes
          FROM old_rows o JOIN new_rows n ON n.recipient = o.recipient AND n.id = o.id
          GROUP BY n.recipient ORDER BY n.recipient) d
    WHERE u.owner = d.owner AND (d.messages <> 0 OR d.unread <> 0 OR d.bytes <> 0);
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION mailroom_messages_deleted() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
BEGIN
    -- Batches first, then mailbox_usage (the worker's order).
    IF EXISTS (SELECT 1 FROM old_rows WHERE batch_id IS NOT NULL) THEN
        PERFORM mailroom_batches_release(array_agg(sender), array_agg(batch_id),
                                         array_agg(-(inbox_body IS NOT NULL)::int), array_agg(-1))
        FROM old_rows WHERE batch_id IS NOT NULL;
        DELETE FROM message_batch_paths p USING old_rows o
        WHERE o.batch_id IS NOT NULL
          AND p.sender = o.sender AND p.batch_id = o.batch_id AND p.batch_index = o.batch_index;
    END IF;
    UPDATE mailbox_usage u
    SET messages = u.messages - d.messages, unread = u.unread - d.unread, bytes = u.bytes - d.bytes
    FROM (SELECT recipient AS owner, count(*) AS messages, count(*) FILTER (WHERE read_at IS NULL) AS unread,
                 sum(octet_length(inbox_body)) AS bytes
          FROM old_rows WHERE inbox_body IS NOT NULL GROUP BY recipient ORDER BY recipient) d
    WHERE u.owner = d.owner;
    RETURN NULL;
END $$;

-- Deleting an inbox copy of a batch's message locks the batch row before the message row: the order a worker writing
-- a redelivery of that message takes them in (its batch rows, then the message's key), so the two cannot deadlock.
CREATE OR REPLACE FUNCTION mailroom_inbox_delete() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
BEGIN
    PERFORM 1 FROM public.message_batches b
    WHERE (b.sender, b.batch_id) = (SELECT m.sender, m.batch_id FROM public.messages m
                                    WHERE m.recipient = OLD.owner AND m.id = OLD.id AND m.batch_id IS NOT NULL)
    FOR UPDATE OF b;
    UPDATE public.messages SET inbox_body = NULL
    WHERE recipient = OLD.owner AND id = OLD.id AND inbox_body IS NOT NULL;
    IF NOT FOUND THEN
        RETURN NULL;   -- already gone: not counted as deleted
    END IF;
    RETURN OLD;        -- the row stays (a tombstone once the sentbox copy is gone too)
END $$;

-- ---- expiry -----------------------------------------------------------------------------------------------
-- Sender copies expire like messages (their body goes); batch rows go once no row refers to them and nothing of
-- them is left, outside the redelivery window (as tombstones do).
CREATE FUNCTION mailroom_expire_batches(cutoff timestamptz, before timestamptz, max_rows integer,
                                        OUT copies_expired bigint, OUT batches_removed bigint)
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
    WITH expiring AS (
        SELECT sender, batch_id FROM public.message_batches
        WHERE stored_at < cutoff AND sender_body IS NOT NULL LIMIT max_rows
    ), expired AS (
        UPDATE public.message_batches b
        SET sender_body = NULL, recipients = CASE WHEN b.inbox_copies > 0 THEN b.recipients END
        FROM expiring e WHERE b.sender = e.sender AND b.batch_id = e.batch_id
        RETURNING 1
    ), removed AS (
        DELETE FROM public.message_batches b USING (
            SELECT sender, batch_id FROM public.message_batches
            WHERE stored_at < before AND created_at < before AND recipient_rows = 0 AND sender_body IS NULL
            LIMIT max_rows
        ) r
        WHERE b.sender = r.sender AND b.batch_id = r.batch_id AND b.recipient_rows = 0 AND b.sender_body IS NULL
        RETURNING 1
    )
    SELECT (SELECT count(*) FROM expired), (SELECT count(*) FROM removed)
$$;
REVOKE ALL ON FUNCTION mailroom_expire_batches(timestamptz, timestamptz, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION mailroom_expire_batches(timestamptz, timestamptz, integer) TO mailroom_query;

-- ---- privileges -------------------------------------------------------------------------------------------

REVOKE ALL ON message_batches, sentbox_batches, message_batch_paths FROM PUBLIC;
-- The worker stores the paths of rows whose batch's list is not there yet.
GRANT INSERT ON message_batch_paths TO mailroom_worker;
-- The worker touches message_batches only through mailroom_store_batches and mailroom_batches_stored.
GRANT SELECT (batch_id, batch_index) ON messages TO mailroom_worker;
-- The query library reads batches (records are rebuilt from them) and deletes sentbox entries through the view.
GRANT SELECT ON message_batches, message_batch_paths TO mailroom_query;
GRANT SELECT, DELETE ON sentbox_batches TO mailroom_query;
