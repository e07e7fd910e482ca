@_spi(Benchmarks) import MailroomCore
@_spi(Benchmarks) import MailroomPostgres
import Foundation
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

    static func run(url: String, count: Int, bodyBytes: Int, batchSize: Int, senders: Int, recipients: Int) throws -> Result {
        let rows = RawEnvelopeRows(count: count, bodyBytes: bodyBytes, senders: senders, recipients: recipients)
        let loader = try RawCopyLoader(url: url)
        try loader.execute("SET client_min_messages TO warning; DROP TABLE IF EXISTS \(table); CREATE TABLE \(table) (LIKE messages INCLUDING ALL)")
        defer { try? loader.execute("DROP TABLE IF EXISTS \(table)") }

        let batches = (count + batchSize - 1) / batchSize
        let verified = (0..<batches).map { _ in DispatchSemaphore(value: 0) }
        let next = Atomic<Int>(0)
        let rejected = Atomic<Int>(0)
        let verifyCPU = Mutex<Double>(0)
        let verifiers = DispatchGroup()
        let started = ContinuousClock.now
        // The server's processes (backends and background processes), counted as for the drain.
        let serverBefore = serverCPU(try loader.serverProcesses())
        for _ in 0..<2 {
            verifiers.enter()
            Thread {
                let cpuStart = threadCPUSeconds()
                let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: rows.messageBytes, alignment: 16)
                defer { scratch.deallocate() }
                while true {
                    let batch = next.add(1, ordering: .relaxed).oldValue
                    guard batch < batches else { break }
                    for item in batch * batchSize..<min(count, (batch + 1) * batchSize) where !rows.verify(item, scratch: scratch) {
                        rejected.add(1, ordering: .relaxed)
                    }
                    verified[batch].signal()
                }
                verifyCPU.withLock { $0 += threadCPUSeconds() - cpuStart }
                verifiers.leave()
            }.start()
        }
        var payload: [UInt8] = []
        payload.reserveCapacity(batchSize * (2 * rows.ciphertextBytes + 320) + 64)
        for batch in 0..<batches {
            verified[batch].wait()
            let items = Array(batch * batchSize..<min(count, (batch + 1) * batchSize))
            encode(rows, items: keyOrder(rows, items: items), into: &payload)
            try loader.execute("BEGIN")
            try payload.withUnsafeBytes {
                try loader.copy(
                    """
                    COPY \(table) (recipient, id, sender, created_at, inbox_body, sentbox_body, inbox_body_hash,
                                   sentbox_body_hash, signature) FROM STDIN (FORMAT binary)
                    """, payload: $0)
            }
            try loader.execute("COMMIT")
        }
        verifiers.wait()
        let elapsed = (ContinuousClock.now - started).seconds
        // A server process started meanwhile (an autovacuum worker) counts whole; one gone since is left out.
        let server = serverCPU((try? loader.serverProcesses()) ?? []).reduce(0) { $0 + $1.value - (serverBefore[$1.key] ?? 0) }
        guard rejected.load(ordering: .relaxed) == 0 else { throw CLIError("bare pipeline: a signature did not verify") }
        return Result(
            perSecond: Double(count) / elapsed,
            verifyMicroseconds: verifyCPU.withLock { $0 } / Double(count) * 1e6,
            databaseMicroseconds: server / Double(count) * 1e6)
    }

    /// The batch in (recipient, id) order, as the worker writes it (consecutive rows share index leaf pages).
    private static func keyOrder(_ rows: RawEnvelopeRows, items: [Int]) -> [Int] {
        let keys = items.map { item in
            rows.withRow(item) { recipient, id, _, _, _, _, _ in
                (recipient.loadUnaligned(fromByteOffset: 0, as: UInt64.self).bigEndian,
                 recipient.loadUnaligned(fromByteOffset: 8, as: UInt64.self).bigEndian,
                 recipient.loadUnaligned(fromByteOffset: 16, as: UInt64.self).bigEndian,
                 recipient.loadUnaligned(fromByteOffset: 24, as: UInt64.self).bigEndian,
                 id.loadUnaligned(fromByteOffset: 0, as: UInt64.self).bigEndian,
                 id.loadUnaligned(fromByteOffset: 8, as: UInt64.self).bigEndian)
            }
        }
        return keys.indices.sorted { keys[$0] < keys[$1] }.map { items[$0] }
    }

    /// PostgreSQL's binary COPY format: signature, flags, header extension; per row a field count and each field
    /// as a length and its bytes; a -1 trailer. `created_at` is a timestamptz: microseconds since 2000-01-01.
    private static func encode(_ rows: RawEnvelopeRows, items: [Int], into payload: inout [UInt8]) {
        payload.removeAll(keepingCapacity: true)
        payload.append(contentsOf: Array("PGCOPY\n".utf8) + [0xFF, 0x0D, 0x0A, 0x00])
        payload.appendBigEndian(Int32(0))
        payload.appendBigEndian(Int32(0))
        for item in items {
            rows.withRow(item) { recipient, id, sender, recipientCiphertext, senderCiphertext, hashes, signature in
                payload.appendBigEndian(Int16(9))
                for field in [recipient, id, sender] { payload.appendField(field) }
                payload.appendBigEndian(Int32(8))
                payload.appendBigEndian((rows.createdAtMilliseconds[item] - 946_684_800_000) * 1000)
                payload.appendField(recipientCiphertext)
                payload.appendField(senderCiphertext)
                payload.appendField(UnsafeRawBufferPointer(rebasing: hashes[0..<32]))
                payload.appendField(UnsafeRawBufferPointer(rebasing: hashes[32..<64]))
                payload.appendField(signature)
            }
        }
        payload.appendBigEndian(Int16(-1))
    }

    /// CPU seconds per process.
    private static func serverCPU(_ processes: [Int32]) -> [Int32: Double] {
        var seconds: [Int32: Double] = [:]
        for pid in processes { seconds[pid] = PipelineBenchCommand.CPUSample.cpuSeconds(pid: pid) }
        return seconds
    }

    private static func threadCPUSeconds() -> Double {
        var spec = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &spec)
        return Double(spec.tv_sec) + Double(spec.tv_nsec) / 1e9
    }
}

extension [UInt8] {
    fileprivate mutating func appendBigEndian<T: FixedWidthInteger>(_ value: T) {
        Swift.withUnsafeBytes(of: value.bigEndian) { append(contentsOf: $0) }
    }

    fileprivate mutating func appendField(_ bytes: UnsafeRawBufferPointer) {
        appendBigEndian(Int32(bytes.count))
        append(contentsOf: bytes)
    }
}
