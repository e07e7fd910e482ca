public import MailroomCore

/// One page of a keyset listing: up to ``limit`` messages strictly after ``seek`` in the chosen order.
///
/// The cursor is exclusive: the message whose id is `seek` is never on the page (Textile's seek is inclusive;
/// docs/QUERY.md). Newest first unless ``ascending``.
public struct PageRequest: Sendable, Hashable {
    /// The default page size.
    public static let defaultLimit = PageLimits.default
    /// The largest page; larger requests are refused, not cut.
    public static let maximumLimit = PageLimits.maximum

    /// Start after this id (exclusive); `nil` starts at the newest (or, ascending, the oldest) message.
    public var seek: MessageID?
    /// How many messages at most, `1...maximumLimit`.
    public var limit: Int
    /// Oldest first when true; newest first otherwise.
    public var ascending: Bool

    public init(seek: MessageID? = nil, limit: Int = PageRequest.defaultLimit, ascending: Bool = false) {
        self.seek = seek
        self.limit = limit
        self.ascending = ascending
    }

    /// Whether ``limit`` is within `1...maximumLimit`.
    public var isValid: Bool { (1...Self.maximumLimit).contains(limit) }
}
