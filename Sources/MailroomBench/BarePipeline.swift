import Foundation
import MailroomCLISupport
@_spi(Benchmarks) import MailroomCore
@_spi(Benchmarks) import MailroomPostgres
@_spi(Benchmarks) import MailroomStore
import Synchronization

/// The pipeline bench's second ceiling: what bare libsodium and bare libpq reach *together* on this machine,
/// measured in the same run. Two threads verify envelope-shaped items (``RawEnvelopeRows``: two BLAKE2b-256
/// hashes and `crypto_sign_verify_detached` each); one thread writes each verified batch, in order, with one
/// binary `COPY` into a table made `LIKE messages INCLUDING ALL` (the same indexes), one transaction per batch.
///
/// It has no broker, no conflict handling, no rollups, no dead letters, no progress rows and no
/// notifications: an upper bound for any worker on this machine, not a worker.
struct BarePipeline {
    struct Result {
        /// Items verified and committed per second.
        var perSecond: Double
        /// CPU of the two verifying threads, per item.
        var verifyMicroseconds: Double
        /// CPU of the database server's processes, per item.
        var databaseMicroseconds: Double
    }

    static let table = "mailroom_bench_bare_messages"

    static func run(
        url: String,
        count: Int,
        bodyBytes: Int,
        batchSize: Int,
        senders: Int,
        recipients: Int
    ) throws -> Result {
        let rows = RawEnvelopeRows(count: count, bodyBytes: bodyBytes, senders: senders, recipients: recipients)
        let loader = try RawCopyLoader(url: url)
        try loader.execute(
            "SET client_min_messages TO warning; DROP TABLE IF EXISTS \(table); CREATE TABLE \(table) (LIKE messages INCLUDING ALL)"
        )
        defer { try? loader.execute("DROP TABLE IF EXISTS \(table)") }

        let batches = (count + batchSize - 1) / batchSize
        let verified = (0..<batches).map { _ in DispatchSemaphore(value: 0) }
        let next = Atomic<Int>(0)
        let rejected = Atomic<Int>(0)
        let verifyCPU = Mutex<Double>(0)
        let verifiers = DispatchGroup()
        let started = ContinuousClock.now
        // The server's processes (backends and background processes), counted as for the drain.
        let serverBefore = ProcessCPU([:], server: try loader.serverProcesses())
        for _ in 0..<2 {
            verifiers.enter()
            Thread {
                let cpuStart = BenchHarness.threadCPUSeconds()
                let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: rows.messageBytes, alignment: 16)
                defer { scratch.deallocate() }
                while true {
                    let batch = next.add(1, ordering: .relaxed).oldValue
                    guard batch < batches else { break }
                    for item in batch * batchSize..<min(count, (batch + 1) * batchSize)
                    where !rows.verify(item, scratch: scratch) {
                        rejected.add(1, ordering: .relaxed)
                    }
                    verified[batch].signal()
                }
                verifyCPU.withLock { $0 += BenchHarness.threadCPUSeconds() - cpuStart }
                verifiers.leave()
            }.start()
        }
        for batch in 0..<batches {
            verified[batch].wait()
            let items = Array(batch * batchSize..<min(count, (batch + 1) * batchSize))
            let payload = encode(rows, items: keyOrder(rows, items: items))
            try loader.execute("BEGIN")
            try payload.withUnsafeBytes {
                try loader.copy(
                    """
                    COPY \(table) (recipient, id, sender, created_at, inbox_body, sentbox_body, inbox_body_hash,
                                   sentbox_body_hash, signature) FROM STDIN (FORMAT binary)
                    """,
                    payload: $0
                )
            }
            try loader.execute("COMMIT")
        }
        verifiers.wait()
        let elapsed = (ContinuousClock.now - started).seconds
        let server =
            ProcessCPU([:], server: (try? loader.serverProcesses()) ?? []).used(since: serverBefore)["database"] ?? 0
        guard rejected.load(ordering: .relaxed) == 0 else {
            throw CLIError("bare pipeline: a signature did not verify")
        }
        return Result(
            perSecond: Double(count) / elapsed,
            verifyMicroseconds: verifyCPU.withLock { $0 } / Double(count) * 1e6,
            databaseMicroseconds: server / Double(count) * 1e6
        )
    }

    /// The batch in (recipient, id) order, as the worker writes it (consecutive rows share index leaf pages).
    private static func keyOrder(_ rows: RawEnvelopeRows, items: [Int]) -> [Int] {
        let keys = items.map { item in
            rows.withRow(item) { recipient, id, _, _, _, _, _ in
                MessageWriter.primaryKeyOrder(recipient: recipient, id: id)
            }
        }
        return keys.indices.sorted { keys[$0] < keys[$1] }.map { items[$0] }
    }

    /// The batch as a binary COPY stream (``PostgresBinaryCopy``), fields copied straight from the items' memory.
    private static func encode(_ rows: RawEnvelopeRows, items: [Int]) -> [UInt8] {
        var copy = PostgresBinaryCopy(reservingCapacity: items.count * (2 * rows.ciphertextBytes + 290))
        for item in items {
            rows.withRow(item) { recipient, id, sender, recipientCiphertext, senderCiphertext, hashes, signature in
                copy.startRow(fields: 9)
                copy.append(bytes: recipient)
                copy.append(bytes: id)
                copy.append(bytes: sender)
                copy.append(Date(timeIntervalSince1970: Double(rows.createdAtMilliseconds[item]) / 1000))
                copy.append(bytes: recipientCiphertext)
                copy.append(bytes: senderCiphertext)
                copy.append(bytes: UnsafeRawBufferPointer(rebasing: hashes[0..<32]))
                copy.append(bytes: UnsafeRawBufferPointer(rebasing: hashes[32..<64]))
                copy.append(bytes: signature)
            }
        }
        return copy.finish()
    }
}
