import Foundation
import MailroomCore
import MailroomPostgres
import MailroomProducer
import MailroomStore
import MailroomTestSupport
import MailroomWorker
import Synchronization
import Testing

/// Cancelling the worker's task (what a service group does when another service fails) stops it at once:
/// the writes in hand are given up, not finished, and their batches go to the next worker.
@Suite("Cancelling the worker", .enabled(if: TestEnvironment.hasBroker && TestEnvironment.hasDatabase))
struct WorkerCancellationTests {
    /// The first worker's write waits on a lock held by another session; cancelled, the worker ends while the
    /// lock is still held (not after its 10-minute grace period), having stored nothing; the next worker of the
    /// group stores every envelope exactly once.
    @Test func aCancelledWorkerGivesUpItsWriteAndTheNextWorkerStoresEveryEnvelopeOnce() async throws {
        try await PipelineHarness.with(partitions: 2) { harness in
            let (sender, recipient) = (Identity.generate(), Identity.generate())
            try await harness.setUpMailboxes([sender, recipient])
            let producer = try harness.producer()
            var sent: [MessageID] = []
            for n in 0..<50 {
                sent.append(try await producer.send(from: sender, to: recipient.publicKey, body: Array("m\(n)".utf8)))
            }
            await producer.close()

            try await harness.database.withConnection { holder in
                try await holder.query("BEGIN")
                try await holder.query("LOCK TABLE messages IN ACCESS EXCLUSIVE MODE")
                let first = harness.startWorker(name: "cancelled") { $0.shutdownGracePeriod = .seconds(600) }
                try #require(
                    try await harness.database.eventuallyWaitsOnALock(),
                    "the worker's write never waited for the lock"
                )
                let ended = Mutex(false)
                let watcher = Task {
                    _ = try? await first.task.value
                    ended.withLock { $0 = true }
                }
                first.task.cancel()
                #expect(try await harness.eventually(timeout: .seconds(30)) { ended.withLock { $0 } })
                #expect(first.worker.statistics.snapshot.stored == 0)
                try await holder.query("ROLLBACK")
                await watcher.value
            }

            let next = harness.startWorker(name: "next")
            #expect(try await harness.eventually { try await harness.inboxCount() == sent.count })
            try await next.stop()
            let stored = try await harness.database.withConnection { connection in
                try await connection.query("SELECT id FROM inbox_messages").map {
                    try $0.decode(MessageID.self, column: 0)
                }
            }
            #expect(stored.count == sent.count)
            #expect(Set(stored) == Set(sent))
        }
    }
}
