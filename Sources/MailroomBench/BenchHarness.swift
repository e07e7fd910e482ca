import Foundation
import MailroomCLISupport
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Runs a CPU-bound operation on N dedicated threads for a fixed time and reports operations per second.
enum BenchHarness {
    /// Prints a bench's report: one JSON object, or one `key value` line per figure in key order.
    static func print(_ report: [String: Any], json: Bool) {
        if json {
            CLIOutput.json(report)
            return
        }
        let width = (report.keys.map(\.count).max() ?? 0) + 2
        for key in report.keys.sorted() {
            CLIOutput.line("\(key.padding(toLength: width, withPad: " ", startingAt: 0))\(report[key]!)")
        }
    }

    /// What one measurement gives.
    struct Rate {
        /// Operations per wall-clock second, summed over all threads: the throughput.
        var perSecond: Double = 0
        /// Operations per second of CPU time the threads actually got: the cost of one operation,
        /// insensitive to other processes taking the CPU away (the machine is shared).
        var perCPUSecond: Double = 0

        static func += (lhs: inout Rate, rhs: Rate) {
            lhs.perSecond += rhs.perSecond
            lhs.perCPUSecond += rhs.perCPUSecond
        }

        static func / (lhs: Rate, rhs: Double) -> Rate {
            Rate(perSecond: lhs.perSecond / rhs, perCPUSecond: lhs.perCPUSecond / rhs)
        }
    }

    /// Runs blocking `work` on a thread of its own (not one of the cooperative pool's) and waits for it without
    /// blocking the calling task's thread.
    static func onThread<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            Thread { continuation.resume(with: Result { try work() }) }.start()
        }
    }

    /// Waits for `process` to exit, on a thread of its own.
    static func waitForExit(_ process: Process) async {
        _ = try? await onThread { process.waitUntilExit() }
    }

    /// - Parameters:
    ///   - threads: how many threads run the operation at once.
    ///   - seconds: how long each thread runs it.
    ///   - warmUp: untimed operations per thread before the clock starts.
    ///   - setUp: called on each thread; returns that thread's operation (so per-thread state stays on its thread).
    /// - Returns: total operations per second over all threads, and operations per CPU-second.
    static func rate(
        threads: Int,
        seconds: Double,
        warmUp: Int = 20,
        setUp: @escaping @Sendable () -> () -> Void
    ) -> Rate {
        // Per thread: operations, wall seconds, CPU seconds.
        let results = Mutex<[(count: Int, wall: Double, cpu: Double)]>([])
        let ready = DispatchSemaphore(value: 0)
        let go = DispatchSemaphore(value: 0)
        let done = DispatchGroup()
        let duration = Duration.nanoseconds(Int64(seconds * 1e9))
        for _ in 0..<threads {
            done.enter()
            let thread = Thread {
                let operation = setUp()
                for _ in 0..<warmUp { operation() }
                ready.signal()
                go.wait()
                let clock = ContinuousClock()
                let start = clock.now
                let cpuStart = threadCPUSeconds()
                let deadline = start + duration
                var count = 0
                var now = start
                while now < deadline {
                    operation()
                    count += 1
                    now = clock.now
                }
                let cpu = threadCPUSeconds() - cpuStart
                let elapsed = now - start
                let wall = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
                results.withLock { $0.append((count, wall, cpu)) }
                done.leave()
            }
            thread.start()
        }
        for _ in 0..<threads { ready.wait() }
        for _ in 0..<threads { go.signal() }
        done.wait()
        return results.withLock { results in
            let perSecond = results.reduce(0) { $0 + Double($1.count) / $1.wall }
            let operations = results.reduce(0) { $0 + $1.count }
            let cpu = results.reduce(0) { $0 + $1.cpu }
            return Rate(perSecond: perSecond, perCPUSecond: cpu > 0 ? Double(operations) / cpu : 0)
        }
    }

    /// CPU time consumed by the calling thread.
    static func threadCPUSeconds() -> Double {
        var spec = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &spec)
        return Double(spec.tv_sec) + Double(spec.tv_nsec) / 1e9
    }
}
