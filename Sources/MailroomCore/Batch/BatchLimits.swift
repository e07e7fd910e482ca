/// Limits applied when sealing, parsing and verifying batch envelopes (format v2).
public struct BatchLimits: Sendable, Hashable {
    /// The format's largest batch: 10,000 recipients (docs/ENVELOPE.md, "Batch envelopes (format v2)").
    public static let formatMaxRecipients = BatchLayout.maxRecipients

    /// The largest plaintext body accepted (the shared body, each personalised body, the sender's copy).
    public var maxBodyBytes: Int
    /// The most recipients a batch may name; values above ``formatMaxRecipients`` count as it.
    public var maxRecipients: Int

    /// - Parameters:
    ///   - maxBodyBytes: default 65,536, as for envelope v1.
    ///   - maxRecipients: default 10,000, the format's maximum.
    public init(maxBodyBytes: Int = 64 * 1024, maxRecipients: Int = BatchLimits.formatMaxRecipients) {
        self.maxBodyBytes = maxBodyBytes
        self.maxRecipients = maxRecipients
    }

    /// ``maxRecipients``, capped by the format.
    var effectiveMaxRecipients: Int { Swift.min(maxRecipients, BatchLayout.maxRecipients) }
}
