-- Deletion is final: a message deleted from both boxes leaves a tombstone — its row with both bodies NULL —
-- instead of disappearing, so that a redelivery of its envelope (a rebalance, an offset reset, `dlq replay`, old
-- records re-sent by a broker operator) meets the primary key and is counted as a redelivery, as for any stored
-- message, instead of being stored again as unread.
--
-- * A tombstone keeps the row's key, parties, created_at, signature and stored_xid; never a body. The views
--   (inbox_messages, sentbox_messages) and every rollup count only copies whose body is there, so tombstones
--   are invisible to readers and dashboards.
-- * Tombstones are bounded in time: the worker refuses envelopes created longer ago than its maximum envelope
--   age (`envelope_too_old`, default 7 days, the topics' retention), so a tombstone is needed only while its
--   envelope could still be accepted. `mailroom expire` removes tombstones older than its redelivery window
--   (default 8 days: the age limit plus a day for clock skew), and expires messages past their time-to-live
--   into tombstones when they are younger than that window, and removes them outright otherwise.
--   docs/OPERATIONS.md ("Deletion and expiry are final") documents the window.

CREATE OR REPLACE FUNCTION mailroom_inbox_delete() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
    UPDATE messages SET inbox_body = NULL WHERE recipient = OLD.owner AND id = OLD.id AND inbox_body IS NOT NULL;
    IF NOT FOUND THEN
        RETURN NULL;   -- already gone: not counted as deleted
    END IF;
    RETURN OLD;        -- the row stays (a tombstone once the sentbox copy is gone too)
END $$;

CREATE OR REPLACE FUNCTION mailroom_sentbox_delete() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
    UPDATE messages SET sentbox_body = NULL
    WHERE sender = OLD.owner AND id = OLD.id AND recipient = OLD.recipient AND sentbox_body IS NOT NULL;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    RETURN OLD;
END $$;

-- Rows that were already removed by 0005's triggers cannot be brought back; from now on they stay.

-- ---- expiry and tombstone pruning ---------------------------------------------------------------------------
-- `mailroom expire` runs as mailroom_query, which may delete rows but not write bodies; these two functions
-- are the only way it changes a row's bodies (it clears them).

-- Expires up to max_rows messages stored before `cutoff` that still hold a body: those created at or after
-- `keep_after` (inside the redelivery window) become tombstones, the others go. Returns what it did, counting
-- the inbox and sentbox copies the rows held.
CREATE FUNCTION mailroom_expire_messages(cutoff timestamptz, keep_after timestamptz, max_rows integer,
                                         OUT rows_expired bigint, OUT tombstoned bigint,
                                         OUT inbox_copies bigint, OUT sentbox_copies bigint)
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
    WITH expiring AS (
        SELECT recipient, id, created_at >= keep_after AS keep,
               inbox_body IS NOT NULL AS inbox, sentbox_body IS NOT NULL AS sentbox
        FROM messages
        WHERE stored_at < cutoff AND (inbox_body IS NOT NULL OR sentbox_body IS NOT NULL)
        LIMIT max_rows
    ), deleted AS (
        DELETE FROM messages m USING expiring o
        WHERE m.recipient = o.recipient AND m.id = o.id AND NOT o.keep
        RETURNING m.recipient, m.id
    ), cleared AS (
        UPDATE messages m SET inbox_body = NULL, sentbox_body = NULL FROM expiring o
        WHERE m.recipient = o.recipient AND m.id = o.id AND o.keep
          AND (m.inbox_body IS NOT NULL OR m.sentbox_body IS NOT NULL)
        RETURNING m.recipient, m.id
    ), done AS (
        SELECT recipient, id, false AS kept FROM deleted UNION ALL SELECT recipient, id, true FROM cleared
    )
    SELECT count(*), count(*) FILTER (WHERE d.kept), count(*) FILTER (WHERE o.inbox),
           count(*) FILTER (WHERE o.sentbox)
    FROM done d JOIN expiring o ON o.recipient = d.recipient AND o.id = d.id
$$;

-- Removes up to max_rows tombstones of messages stored and created before `before` (outside the window).
-- Through the BRIN index on stored_at, like expiry.
CREATE FUNCTION mailroom_prune_tombstones(before timestamptz, max_rows integer) RETURNS bigint
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
    WITH gone AS (
        DELETE FROM messages m USING (
            SELECT recipient, id FROM messages
            WHERE stored_at < before AND created_at < before AND inbox_body IS NULL AND sentbox_body IS NULL
            LIMIT max_rows
        ) t
        WHERE m.recipient = t.recipient AND m.id = t.id AND m.inbox_body IS NULL AND m.sentbox_body IS NULL
        RETURNING 1
    )
    SELECT count(*) FROM gone
$$;

REVOKE ALL ON FUNCTION mailroom_expire_messages(timestamptz, timestamptz, integer),
                       mailroom_prune_tombstones(timestamptz, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION mailroom_expire_messages(timestamptz, timestamptz, integer),
                          mailroom_prune_tombstones(timestamptz, integer) TO mailroom_query;
