-- The least-privilege roles of 0002_operations.sql meet the query library's objects of 0003_query.sql (the two
-- were written side by side): the query role writes and reads the watch log and prunes it. The worker needs
-- nothing new (stored_xid is filled by its column default); dashboards see no new view.
GRANT SELECT, INSERT, DELETE ON mailbox_events TO mailroom_query;
