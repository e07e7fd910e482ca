public import MailroomCore

/// What a bulk send did: a result per message, and the batch envelopes (format v2) the messages went in.
///
/// A message sent in a batch counts as sent once its own record (the recipient's) is acknowledged, whatever
/// happened to the batch's sender copy: the recipient has it, and sending it again would deliver it twice. The
/// sender copy (the sentbox entry) is a separate record; when it fails, ``senderCopyFailures`` lists the batch
/// with the copy's bytes, which ``MailroomProducer/submit(_:)`` sends again (within
/// ``MailroomProducer/Configuration/maxEnvelopeAge``).
public struct BulkSendReport: Sendable {
    /// One result per message, in input order.
    public var results: [BulkResult]
    /// The batches, in the order they were sent; empty when every message went as a single envelope (v1).
    public var batches: [BulkBatch]

    /// Messages sent.
    public var sent: Int { results.count { $0.isSent } }
    /// Messages that failed.
    public var failed: Int { results.count - sent }
    /// Batches whose sender copy the broker did not acknowledge.
    public var senderCopyFailures: [BulkBatch] { batches.filter { !$0.senderCopy.isSent } }

    /// - Parameters:
    ///   - results: one per message, in input order.
    ///   - batches: the batches the messages went in.
    public init(results: [BulkResult], batches: [BulkBatch]) {
        self.results = results
        self.batches = batches
    }
}

/// One batch envelope (format v2) of a bulk send.
public struct BulkBatch: Sendable {
    /// What happened to a batch's sender copy.
    public enum SenderCopyResult: Sendable {
        /// The broker acknowledged it, here.
        case sent(partition: Int32, offset: Int64)
        /// The broker did not; `senderCopy` is the value, ready for ``MailroomProducer/submit(_:)``.
        case failed(ProducerError, senderCopy: BatchSenderCopy)

        /// Whether the sender copy was sent.
        public var isSent: Bool {
            if case .sent = self { return true }
            return false
        }
    }

    /// The batch id: the sender's sentbox entry.
    public var batchID: MessageID
    /// Shared (every body equal) or personalised.
    public var kind: BatchHeader.Kind
    /// The messages in the batch, as indices into the bulk send's messages, in leaf order.
    public var messageIndices: [Int]
    /// What happened to the sender copy.
    public var senderCopy: SenderCopyResult

    /// - Parameters:
    ///   - batchID: the batch id.
    ///   - kind: shared or personalised.
    ///   - messageIndices: the batch's messages, as indices into the bulk send's messages.
    ///   - senderCopy: what happened to the sender copy.
    public init(batchID: MessageID, kind: BatchHeader.Kind, messageIndices: [Int], senderCopy: SenderCopyResult) {
        self.batchID = batchID
        self.kind = kind
        self.messageIndices = messageIndices
        self.senderCopy = senderCopy
    }
}
