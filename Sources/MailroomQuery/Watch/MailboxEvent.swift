public import MailroomCore

/// A change in a watched mailbox box, with the ids of the messages concerned.
public struct MailboxEvent: Sendable, Hashable, CustomStringConvertible {
    /// Which box of the mailbox.
    public enum Box: String, Sendable, Hashable {
        case inbox, sentbox
    }

    /// What happened.
    public enum Kind: String, Sendable, Hashable {
        /// New messages were stored (the worker committed them).
        case created
        /// Messages were read for the first time (inbox only).
        case read
        /// Messages were deleted.
        case deleted
    }

    /// The box watched.
    public var box: Box
    /// What happened.
    public var kind: Kind
    /// The messages concerned, never empty. Created ids are in id order; read and deleted in the order they
    /// happened.
    public var messageIDs: [MessageID]
    /// Where to resume after this event: a watch resumed from it (``MailroomClient/changes(_:owner:since:)``)
    /// reports every change after this event, and may report this one and some before it again (delivery is
    /// at least once; ids tell repeats apart). Not part of equality. 0 when unknown.
    public var cursor: UInt64

    public init(box: Box, kind: Kind, messageIDs: [MessageID], cursor: UInt64 = 0) {
        self.box = box
        self.kind = kind
        self.messageIDs = messageIDs
        self.cursor = cursor
    }

    public static func == (lhs: MailboxEvent, rhs: MailboxEvent) -> Bool {
        lhs.box == rhs.box && lhs.kind == rhs.kind && lhs.messageIDs == rhs.messageIDs
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(box)
        hasher.combine(kind)
        hasher.combine(messageIDs)
    }

    /// `inbox created 01h…,01h…`.
    public var description: String {
        "\(box.rawValue) \(kind.rawValue) \(messageIDs.map(\.description).joined(separator: ","))"
    }
}
