import Foundation
import Synchronization

/// Runs a CPU-bound operation on N dedicated threads for a fixed time and reports operations per second.
enum BenchHarness {
    /// - Parameters:
    ///   - threads: how many threads run the operation at once.
    ///   - seconds: how long each thread runs it.
    ///   - warmUp: untimed operations per thread before the clock starts.
    ///   - setUp: called on each thread; returns that thread's operation (so per-thread state stays on its thread).
    /// - Returns: total operations per second over all threads.
    static func rate(
        threads: Int,
        seconds: Double,
        warmUp: Int = 20,
        setUp: @escaping @Sendable () -> () -> Void
    ) -> Double {
        let results = Mutex<[Double]>([])
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
                let deadline = start + duration
                var count = 0
                var now = start
                while now < deadline {
                    operation()
                    count += 1
                    now = clock.now
                }
                let elapsed = now - start
                let perSecond =
                    Double(count)
                    / (Double(elapsed.components.seconds)
                        + Double(elapsed.components.attoseconds) / 1e18)
                results.withLock { $0.append(perSecond) }
                done.leave()
            }
            thread.start()
        }
        for _ in 0..<threads { ready.wait() }
        for _ in 0..<threads { go.signal() }
        done.wait()
        return results.withLock { $0.reduce(0, +) }
    }
}
