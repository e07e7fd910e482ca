/// The PostgreSQL NOTIFY messages that tell watchers a mailbox changed.
///
/// Channel ``channel``; payload `box:event:tokens`, where `tokens` is a comma-separated list of 16-hex-character
/// owner tokens: the first 8 bytes of SHA-256(secret || owner key), with a secret no role can read (migration
/// 0007). Any role that can connect can LISTEN (PostgreSQL has no privilege for it), so a payload names no key
/// and no message: only the worker and the query role can turn keys into tokens (`mailroom_owner_tokens()`), and
/// watchers learn what changed from the database. The worker sends one `created` notification per box and
/// committed batch (split every ``tokensPerPayload`` owners, under PostgreSQL's 8000-byte limit) — never one
/// per row, because every NOTIFY takes a global lock at commit. A token can in principle match two owners; a
/// watcher then re-reads and finds nothing new, which is harmless, as is a notification someone else sent.
public struct MailboxNotification: Sendable, Hashable {
    /// The LISTEN/NOTIFY channel.
    public static let channel = "mailroom_mailboxes"
    /// Tokens per payload at most: 400 × 17 bytes stays under PostgreSQL's 8000-byte payload limit.
    public static let tokensPerPayload = 400

    public enum Box: String, Sendable {
        case inbox, sentbox

        /// The view of this box's messages (over `messages`, migration 0005), with the box's owner as `owner`.
        public var table: StaticString {
            switch self {
            case .inbox: "inbox_messages"
            case .sentbox: "sentbox_messages"
            }
        }

        /// The column of `messages` that holds this box's owner; with `id` (and `stored_xid`) it is an index.
        public var ownerColumn: StaticString {
            switch self {
            case .inbox: "recipient"
            case .sentbox: "sender"
            }
        }
    }
    public enum Event: String, Sendable { case created, read, deleted }

    public var box: Box
    public var event: Event
    /// The owners' tokens (see the type's description).
    public var ownerTokens: [UInt64]

    public init(box: Box, event: Event, ownerTokens: [UInt64]) {
        self.box = box
        self.event = event
        self.ownerTokens = ownerTokens
    }

    /// The payload text.
    public var payload: String {
        "\(box.rawValue):\(event.rawValue):" + ownerTokens.map(Self.hex).joined(separator: ",")
    }

    /// Parses a payload; `nil` for anything malformed.
    public init?(payload: String) {
        let parts = payload.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 3, let box = Box(rawValue: String(parts[0])), let event = Event(rawValue: String(parts[1]))
        else { return nil }
        var tokens: [UInt64] = []
        for item in parts[2].split(separator: ",") {
            guard item.count == 16, let value = UInt64(item, radix: 16) else { return nil }
            tokens.append(value)
        }
        self.init(box: box, event: event, ownerTokens: tokens)
    }

    static func hex(_ value: UInt64) -> String {
        String(value, radix: 16).leftPadded(16)
    }
}

extension String {
    fileprivate func leftPadded(_ width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
