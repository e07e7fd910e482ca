/// The PostgreSQL NOTIFY messages that tell watchers a mailbox changed.
///
/// Channel ``channel``; payload `box:event:owners[:id]`, where `owners` is a comma-separated list of
/// 16-hex-character prefixes (the first 8 bytes) of the owners' public keys. The worker sends one
/// `created` notification per committed batch (split only if the payload would pass PostgreSQL's 8000-byte
/// limit) — never one per row, because every NOTIFY takes a global lock at commit. A prefix can in principle
/// match two owners; a watcher then re-reads and finds nothing new, which is harmless.
public struct MailboxNotification: Sendable, Hashable {
    /// The LISTEN/NOTIFY channel.
    public static let channel = "mailroom_mailboxes"
    /// PostgreSQL refuses payloads of 8000 bytes or more.
    static let maxPayloadBytes = 7_900

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
    /// 8-byte prefixes of the owners' keys.
    public var ownerPrefixes: [UInt64]
    /// The message concerned, for `read` and `deleted`.
    public var messageID: [UInt8]?

    public init(box: Box, event: Event, ownerPrefixes: [UInt64], messageID: [UInt8]? = nil) {
        self.box = box
        self.event = event
        self.ownerPrefixes = ownerPrefixes
        self.messageID = messageID
    }

    /// The first 8 bytes of a key, as the prefix notifications carry.
    public static func prefix(of owner: [UInt8]) -> UInt64 {
        owner.prefix(8).reduce(0) { $0 << 8 | UInt64($1) }
    }

    /// Payloads for a set of owners, each under PostgreSQL's limit.
    public static func payloads(box: Box, event: Event, owners: some Collection<[UInt8]>) -> [String] {
        let prefixes = Set(owners.map(prefix(of:))).sorted()
        var payloads: [String] = []
        var current: [String] = []
        let header = "\(box.rawValue):\(event.rawValue):"
        var size = header.utf8.count
        for prefix in prefixes {
            let text = hex(prefix)
            if size + 17 > maxPayloadBytes, !current.isEmpty {
                payloads.append(header + current.joined(separator: ","))
                current.removeAll()
                size = header.utf8.count
            }
            current.append(text)
            size += 17
        }
        if !current.isEmpty { payloads.append(header + current.joined(separator: ",")) }
        return payloads
    }

    /// The payload text.
    public var payload: String {
        var text = "\(box.rawValue):\(event.rawValue):" + ownerPrefixes.map(Self.hex).joined(separator: ",")
        if let messageID { text += ":" + messageID.map { String($0, radix: 16).leftPadded(2) }.joined() }
        return text
    }

    /// Parses a payload; `nil` for anything malformed.
    public init?(payload: String) {
        let parts = payload.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 3 || parts.count == 4,
            let box = Box(rawValue: String(parts[0])), let event = Event(rawValue: String(parts[1]))
        else { return nil }
        var prefixes: [UInt64] = []
        for item in parts[2].split(separator: ",") {
            guard item.count == 16, let value = UInt64(item, radix: 16) else { return nil }
            prefixes.append(value)
        }
        var messageID: [UInt8]?
        if parts.count == 4 {
            let text = Array(parts[3].utf8)
            guard text.count == 32 else { return nil }
            var bytes: [UInt8] = []
            for index in stride(from: 0, to: 32, by: 2) {
                guard let byte = UInt8(String(decoding: text[index..<index + 2], as: UTF8.self), radix: 16) else { return nil }
                bytes.append(byte)
            }
            messageID = bytes
        }
        self.init(box: box, event: event, ownerPrefixes: prefixes, messageID: messageID)
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
