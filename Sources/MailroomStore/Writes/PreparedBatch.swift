import Foundation
import MailroomPostgres

/// A batch of verified messages made ready for ``MessageWriter/write(_:rejections:worker:progress:on:)``: in
/// primary-key order, with the binary `COPY` payload and the rollup's arrays already built.
///
/// Building it is all of a batch's client-side work (sorting and encoding: several milliseconds for thousands of
/// messages) and needs no connection, so the worker builds the next batch's while the one before is being
/// written, and the transaction holds only database work.
public struct PreparedBatch: Sendable {
    /// The messages in the order given (the careful path refuses the last ones sent to a full mailbox).
    public let messages: [NewMessage]
    /// The binary `COPY` stream of `sorted`.
    let copy: [UInt8]
    /// Recipients in key order, and how many messages each receives.
    let recipients: [[UInt8]]
    let counts: [Int64]
    /// Bytes of inbox bodies each recipient receives (for the byte quota).
    let bytes: [Int64]
    let createdAt: [Date]
    /// Distinct senders, in byte order (the order their usage rows are locked in).
    let senders: [[UInt8]]

    public var isEmpty: Bool { messages.isEmpty }

    public init(_ messages: [NewMessage]) {
        self.messages = messages
        // Key order: consecutive rows land on the same primary-key leaf pages (measured: 10% less server time).
        let sorted = MessageWriter.inKeyOrder(messages)
        var recipients: [[UInt8]] = []
        var counts: [Int64] = []
        var bytes: [Int64] = []
        for message in sorted {
            if recipients.last == message.recipient {
                counts[counts.count - 1] += 1
                bytes[bytes.count - 1] += Int64(message.inboxBody.count)
            } else {
                recipients.append(message.recipient)
                counts.append(1)
                bytes.append(Int64(message.inboxBody.count))
            }
        }
        self.recipients = recipients
        self.counts = counts
        self.bytes = bytes
        createdAt = sorted.map(\.createdAt)
        // Per row: 2 + 9 × 4 bytes of counts and lengths, 252 bytes of keys, id, time, hashes and signature.
        var copy = PostgresBinaryCopy(
            reservingCapacity: sorted.reduce(0) { $0 + 290 + $1.inboxBody.count + $1.sentboxBody.count }
        )
        for message in sorted {
            copy.startRow(fields: 9)
            copy.append(message.recipient)
            copy.append(message.id)
            copy.append(message.sender)
            copy.append(message.createdAt)
            copy.append(message.inboxBody)
            copy.append(message.sentboxBody)
            copy.append(message.inboxBodyHash)
            copy.append(message.sentboxBodyHash)
            copy.append(message.signature)
        }
        self.copy = sorted.isEmpty ? [] : copy.finish()
        senders = Self.distinctSenders(messages)
    }

    /// The distinct senders of `messages`, in byte order (the order their usage rows are locked in).
    static func distinctSenders(_ messages: [NewMessage]) -> [[UInt8]] {
        Array(Set(messages.map(\.sender))).sorted { $0.lexicographicallyPrecedes($1) }
    }
}
