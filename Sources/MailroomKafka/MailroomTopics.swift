/// The Kafka topics Mailroom uses.
public struct MailroomTopics: Sendable, Hashable {
    /// Envelopes, keyed by the recipient's public key.
    public var envelopes: String = "mailroom.envelopes"
    /// Envelopes the worker rejected, with the reason in headers.
    public var deadLetters: String = "mailroom.envelopes.dlq"

    public init(envelopes: String = "mailroom.envelopes", deadLetters: String = "mailroom.envelopes.dlq") {
        self.envelopes = envelopes
        self.deadLetters = deadLetters
    }
}
