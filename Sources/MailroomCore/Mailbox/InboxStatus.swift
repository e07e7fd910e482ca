/// Which inbox messages a listing returns.
public enum InboxStatus: String, Sendable, Hashable, CaseIterable {
    /// Every message.
    case all
    /// Messages with `read_at` set.
    case read
    /// Messages never read (served by the partial index on unread rows).
    case unread
}
