public import MailroomCore

/// One message of a bulk send.
public struct BulkMessage: Sendable {
    /// A Textile key string or 64 hex digits.
    public var recipient: String
    /// The plaintext body; never logged.
    public var body: [UInt8]

    /// - Parameters:
    ///   - recipient: a Textile key string or 64 hex digits.
    ///   - body: the plaintext body.
    public init(recipient: String, body: [UInt8]) {
        self.recipient = recipient
        self.body = body
    }
}

/// What happened to one message of a bulk send (or one submitted envelope).
public enum BulkResult: Sendable {
    /// The broker acknowledged the message's record: its message id (the recipient's, for a message sent in a
    /// batch envelope), and where the record lies.
    case sent(MessageID, partition: Int32, offset: Int64)
    /// The message did not reach the broker (or was never sealed).
    case failed(ProducerError)

    /// Whether the message was sent.
    public var isSent: Bool {
        if case .sent = self { return true }
        return false
    }
}

/// Progress of a bulk send.
public struct BulkProgress: Sendable {
    /// Messages with a result so far.
    public var finished: Int
    /// Of those, how many failed.
    public var failed: Int
    /// Messages in the bulk send.
    public var total: Int
}
