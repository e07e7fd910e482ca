import Testing

@testable import MailroomWorker

/// The hand-shake between the worker's loop and the batch write running beside it (no services).
@Suite("Write in flight (no services)", .timeLimit(.minutes(1)))
struct WriteInFlightTests {
    /// Polls `condition` (here: a waiter is registered) until it holds or 10 s pass; returns whether it held.
    static func eventually(_ condition: () -> Bool) async -> Bool {
        let deadline = ContinuousClock.now + .seconds(10)
        while !condition() {
            guard ContinuousClock.now < deadline else { return false }
            try? await Task.sleep(for: .milliseconds(1))
        }
        return true
    }

    @Test func theLoopWakesWhenTheWriteWaitsOutAFailureAndWhenItIsDone() async {
        let write = WriteInFlight()
        // The write is still writing: the loop waits until something happens.
        async let first = write.settled()
        #expect(await Self.eventually { write.waiting.settled })
        write.enter(.waitingOutFailure)
        #expect(await first == .waitingOutFailure)

        // While it waits out the failure, the loop is told so at once (and polls the paused consumer).
        #expect(await write.settled() == .waitingOutFailure)

        // The retry runs again, then succeeds: the loop, waiting meanwhile, learns the outcome.
        write.enter(.writing)
        async let second = write.settled()
        #expect(await Self.eventually { write.waiting.settled })
        write.enter(.done(succeeded: true))
        #expect(await second == .done(succeeded: true))
    }

    @Test func theOutcomeStaysOnceTheWriteIsDone() async {
        let write = WriteInFlight()
        write.enter(.done(succeeded: false))
        write.enter(.writing)
        write.enter(.done(succeeded: true))
        #expect(await write.settled() == .done(succeeded: false))
        #expect(await write.settled() == .done(succeeded: false))
    }

    @Test func theNextWriteLearnsTheOutcomeOnlyOnceThisOneIsDoneNotWhileItWaitsOutAFailure() async {
        let write = WriteInFlight()
        #expect(write.outcome == nil)
        // Two waiters at once: the next batch's write (completion) and the loop (settled).
        async let next = write.completion()
        async let loop = write.settled()
        #expect(await Self.eventually { write.waiting == (settled: true, completions: 1) })
        write.enter(.waitingOutFailure)
        #expect(await loop == .waitingOutFailure)
        #expect(write.outcome == nil)
        // The wait woke the loop only: the next write still waits for the outcome.
        #expect(write.waiting == (settled: false, completions: 1))
        write.enter(.writing)
        write.enter(.done(succeeded: false))
        #expect(await next == false)
        #expect(write.outcome == false)
        // Asked after the fact, the answer comes at once.
        #expect(await write.completion() == false)
    }

    @Test func everyCompletionWaiterIsToldASuccess() async {
        let write = WriteInFlight()
        async let first = write.completion()
        async let second = write.completion()
        #expect(await Self.eventually { write.waiting.completions == 2 })
        write.enter(.done(succeeded: true))
        #expect(await first == true)
        #expect(await second == true)
        #expect(write.outcome == true)
    }

    @Test func theQueueTakesBatchesUpToItsDepthAndItsBytesButAlwaysOne() {
        let limit = WriteQueueLimit(depth: 3, bytes: 1_000)
        // Nothing queued: any batch goes in, even one larger than the byte limit.
        #expect(!limit.isFull(writes: 0, queuedBytes: 0, incoming: 5_000))
        #expect(!limit.isFull(writes: 2, queuedBytes: 600, incoming: 400))
        // The depth…
        #expect(limit.isFull(writes: 3, queuedBytes: 30, incoming: 10))
        // …and the bytes, the incoming batch included.
        #expect(limit.isFull(writes: 1, queuedBytes: 600, incoming: 401))
        // A depth below 1 means 1: one write at a time and no queue.
        #expect(WriteQueueLimit(depth: 0, bytes: .max).isFull(writes: 1, queuedBytes: 0, incoming: 0))
    }
}
