/// Reason codes the worker adds to the envelope's own (docs/ENVELOPE.md lists all of them).
public enum RejectionReason {
    /// The record had no value (a tombstone).
    public static let emptyRecord = "empty_record"
    /// The record's key is not the envelope's recipient.
    public static let keyMismatch = "key_mismatch"
    /// The envelope's creation time is further in the future than the allowed clock skew.
    public static let createdInFuture = "created_in_future"
    /// The envelope was created longer ago than the maximum envelope age: past it, a deleted message's
    /// tombstone may be gone, so an old envelope is never stored (docs/OPERATIONS.md, "Deletion and expiry are
    /// final").
    public static let envelopeTooOld = "envelope_too_old"
    /// The recipient has blocked the sender (`mailroom block`).
    public static let blockedSender = "blocked_sender"
    /// The sender passed a rate limit: to this recipient, or in all (README, "Worker settings").
    public static let rateLimited = "rate_limited"
    /// The recipient has not set up a mailbox.
    public static let noRecipientMailbox = "no_recipient_mailbox"
    /// The sender has not set up a mailbox (where the sent copy would go).
    public static let noSenderMailbox = "no_sender_mailbox"
}
