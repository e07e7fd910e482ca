-- Byte quotas beside message quotas: an inbox holds at most so many bytes of sealed bodies (the worker's default,
-- or the mailbox's own `max_bytes`); past it the worker refuses new mail as `mailbox_bytes_full`. `bytes` is kept
-- exact in the same transaction as the rows, like `messages`: the worker's batch statement adds what it stores;
-- the update and delete triggers subtract the copies that go.

ALTER TABLE mailbox_usage
    ADD COLUMN bytes     bigint NOT NULL DEFAULT 0,
    ADD COLUMN max_bytes bigint CHECK (max_bytes >= 0);   -- this mailbox's byte quota; NULL: the worker's default

UPDATE mailbox_usage u SET bytes = c.bytes
FROM (SELECT recipient, sum(octet_length(inbox_body))::bigint AS bytes
      FROM messages WHERE inbox_body IS NOT NULL GROUP BY recipient) c
WHERE u.owner = c.recipient;

CREATE OR REPLACE FUNCTION mailroom_messages_updated() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
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
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
    UPDATE mailbox_usage u
    SET messages = u.messages - d.messages, unread = u.unread - d.unread, bytes = u.bytes - d.bytes
    FROM (SELECT recipient AS owner, count(*) AS messages, count(*) FILTER (WHERE read_at IS NULL) AS unread,
                 sum(octet_length(inbox_body)) AS bytes
          FROM old_rows WHERE inbox_body IS NOT NULL GROUP BY recipient ORDER BY recipient) d
    WHERE u.owner = d.owner;
    RETURN NULL;
END $$;

-- The worker adds to `bytes` and reads both (it may not change a quota); the query role reads them.
GRANT INSERT (bytes), UPDATE (bytes), SELECT (bytes, max_bytes) ON mailbox_usage TO mailroom_worker;
