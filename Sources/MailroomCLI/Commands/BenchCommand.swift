import ArgumentParser

/// `mailroom bench`: benchmarks that print figures. `api`, `crypto`, `pipeline`, `query` and `views`.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure Mailroom's throughput (run from a release build).",
        subcommands: [
            APIBenchCommand.self, CryptoBenchCommand.self, PipelineBenchCommand.self, QueryBenchCommand.self,
            ViewsBenchCommand.self,
        ]
    )
}
