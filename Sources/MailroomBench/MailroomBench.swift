import ArgumentParser

/// `mailroom-bench`: benchmarks that print figures beside the ceilings or baselines measured in the same run: `api`,
/// `crypto`, `invites`, `pipeline`, `query` and `views` (docs/BENCHMARKS.md). Not part of the `mailroom` tool: run
/// it from a release build, next to the `mailroom` executable it starts workers from.
@main
struct MailroomBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mailroom-bench",
        abstract: "Measure Mailroom's throughput (run from a release build).",
        subcommands: [
            APIBenchCommand.self, CryptoBenchCommand.self, InvitesBenchCommand.self, PipelineBenchCommand.self,
            QueryBenchCommand.self, ViewsBenchCommand.self,
        ]
    )
}
