-- The sender share: one sender may hold at most a share of a recipient's inbox quota (the worker's
-- `senderSharePercent`). The worker counts a (recipient, sender) pair's messages in the inbox only where the cap may
-- bind, through this function: the worker's role may not read bodies, not even whether the inbox copy is still
-- there, so the count runs with the function owner's rights and returns numbers only.

CREATE FUNCTION mailroom_inbox_held(recipients bytea[], senders bytea[])
RETURNS TABLE (recipient bytea, sender bytea, held bigint)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
    SELECT p.recipient, p.sender,
           (SELECT count(*) FROM public.messages m
            WHERE m.recipient = p.recipient AND m.sender = p.sender AND m.inbox_body IS NOT NULL)
    FROM unnest(recipients, senders) AS p(recipient, sender)
$$;
REVOKE ALL ON FUNCTION mailroom_inbox_held(bytea[], bytea[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION mailroom_inbox_held(bytea[], bytea[]) TO mailroom_worker;
