import Logging
public import MailroomCore
import MailroomKafka

extension MailroomProducer {
    /// Sends many messages from one sender — onboarding invites, say — as batch envelopes (format v2) when there
    /// are at least ``Configuration/minBatchRecipients`` valid messages, else as single envelopes (format v1).
    ///
    /// See ``sendBulkReport(from:messages:senderBody:progress:)``, which this calls, for how messages are batched.
    /// A batch's sender copy that the broker does not acknowledge does not fail its messages (the recipients
    /// have them); it is logged at `info` with the batch id. Call ``sendBulkReport(from:messages:senderBody:progress:)``
    /// to see, and resend, such copies.
    /// - Parameters:
    ///   - sender: the signing identity.
    ///   - messages: recipients (Textile key string or hex) and their bodies.
    ///   - senderBody: what the sender's copy of a batch holds; see
    ///     ``sendBulkReport(from:messages:senderBody:progress:)``.
    ///   - progress: called (from any thread) as results arrive, with the number of messages finished so far.
    /// - Returns: one result per message, in input order; a message sent in a batch has its own message id.
    public func sendBulk(
        from sender: Identity,
        messages: [BulkMessage],
        senderBody: [UInt8]? = nil,
        progress: (@Sendable (BulkProgress) -> Void)? = nil
    ) async -> [BulkResult] {
        let report = await sendBulkReport(from: sender, messages: messages, senderBody: senderBody, progress: progress)
        for batch in report.senderCopyFailures {
            if case .failed(let error, _) = batch.senderCopy {
                logger.info(
                    "a batch's sender copy was not sent; its messages were",
                    metadata: [
                        "batch_id": "\(batch.batchID)", "reason": "\(error.code)",
                        "recipients": "\(batch.messageIndices.count)",
                    ]
                )
            }
        }
        return report.results
    }

    /// Sends many messages from one sender as batch envelopes (format v2), sealing batches on all cores while
    /// producing, and reports every message and every batch.
    ///
    /// - Recipients are parsed and bodies checked against ``Configuration/limits`` first: an invalid key fails
    ///   its message with ``ProducerError/Code/invalidRecipientKey``, a body over the limit with
    ///   ``ProducerError/Code/bodyTooLarge``; neither reaches Kafka.
    /// - With fewer than ``Configuration/minBatchRecipients`` valid messages (default 2), every message is sent as
    ///   a single envelope (format v1), as ``send(from:to:body:)`` does, and ``BulkSendReport/batches`` is empty.
    /// - Otherwise the valid messages, in input order, are split into the fewest batches of at most
    ///   ``Configuration/batchRecipients`` (default 1,000), of nearly equal size. A batch whose bodies are all
    ///   equal is sealed shared (`BatchEnvelope.sealShared`: the body encrypted once), any other personalised.
    /// - Each batch's sender copy goes to the envelope topic keyed by the sender, then every recipient's record to
    ///   the same topic keyed by the recipient. A message's result is `.sent` with its own message id (the
    ///   recipient's, `BatchRecipientEnvelope.messageID`) once its record is acknowledged.
    /// - The sender copy holds `senderBody` when given, else the shared body (shared batch) or the batch's first
    ///   body (personalised). Its failure does not fail the batch's messages: see ``BulkSendReport``.
    ///
    /// Memory stays bounded: batches are sealed a few at a time (on all cores) while the ones before are handed to
    /// librdkafka; records are built from a sealed batch one at a time as they are queued; no more than
    /// ``Configuration/maxInFlight`` records (recipients' and sender copies) wait for the broker.
    /// - Parameters:
    ///   - sender: the signing identity.
    ///   - messages: recipients (Textile key string or hex) and their bodies.
    ///   - senderBody: what the sender's copy of each batch holds (the template a personalised batch's bodies were
    ///     made from, say); unused for single envelopes, whose sender copy is their own body.
    ///   - progress: called (from any thread) as message results arrive.
    /// - Returns: a result per message, in input order, and the batches.
    public func sendBulkReport(
        from sender: Identity,
        messages: [BulkMessage],
        senderBody: [UInt8]? = nil,
        progress: (@Sendable (BulkProgress) -> Void)? = nil
    ) async -> BulkSendReport {
        guard !messages.isEmpty else { return BulkSendReport(results: [], batches: []) }
        let limits = configuration.limits
        let checked = await Self.parallelMap(messages[...]) { message in Self.checkMessage(message, limits: limits) }
        var valid: [Int] = []
        var keys: [PublicKey] = []
        for (index, result) in checked.enumerated() {
            if case .success(let key) = result {
                valid.append(index)
                keys.append(key)
            }
        }
        guard valid.count >= max(configuration.minBatchRecipients, 1) else {
            let results = await pipeline(messages, progress: progress) { message in
                Self.sealOne(message, from: sender, limits: limits)
            }
            return BulkSendReport(results: results, batches: [])
        }
        let validIndices = valid
        let validKeys = keys
        let plan = BatchPlan(count: valid.count, batchSize: configuration.effectiveBatchRecipients)
        let results = BulkResults(count: messages.count, senderCopies: plan.batches, progress: progress)
        for (index, result) in checked.enumerated() {
            if case .failure(let error) = result { results.record(index, .failed(error)) }
        }
        if let senderBody, senderBody.count > limits.maxBodyBytes {
            let error = ProducerError(
                .bodyTooLarge,
                "the sender's copy: a \(senderBody.count)-byte body exceeds the limit of \(limits.maxBodyBytes)"
            )
            for index in valid { results.record(index, .failed(error)) }
            for batch in 0..<plan.batches { results.skipSenderCopy(batch) }
            return BulkSendReport(results: results.all, batches: [])
        }

        let batchLimits = BatchLimits(maxBodyBytes: limits.maxBodyBytes, maxRecipients: plan.batchSize)
        let groups = plan.groups(cores: Self.cores)
        let seal: @Sendable (Range<Int>) async -> [SealedBatch] = { batchNumbers in
            await Self.parallelMap(Array(batchNumbers)[...], parts: batchNumbers.count) { number in
                let positions = plan.range(of: number)
                let indices = Array(validIndices[positions])
                return SealedBatch(
                    number: number,
                    messageIndices: indices,
                    sealed: Self.sealBatch(
                        from: sender,
                        to: Array(validKeys[positions]),
                        bodies: indices.map { messages[$0].body },
                        senderBody: senderBody,
                        limits: batchLimits
                    )
                )
            }
        }
        var sent: [(number: Int, batchID: MessageID, kind: BatchHeader.Kind, indices: [Int])] = []
        var current = await seal(groups[0])
        for position in groups.indices {
            let next = position + 1 < groups.count ? groups[position + 1] : 0..<0
            async let following = seal(next)
            for batch in current {
                if let envelope = await enqueue(batch, from: sender, results: results) {
                    sent.append((batch.number, envelope.header.batchID, envelope.header.kind, batch.messageIndices))
                }
            }
            current = await following
        }
        await results.waitForAll()
        let copies = results.senderCopies
        return BulkSendReport(
            results: results.all,
            batches: sent.compactMap { batch in
                copies[batch.number].map {
                    BulkBatch(batchID: batch.batchID, kind: batch.kind, messageIndices: batch.indices, senderCopy: $0)
                }
            }
        )
    }

    /// Queues a sealed batch's records: the sender copy (keyed by the sender), then every recipient's (keyed by
    /// the recipient). The copy goes first so that a worker usually stores the batch's recipient list before its
    /// recipients' rows, which then need no Merkle path of their own (a row that comes first gets its path stored,
    /// and dropped when the list arrives). Returns the batch, or nil when it could not be sealed (its messages then
    /// fail).
    private func enqueue(_ batch: SealedBatch, from sender: Identity, results: BulkResults) async -> BatchEnvelope? {
        let envelope: BatchEnvelope
        switch batch.sealed {
        case .failure(let error):
            for index in batch.messageIndices { results.record(index, .failed(error)) }
            results.skipSenderCopy(batch.number)
            return nil
        case .success(let sealed):
            envelope = sealed
        }
        let topic = configuration.topics.envelopes
        let copy = envelope.senderCopy
        let number = batch.number
        await producer.enqueue(topic: topic, key: sender.publicKey.bytes, value: copy.serialized()) { outcome in
            switch outcome {
            case .success(let report):
                results.recordSenderCopy(number, .sent(partition: report.partition, offset: report.offset))
            case .failure(let error):
                results.recordSenderCopy(number, .failed(ProducerError(error), senderCopy: copy))
            }
        }
        for (leaf, index) in batch.messageIndices.enumerated() {
            let record = envelope.recipientEnvelope(at: leaf)
            let id = record.messageID
            await producer.enqueue(topic: topic, key: record.kafkaKey, value: record.serialized()) { outcome in
                switch outcome {
                case .success(let report):
                    results.record(index, .sent(id, partition: report.partition, offset: report.offset))
                case .failure(let error):
                    results.record(index, .failed(ProducerError(error)))
                }
            }
        }
        return envelope
    }

    /// A recipient parsed and a body within the limit, or why not.
    static func checkMessage(_ message: BulkMessage, limits: EnvelopeLimits) -> Result<PublicKey, ProducerError> {
        guard message.body.count <= limits.maxBodyBytes else {
            return .failure(
                ProducerError(
                    .bodyTooLarge,
                    "a \(message.body.count)-byte body exceeds the limit of \(limits.maxBodyBytes)"
                )
            )
        }
        return Result { () throws(ProducerError) in try parseRecipient(message.recipient) }
    }

    /// Seals one batch: shared when every body is the same, personalised otherwise.
    static func sealBatch(
        from sender: Identity,
        to recipients: [PublicKey],
        bodies: [[UInt8]],
        senderBody: [UInt8]?,
        limits: BatchLimits
    ) -> Result<BatchEnvelope, ProducerError> {
        let first = bodies[0]
        do {
            if bodies.allSatisfy({ $0 == first }) {
                return .success(
                    try BatchEnvelope.sealShared(
                        from: sender,
                        to: recipients,
                        body: first,
                        senderBody: senderBody,
                        limits: limits
                    )
                )
            }
            return .success(
                try BatchEnvelope.sealPersonalised(
                    from: sender,
                    to: Array(zip(recipients, bodies)),
                    senderBody: senderBody ?? first,
                    limits: limits
                )
            )
        } catch {
            return .failure(ProducerError(error))
        }
    }

    /// `transform` over `inputs`, in order, split into `parts` (default: one per core, at least 16 inputs each)
    /// run as child tasks.
    static func parallelMap<Input: Sendable, Output: Sendable>(
        _ inputs: ArraySlice<Input>,
        parts requested: Int? = nil,
        _ transform: @escaping @Sendable (Input) -> Output
    ) async -> [Output] {
        guard !inputs.isEmpty else { return [] }
        let parts = max(1, min(requested ?? min(cores, inputs.count / 16), inputs.count))
        let base = inputs.startIndex
        let size = (inputs.count + parts - 1) / parts
        return await withTaskGroup(of: (Int, [Output]).self) { group in
            for part in 0..<parts {
                let lower = base + part * size
                let upper = min(lower + size, inputs.endIndex)
                guard lower < upper else { continue }
                let slice = Array(inputs[lower..<upper])
                group.addTask { (part, slice.map(transform)) }
            }
            var pieces = [[Output]](repeating: [], count: parts)
            for await (part, output) in group { pieces[part] = output }
            return pieces.flatMap { $0 }
        }
    }
}

/// A batch sealed (or not) and the messages in it.
struct SealedBatch: Sendable {
    var number: Int
    var messageIndices: [Int]
    var sealed: Result<BatchEnvelope, ProducerError>
}

/// How a bulk send's valid messages are split: the fewest batches of at most `batchSize`, sizes differing by at
/// most one, in input order.
struct BatchPlan: Sendable {
    let count: Int
    let batches: Int
    /// The largest batch.
    let batchSize: Int

    init(count: Int, batchSize: Int) {
        self.count = count
        batches = (count + batchSize - 1) / batchSize
        self.batchSize = (count + batches - 1) / batches
    }

    /// Positions (among the valid messages) of batch `number`'s messages.
    func range(of number: Int) -> Range<Int> {
        let base = count / batches
        let extra = count % batches
        let lower = number * base + min(number, extra)
        return lower..<lower + base + (number < extra ? 1 : 0)
    }

    /// Batch numbers sealed together: at least `cores` batches and 1,024 messages a group (the last may hold
    /// fewer), so that sealing one group keeps every core busy while the group before is queued.
    func groups(cores: Int) -> [Range<Int>] {
        var groups: [Range<Int>] = []
        var start = 0
        while start < batches {
            var end = start
            var messages = 0
            while end < batches && (end - start < cores || messages < 1024) {
                messages += range(of: end).count
                end += 1
            }
            groups.append(start..<end)
            start = end
        }
        return groups
    }
}
