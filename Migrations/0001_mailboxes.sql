-- Mailboxes, inbox and sentbox messages, and rejected envelopes.
--
-- Keys are raw 32-byte Ed25519 public keys. Message ids are ULIDs stored as uuid (16 bytes, compared
-- bytewise, so uuid order is ULID order is creation-time order). Each owner's messages are clustered under
-- the primary key (owner, id), which is exactly the keyset-pagination index: a page is one index range scan.
--
-- Each message row carries what its reader needs to verify it alone against the sender's key: its own
-- ciphertext, the hash of the other copy's ciphertext, the metadata and the sender's signature
-- (docs/ENVELOPE.md). There are no foreign keys from messages to mailboxes: the worker checks both
-- mailboxes inside the same INSERT … SELECT that writes a batch, and a per-row RI trigger would cost more
-- than the insert itself on the hot path.

CREATE TABLE mailboxes (
    owner       bytea       PRIMARY KEY CHECK (octet_length(owner) = 32),
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE inbox_messages (
    owner              bytea       NOT NULL CHECK (octet_length(owner) = 32),   -- the recipient
    id                 uuid        NOT NULL,                                    -- ULID
    sender             bytea       NOT NULL CHECK (octet_length(sender) = 32),
    created_at         timestamptz NOT NULL,
    body               bytea       NOT NULL,   -- sealed to the owner
    sentbox_body_hash  bytea       NOT NULL,   -- hash of the sender's copy, for verification
    signature          bytea       NOT NULL CHECK (octet_length(signature) = 64),
    read_at            timestamptz,
    stored_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (owner, id)
);

-- Unread listings and unread counts touch only unread rows.
CREATE INDEX inbox_messages_unread ON inbox_messages (owner, id) WHERE read_at IS NULL;

CREATE TABLE sentbox_messages (
    owner            bytea       NOT NULL CHECK (octet_length(owner) = 32),     -- the sender
    id               uuid        NOT NULL,                                      -- ULID
    recipient        bytea       NOT NULL CHECK (octet_length(recipient) = 32),
    created_at       timestamptz NOT NULL,
    body             bytea       NOT NULL,   -- sealed to the owner (the sender's own copy)
    inbox_body_hash  bytea       NOT NULL,   -- hash of the recipient's copy, for verification
    signature        bytea       NOT NULL CHECK (octet_length(signature) = 64),
    stored_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (owner, id)
);

-- Envelopes the worker refused, with why. Metadata only: never a body.
-- One row per Kafka record, so a redelivered rejection is recorded once.
CREATE TABLE rejected_envelopes (
    id               bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    topic            text        NOT NULL,
    kafka_partition  integer     NOT NULL,
    kafka_offset     bigint      NOT NULL,
    reason           text        NOT NULL,   -- a stable reason code (docs/ENVELOPE.md)
    detail           text,                   -- human-readable, free of bodies and keys' secrets
    message_id       uuid,                   -- when the envelope parsed far enough to tell
    sender           bytea,
    recipient        bytea,
    envelope_bytes   integer     NOT NULL,
    worker           text,
    rejected_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (topic, kafka_partition, kafka_offset)
);

CREATE INDEX rejected_envelopes_rejected_at ON rejected_envelopes (rejected_at);
