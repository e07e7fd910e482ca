import Logging
import MailroomKafka
import MailroomStore
import Synchronization

/// Puts rejected records on the dead-letter topic: the original key and value (the envelope is encrypted,
/// so it reveals nothing a relay did not already see), with headers that say why and where it came from.
struct DeadLetterPublisher: Sendable {
    /// Header names on dead-letter records.
    enum Header {
        static let reason = "mailroom.reason"
        static let detail = "mailroom.detail"
        static let topic = "mailroom.original.topic"
        static let partition = "mailroom.original.partition"
        static let offset = "mailroom.original.offset"
        static let worker = "mailroom.worker"
        /// Present when the original record had no value (the dead letter then carries an empty one).
        static let nullValue = "mailroom.original.null-value"
    }

    let producer: KafkaProducer
    let topic: String

    /// Publishes every rejection and waits for all acknowledgements. Returns the ones that failed.
    func publish(_ rejections: [(Rejection, KafkaRecord)]) async -> [KafkaError] {
        guard !rejections.isEmpty else { return [] }
        let failures = Mutex<[KafkaError]>([])
        let done = Countdown(rejections.count)
        for (rejection, record) in rejections {
            var headers = [
                KafkaHeader(Header.reason, rejection.reason),
                KafkaHeader(Header.topic, record.topic),
                KafkaHeader(Header.partition, "\(record.partition)"),
                KafkaHeader(Header.offset, "\(record.offset)"),
                KafkaHeader(Header.worker, rejection.worker),
            ]
            if let detail = rejection.detail { headers.append(KafkaHeader(Header.detail, detail)) }
            if record.value == nil { headers.append(KafkaHeader(Header.nullValue, "true")) }
            // A replayed envelope's count goes with it, so that replay stops after a bounded number of tries.
            if let count = record.header(DeadLetterReplay.replayCountHeader) {
                headers.append(KafkaHeader(DeadLetterReplay.replayCountHeader, count))
            }
            await producer.enqueue(topic: topic, key: record.key ?? [], value: record.value ?? [], headers: headers) {
                result in
                if case .failure(let error) = result { failures.withLock { $0.append(error) } }
                done.tick()
            }
        }
        await done.wait()
        return failures.withLock { $0 }
    }
}

/// Waits until `count` ticks have happened.
final class Countdown: Sendable {
    private let state: Mutex<(left: Int, waiter: CheckedContinuation<Void, Never>?)>

    init(_ count: Int) { state = Mutex((count, nil)) }

    func tick() {
        let waiter: CheckedContinuation<Void, Never>? = state.withLock { state in
            state.left -= 1
            guard state.left == 0 else { return nil }
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
    }

    func wait() async {
        await withCheckedContinuation { continuation in
            let done = state.withLock { state in
                if state.left <= 0 { return true }
                state.waiter = continuation
                return false
            }
            if done { continuation.resume() }
        }
    }
}
