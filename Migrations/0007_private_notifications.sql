-- Least privilege for what LISTEN and the dashboards can see.
--
-- PostgreSQL has no privilege on LISTEN or on the NOTIFY statement: any role that can connect can listen on the
-- mailbox channel. So the notifications carry nothing a listener could use: each owner appears as a token,
-- the first 8 bytes of SHA-256(secret || owner key), where the secret lives in a table no Mailroom role can
-- read; only mailroom_owner_tokens(), which the worker and the query role may call, turns keys into tokens. No
-- message id travels any more (watchers read what changed from the database). A notification is only a hint
-- that some owners' boxes changed: watchers ask the database what changed, so a notification sent by anyone
-- else (the NOTIFY statement cannot be revoked) produces no event; pg_notify(), the function form, is revoked
-- from PUBLIC where the migrating role may do so.
--
-- Dashboards see aggregates only: top_unread_mailboxes, which listed owner keys, leaves mailroom_ops; the
-- distribution of unread counts (mailroom_ops.unread_distribution) takes its place, and the per-owner list stays
-- for operators with the query role (public.top_unread_mailboxes).

CREATE TABLE notification_secret (
    only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    secret   bytea   NOT NULL CHECK (octet_length(secret) >= 32)
);
-- 244 random bits from two version-4 UUIDs (gen_random_uuid is in core PostgreSQL; pgcrypto is not needed).
INSERT INTO notification_secret (secret)
VALUES (decode(replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', ''), 'hex'));
REVOKE ALL ON notification_secret FROM PUBLIC;

-- Each distinct owner with its token (as a signed 64-bit integer: the hash's first 8 bytes, big-endian).
CREATE FUNCTION mailroom_owner_tokens(owners bytea[])
RETURNS TABLE (owner bytea, token bigint)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
    SELECT o.owner, ('x' || encode(substring(sha256(s.secret || o.owner) FROM 1 FOR 8), 'hex'))::bit(64)::bigint
    FROM (SELECT DISTINCT unnest(owners) AS owner) o, notification_secret s
$$;
REVOKE ALL ON FUNCTION mailroom_owner_tokens(bytea[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION mailroom_owner_tokens(bytea[]) TO mailroom_worker, mailroom_query;

-- pg_notify() for Mailroom's writers only (a database-local privilege; needs the function's owner or a
-- superuser, so it is skipped with a notice otherwise).
DO $$
BEGIN
    IF (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
        REVOKE EXECUTE ON FUNCTION pg_catalog.pg_notify(text, text) FROM PUBLIC;
        GRANT EXECUTE ON FUNCTION pg_catalog.pg_notify(text, text) TO mailroom_worker, mailroom_query;
    ELSE
        RAISE NOTICE 'pg_notify() stays executable by PUBLIC: revoking it needs a superuser';
    END IF;
END $$;

-- ---- dashboards: aggregates only ------------------------------------------------------------------------

DROP VIEW mailroom_ops.top_unread_mailboxes;

CREATE VIEW top_unread_mailboxes AS
SELECT encode(owner, 'hex') AS owner_hex, unread, messages, max_messages, last_active_at
FROM mailbox_usage WHERE unread > 0 ORDER BY unread DESC LIMIT 100;
REVOKE ALL ON top_unread_mailboxes FROM PUBLIC;
GRANT SELECT ON top_unread_mailboxes TO mailroom_query;

-- Mailboxes by unread count, in decades (0, 1–9, 10–99, …), with the messages they hold; `near_quota` counts those
-- holding at least 90% of their own limit. No key appears.
CREATE VIEW mailroom_ops.unread_distribution AS
SELECT CASE WHEN unread <= 0 THEN 0 ELSE (10::numeric ^ (length(unread::text) - 1))::bigint END AS unread_from,
       CASE WHEN unread <= 0 THEN 0 ELSE (10::numeric ^ length(unread::text))::bigint - 1 END AS unread_to,
       count(*) AS mailboxes, sum(messages)::bigint AS messages,
       count(*) FILTER (WHERE max_messages IS NOT NULL AND messages >= 0.9 * max_messages) AS near_quota
FROM mailbox_usage
GROUP BY 1, 2 ORDER BY 1;
GRANT SELECT ON mailroom_ops.unread_distribution TO mailroom_dashboard;
