-- Operations: rollups the database maintains in the writer's own transaction, dashboard views in a schema of
-- their own, per-mailbox quotas, worker progress per partition, indexes for expiry, and least-privilege roles.
-- docs/OPERATIONS.md explains each view and role.
--
-- Rollups are kept by statement-level triggers with transition tables: one aggregate per statement, whatever
-- its size, in the same transaction as the rows (so they are exactly as durable), and whoever writes (the
-- worker's batch insert, the query library's mark-read and delete, `mailroom expire`). The views read only the
-- rollups and the small tables, never scan the message tables: they stay as fast at 10,000,000 messages as at
-- 10 (docs/BENCHMARKS.md, "Views").
--
-- Hot rows: per-minute rollups are keyed by the writing backend's pid too, so that concurrent workers never
-- wait on each other's rollup row; the views sum over pids. Per-mailbox rows are written, for the inbox, by
-- the worker that owns the recipient's partition (in key order); a sender's `last_active_at` is refreshed at
-- most once an hour and never waits for a lock (SKIP LOCKED), so a busy sender is not a hot row either.

-- ---- per-mailbox counters and quota ----------------------------------------------------------------------

-- One row per mailbox (made with the mailbox, by a trigger). `messages` and `unread` count its inbox rows.
CREATE TABLE mailbox_usage (
    owner           bytea       PRIMARY KEY CHECK (octet_length(owner) = 32),
    messages        bigint      NOT NULL DEFAULT 0,
    unread          bigint      NOT NULL DEFAULT 0,
    max_messages    bigint      CHECK (max_messages >= 0),   -- this mailbox's quota; NULL: the worker's default
    last_active_at  timestamptz                              -- last received or sent (sent: within an hour)
) WITH (fillfactor = 70);
-- No index but the primary key, and room on each page: the counters change with every message, and an
-- update that touches no indexed column and fits on its page is a HOT update (no index writes). The two
-- views that scan this table (top unread, active in 24 h) read one narrow row per mailbox: milliseconds per
-- 100,000 mailboxes (docs/BENCHMARKS.md, "Views").

-- ---- per-minute rollups ---------------------------------------------------------------------------------

CREATE TABLE stats_stored_per_minute (
    minute    timestamptz NOT NULL,
    backend   integer     NOT NULL,   -- pg_backend_pid() of the writer: no two writers share a row
    messages  bigint      NOT NULL,
    PRIMARY KEY (minute, backend)
);

-- End-to-end latency (stored_at - created_at) as a log histogram: bucket b holds latencies in
-- (1.1^(b-1), 1.1^b] milliseconds (bucket 0: up to 1 ms), so a percentile read from it is within 10%.
CREATE TABLE stats_latency_per_minute (
    minute    timestamptz NOT NULL,
    backend   integer     NOT NULL,
    bucket    smallint    NOT NULL,
    messages  bigint      NOT NULL,
    PRIMARY KEY (minute, backend, bucket)
);

CREATE TABLE stats_rejected_per_minute (
    minute     timestamptz NOT NULL,
    backend    integer     NOT NULL,
    reason     text        NOT NULL,
    envelopes  bigint      NOT NULL,
    PRIMARY KEY (minute, backend, reason)
);

-- ---- worker progress ------------------------------------------------------------------------------------

-- Written by the worker in the transaction of each batch: the next offset to consume (all before it are
-- durable here or on the dead-letter topic) and the broker's high-water mark as the worker last saw it.
CREATE TABLE worker_progress (
    consumer_group   text        NOT NULL,
    topic            text        NOT NULL,
    kafka_partition  integer     NOT NULL,
    next_offset      bigint,
    high_watermark   bigint,
    worker           text        NOT NULL,
    updated_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer_group, topic, kafka_partition)
);

-- ---- expiry -------------------------------------------------------------------------------------------

-- `mailroom expire` deletes the oldest rows first, a bounded batch at a time, through these.
CREATE INDEX inbox_messages_stored_at ON inbox_messages (stored_at);
CREATE INDEX sentbox_messages_stored_at ON sentbox_messages (stored_at);

-- ---- triggers ---------------------------------------------------------------------------------------------
-- SECURITY DEFINER: they run as the schema owner, so the worker and query roles need no rights on the rollups.

CREATE FUNCTION mailroom_inbox_inserted() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
    INSERT INTO mailbox_usage AS u (owner, messages, unread, last_active_at)
    SELECT owner, count(*), count(*) FILTER (WHERE read_at IS NULL), max(stored_at)
    FROM new_rows GROUP BY owner ORDER BY owner
    ON CONFLICT (owner) DO UPDATE
        SET messages = u.messages + excluded.messages, unread = u.unread + excluded.unread,
            last_active_at = greatest(u.last_active_at, excluded.last_active_at);

    INSERT INTO stats_stored_per_minute AS s (minute, backend, messages)
    SELECT date_trunc('minute', stored_at), pg_backend_pid(), count(*) FROM new_rows GROUP BY 1 ORDER BY 1
    ON CONFLICT (minute, backend) DO UPDATE SET messages = s.messages + excluded.messages;

    INSERT INTO stats_latency_per_minute AS l (minute, backend, bucket, messages)
    SELECT minute, pg_backend_pid(), bucket, count(*)
    FROM (SELECT date_trunc('minute', stored_at) AS minute,
                 CASE WHEN ms <= 1 THEN 0 ELSE least(ceil(ln(ms) / ln(1.1)), 32000)::smallint END AS bucket
          FROM (SELECT stored_at, date_part('epoch', stored_at - created_at) * 1000 AS ms FROM new_rows) r) b
    GROUP BY minute, bucket ORDER BY minute, bucket
    ON CONFLICT (minute, backend, bucket) DO UPDATE SET messages = l.messages + excluded.messages;
    RETURN NULL;
END $$;

CREATE FUNCTION mailroom_inbox_updated() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
    UPDATE mailbox_usage u SET unread = u.unread + d.delta
    FROM (SELECT n.owner,
                 sum(CASE WHEN o.read_at IS NULL AND n.read_at IS NOT NULL THEN -1
                          WHEN o.read_at IS NOT NULL AND n.read_at IS NULL THEN 1 ELSE 0 END) AS delta
          FROM old_rows o JOIN new_rows n ON n.owner = o.owner AND n.id = o.id
          GROUP BY n.owner) d
    WHERE u.owner = d.owner AND d.delta <> 0;
    RETURN NULL;
END $$;

CREATE FUNCTION mailroom_inbox_deleted() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
    UPDATE mailbox_usage u SET messages = u.messages - d.messages, unread = u.unread - d.unread
    FROM (SELECT owner, count(*) AS messages, count(*) FILTER (WHERE read_at IS NULL) AS unread
          FROM old_rows GROUP BY owner) d
    WHERE u.owner = d.owner;
    RETURN NULL;
END $$;

CREATE FUNCTION mailroom_sentbox_inserted() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
    -- A sender may write through every partition at once: touch its row only when it is an hour stale, and
    -- skip it when another writer holds it (that writer is marking it active anyway). So this never waits,
    -- and two workers can't deadlock over each other's recipients.
    UPDATE mailbox_usage u SET last_active_at = n.at
    FROM (SELECT owner, max(stored_at) AS at FROM new_rows GROUP BY owner) n
    WHERE u.owner = n.owner AND u.owner IN (
        SELECT l.owner FROM mailbox_usage l
        WHERE l.owner IN (SELECT owner FROM new_rows)
          AND (l.last_active_at IS NULL OR l.last_active_at < now() - interval '1 hour')
        FOR UPDATE OF l SKIP LOCKED);
    RETURN NULL;
END $$;

-- Every mailbox has its counter row from the start, so the message triggers only ever update rows that exist
-- (no two writers race to insert the same one).
CREATE FUNCTION mailroom_mailbox_created() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
    INSERT INTO mailbox_usage (owner) SELECT owner FROM new_rows ORDER BY owner ON CONFLICT (owner) DO NOTHING;
    RETURN NULL;
END $$;

CREATE FUNCTION mailroom_rejection_inserted() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
    INSERT INTO stats_rejected_per_minute AS s (minute, backend, reason, envelopes)
    SELECT date_trunc('minute', rejected_at), pg_backend_pid(), reason, count(*) FROM new_rows
    GROUP BY 1, 3 ORDER BY 1, 3
    ON CONFLICT (minute, backend, reason) DO UPDATE SET envelopes = s.envelopes + excluded.envelopes;
    RETURN NULL;
END $$;

CREATE TRIGGER inbox_messages_inserted AFTER INSERT ON inbox_messages
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION mailroom_inbox_inserted();
CREATE TRIGGER inbox_messages_updated AFTER UPDATE ON inbox_messages
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION mailroom_inbox_updated();
CREATE TRIGGER inbox_messages_deleted AFTER DELETE ON inbox_messages
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION mailroom_inbox_deleted();
CREATE TRIGGER sentbox_messages_inserted AFTER INSERT ON sentbox_messages
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION mailroom_sentbox_inserted();
CREATE TRIGGER mailboxes_created AFTER INSERT ON mailboxes
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION mailroom_mailbox_created();
CREATE TRIGGER rejected_envelopes_inserted AFTER INSERT ON rejected_envelopes
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION mailroom_rejection_inserted();

-- Mailboxes and rows from before this migration (none in a new deployment) are counted once, here.
INSERT INTO mailbox_usage (owner, messages, unread, last_active_at)
SELECT b.owner, count(m.owner), count(m.owner) FILTER (WHERE m.read_at IS NULL), max(m.stored_at)
FROM mailboxes b LEFT JOIN inbox_messages m ON m.owner = b.owner GROUP BY b.owner;

-- ---- dashboard views ---------------------------------------------------------------------------------------
-- Plain (not security_invoker) views: they read with their owner's rights, so the dashboard role needs rights
-- on the views alone. None exposes a body, a body hash or a signature.

CREATE SCHEMA mailroom_ops;

CREATE VIEW mailroom_ops.messages_stored_per_minute AS
SELECT minute, sum(messages)::bigint AS messages
FROM stats_stored_per_minute GROUP BY minute;

CREATE VIEW mailroom_ops.latency_per_minute AS
WITH per_bucket AS (
    SELECT minute, bucket, sum(messages)::bigint AS messages FROM stats_latency_per_minute GROUP BY minute, bucket
), cumulative AS (
    SELECT minute, bucket,
           (sum(messages) OVER (PARTITION BY minute ORDER BY bucket))::bigint AS running,
           (sum(messages) OVER (PARTITION BY minute))::bigint AS total
    FROM per_bucket
)
SELECT minute, total AS messages,
       -- The upper edge of the bucket that holds the percentile: within 10% above the true value.
       round(power(1.1, min(bucket) FILTER (WHERE running * 2 >= total))::numeric, 1) AS p50_ms,
       round(power(1.1, min(bucket) FILTER (WHERE running * 10 >= total * 9))::numeric, 1) AS p90_ms,
       round(power(1.1, min(bucket) FILTER (WHERE running * 100 >= total * 99))::numeric, 1) AS p99_ms,
       round(power(1.1, max(bucket))::numeric, 1) AS max_ms
FROM cumulative GROUP BY minute, total;

CREATE VIEW mailroom_ops.rejections_per_minute AS
SELECT minute, reason, sum(envelopes)::bigint AS envelopes
FROM stats_rejected_per_minute GROUP BY minute, reason;

CREATE VIEW mailroom_ops.mailbox_counts AS
SELECT (SELECT count(*) FROM mailboxes) AS mailboxes,
       (SELECT count(*) FROM mailbox_usage WHERE last_active_at >= now() - interval '24 hours') AS active_24h;

CREATE VIEW mailroom_ops.top_unread_mailboxes AS
SELECT encode(owner, 'hex') AS owner_hex, unread, messages, max_messages, last_active_at
FROM mailbox_usage WHERE unread > 0 ORDER BY unread DESC LIMIT 100;

CREATE VIEW mailroom_ops.worker_progress AS
SELECT consumer_group, topic, kafka_partition, next_offset, high_watermark,
       greatest(high_watermark - next_offset, 0) AS lag, worker, updated_at,
       extract(epoch FROM now() - updated_at)::bigint AS seconds_since_update
FROM worker_progress;

-- ---- roles ------------------------------------------------------------------------------------------------
-- Group roles without LOGIN; an operator grants them to login users (docs/OPERATIONS.md). Roles are
-- cluster-wide, so they are created only when missing (another database, or a DBA, may have made them), and a
-- concurrent creation by another database's migration is tolerated.

DO $$
DECLARE
    name text;
BEGIN
    FOREACH name IN ARRAY ARRAY['mailroom_worker', 'mailroom_query', 'mailroom_dashboard'] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = name) THEN
            BEGIN
                EXECUTE format('CREATE ROLE %I NOLOGIN', name);
            EXCEPTION WHEN duplicate_object OR unique_violation THEN
                NULL;  -- created meanwhile by another migration
            END;
        END IF;
    END LOOP;
END $$;

-- Nobody but the owner (the role that runs `mailroom migrate`) creates objects in this schema. PostgreSQL 15
-- already denies CREATE to PUBLIC; this keeps it so on a database upgraded from an older server.
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
REVOKE ALL ON schema_migrations FROM PUBLIC;

-- The worker: read mailboxes, insert messages and rejections, record its progress. Reading messages back is
-- limited to the columns that detect a redelivery or an id clash: never a body.
GRANT SELECT ON mailboxes TO mailroom_worker;
GRANT INSERT ON inbox_messages, sentbox_messages, rejected_envelopes TO mailroom_worker;
GRANT SELECT (owner, id, signature) ON inbox_messages, sentbox_messages TO mailroom_worker;
GRANT SELECT (topic, kafka_partition, kafka_offset) ON rejected_envelopes TO mailroom_worker;
GRANT SELECT (owner, messages, max_messages) ON mailbox_usage TO mailroom_worker;
GRANT SELECT, INSERT, UPDATE ON worker_progress TO mailroom_worker;

-- The query library: set up mailboxes; read, mark and delete messages; read counters and quotas.
GRANT SELECT, INSERT ON mailboxes TO mailroom_query;
GRANT SELECT, DELETE ON inbox_messages, sentbox_messages TO mailroom_query;
GRANT UPDATE (read_at) ON inbox_messages TO mailroom_query;
GRANT SELECT ON mailbox_usage TO mailroom_query;

-- Dashboards: the views, nothing else.
GRANT USAGE ON SCHEMA mailroom_ops TO mailroom_dashboard;
GRANT SELECT ON ALL TABLES IN SCHEMA mailroom_ops TO mailroom_dashboard;
