/// The events of one watched box, as an `AsyncSequence`.
///
/// Iterate it from one task. The sequence ends when that task is cancelled (the watch is then removed), when the
/// client shuts down (throwing ``MailroomQueryError/Code/shutDown``), or when the consumer falls more than
/// ``MailroomClient/Configuration/watchBufferSize`` events behind (throwing
/// ``MailroomQueryError/Code/watcherTooSlow``): memory stays bounded.
public struct MailboxWatch: AsyncSequence, Sendable {
    public typealias Element = MailboxEvent

    let stream: AsyncThrowingStream<MailboxEvent, any Error>
    /// Where the watch started: it reports every change committed after this point, and perhaps some before.
    /// ``MailroomClient/changes(_:owner:since:)`` from an earlier event's cursor fills the gap before it.
    public let cursor: UInt64

    /// Iterates the events.
    public struct AsyncIterator: AsyncIteratorProtocol {
        var base: AsyncThrowingStream<MailboxEvent, any Error>.AsyncIterator

        /// The next event; `nil` when the watch ended.
        public mutating func next() async throws -> MailboxEvent? {
            try await base.next()
        }
    }

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(base: stream.makeAsyncIterator())
    }
}
