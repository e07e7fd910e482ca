import Foundation
import MailroomCLISupport

/// A `mailroom worker` process a benchmark runs, and its drain of a backlog, timed from its first finished record to
/// its last (the worker's own counters, scraped from its metrics endpoint).
enum WorkerDrain {
    /// Starts the `mailroom` built beside this executable (`swift build` puts every product in one folder) with
    /// `arguments`. Its log goes to `$MAILROOM_BENCH_WORKER_LOG.<phase>` when that is set, at
    /// `$MAILROOM_BENCH_WORKER_LOG_LEVEL` (default `warning`).
    static func start(_ arguments: [String], phase: String) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL
            .deletingLastPathComponent().appendingPathComponent("mailroom")
        process.arguments = arguments
        var environment = ProcessInfo.processInfo.environment
        environment["MAILROOM_LOG_LEVEL"] = environment["MAILROOM_BENCH_WORKER_LOG_LEVEL"] ?? "warning"
        process.environment = environment
        process.standardOutput = FileHandle.nullDevice
        if let path = environment["MAILROOM_BENCH_WORKER_LOG"].map({ "\($0).\(phase)" }) {
            guard FileManager.default.createFile(atPath: path, contents: nil) else {
                throw CLIError("cannot create the worker log \(path)")
            }
            process.standardError = FileHandle(forWritingAtPath: path)
        }
        try process.run()
        return process
    }

    /// A drain: records finished and the time at its first and last observation, and the CPU seconds each process
    /// used in between.
    struct Drain {
        var records: Double
        var seconds: Double
        var cpuSeconds: [String: Double]

        /// Records finished per second.
        var perSecond: Double { records / max(0.001, seconds) }

        /// CPU microseconds per item by process, to a tenth, for `items` items (records, or what they stand for).
        func cpuMicroseconds(per items: Double) -> [String: Double] {
            guard items > 0 else { return [:] }
            return cpuSeconds.mapValues { ($0 / items * 1e6 * 10).rounded() / 10 }
        }
    }

    /// Waits until `worker` has finished `records` records (stored, redelivered or rejected), measuring from the
    /// first one it finished; `snapshot` reads the processes' CPU at both ends (listed each time: the worker's
    /// database backend appears once it writes).
    static func drain(
        _ worker: Process,
        metricsPort: Int,
        records: Int,
        what: String,
        snapshot: () async -> ProcessCPU
    ) async throws -> Drain {
        var first: (ContinuousClock.Instant, Double, ProcessCPU)?
        var last: (ContinuousClock.Instant, Double) = (.now, 0)
        var end: ProcessCPU?
        let deadline = ContinuousClock.now + .seconds(max(120, records / 1_000))
        while ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(50))
            guard worker.isRunning else { throw CLIError("the worker exited during the bench") }
            guard let done = try? await PipelineBenchCommand.scrape(port: metricsPort) else { continue }
            if first == nil, done > 0 { first = (.now, done, await snapshot()) }
            last = (.now, done)
            if done >= Double(records) {
                end = await snapshot()
                break
            }
        }
        guard let first, let end, last.1 >= Double(records) else {
            throw CLIError("the worker did not drain \(what) in time (\(Int(last.1)) of \(records))")
        }
        return Drain(
            records: last.1 - first.1,
            seconds: (last.0 - first.0).seconds,
            cpuSeconds: end.used(since: first.2)
        )
    }
}
