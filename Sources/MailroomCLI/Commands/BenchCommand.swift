import ArgumentParser

/// `mailroom bench`: benchmarks that print figures. `crypto` now; `query` and `pipeline` come later.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure Mailroom's throughput (run from a release build).",
        subcommands: [CryptoBenchCommand.self, PipelineBenchCommand.self, ViewsBenchCommand.self]
    )
}
