-- A recipient's block list: mail from a blocked sender is refused by the worker (`blocked_sender`), kept in
-- rejected_envelopes and on the dead-letter topic like every rejection, and never reaches the inbox. Set through
-- the query library (`MailroomClient.block`, `unblock`, `blocks`; CLI `mailroom block`, `unblock`, `blocks`).

CREATE TABLE mailbox_blocks (
    owner      bytea       NOT NULL REFERENCES mailboxes (owner),
    blocked    bytea       NOT NULL CHECK (octet_length(blocked) = 32),
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (owner, blocked)
);

REVOKE ALL ON mailbox_blocks FROM PUBLIC;
-- The worker reads block lists (its batch query looks up the batch's recipients); the query library keeps them.
GRANT SELECT (owner, blocked) ON mailbox_blocks TO mailroom_worker;
GRANT SELECT, INSERT, DELETE ON mailbox_blocks TO mailroom_query;
