import ArgumentParser
import Foundation

/// `mailroom-bench crypto`: envelopes sealed, verified and opened per second, beside the raw libsodium ceiling.
struct CryptoBenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "crypto",
        abstract: "Envelopes sealed/verified and bodies opened per second, against bare libsodium.",
        discussion: """
            Uses a fixed set of 16 identities and 64 pre-sealed envelopes, so key caches are warm as in
            production. Mailroom and raw libsodium are measured alternately in --rounds slices.
            Build with `swift build -c release` first.
            """
    )

    @Option(help: "Seconds measured per figure (split over --rounds).")
    var duration: Double = 4

    @Option(help: "Alternating Mailroom/raw slices per figure.")
    var rounds: Int = 16

    @Option(help: "Threads. Default: 1 and 2 in the table, 2 with --json.")
    var threads: Int?

    @Option(help: "Plaintext body size in bytes.")
    var bodyBytes: Int = 256

    @Option(help: "Measure only this workload (sealed, verified or opened); default all three.")
    var workload: CryptoBenchmarks.Workload?

    @Flag(help: "Print one JSON object instead of a table.")
    var json = false

    func validate() throws {
        guard duration > 0, rounds > 0, bodyBytes >= 0, (threads ?? 1) > 0 else {
            throw ValidationError("--duration, --rounds and --threads must be positive, --body-bytes non-negative")
        }
    }

    func run() throws {
        let benchmarks = try CryptoBenchmarks(bodyBytes: bodyBytes)
        if json {
            let count = threads ?? 2
            var figures: [CryptoBenchmarks.Workload: CryptoBenchmarks.Figure] = [:]
            for workload in workloads {
                figures[workload] = benchmarks.measure(workload, threads: count, seconds: duration, rounds: rounds)
            }
            let report = JSONReport(threads: count, bodyBytes: bodyBytes, secondsPerFigure: duration, figures: figures)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            print(String(decoding: try encoder.encode(report), as: UTF8.self))
            return
        }
        let counts = threads.map { [$0] } ?? [1, 2]
        print("mailroom-bench crypto: \(bodyBytes)-byte bodies, fixed set of 16 keys and 64 envelopes (caches warm,")
        print(
            "as in production), \(duration) s per figure in \(rounds) alternating slices, "
                + "\(ProcessInfo.processInfo.activeProcessorCount) cores"
        )
        print("ratio = Mailroom/raw throughput; cpu ratio = the same per CPU-second the threads actually got")
        print("")
        print(
            pad("operation", 30) + pad("threads", 8) + pad("mailroom/s", 12) + pad("raw/s", 12) + pad("ratio", 8)
                + pad("cpu ratio", 10) + "raw ceiling"
        )
        for workload in workloads {
            for count in counts {
                let figure = benchmarks.measure(workload, threads: count, seconds: duration, rounds: rounds)
                print(
                    pad(workload.label, 30) + pad("\(count)", 8) + pad(format(figure.mailroom.perSecond), 12)
                        + pad(format(figure.raw.perSecond), 12) + pad(percent(figure.ratio), 8)
                        + pad(percent(figure.cpuRatio), 10) + workload.rawLabel
                )
            }
        }
    }

    private func percent(_ ratio: Double) -> String { String(format: "%.1f%%", ratio * 100) }

    private var workloads: [CryptoBenchmarks.Workload] {
        workload.map { [$0] } ?? CryptoBenchmarks.Workload.allCases
    }

    private func pad(_ text: String, _ width: Int) -> String {
        text.count >= width ? text + " " : text + String(repeating: " ", count: width - text.count)
    }

    private func format(_ value: Double) -> String { String(format: "%.0f", value) }
}

extension CryptoBenchmarks.Workload: ExpressibleByArgument {}

/// The `--json` output.
struct JSONReport: Encodable {
    var threads: Int
    var bodyBytes: Int
    var secondsPerFigure: Double
    var figures: [CryptoBenchmarks.Workload: CryptoBenchmarks.Figure]

    struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(_ string: String) { stringValue = string }
        init?(stringValue: String) { self.init(stringValue) }
        init?(intValue: Int) { nil }
    }

    func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: Key.self)
        try container.encode(threads, forKey: Key("threads"))
        try container.encode(bodyBytes, forKey: Key("body_bytes"))
        try container.encode(secondsPerFigure, forKey: Key("seconds_per_figure"))
        try container.encode(16, forKey: Key("keys"))
        func rounded(_ value: Double, _ scale: Double) -> Double { (value * scale).rounded() / scale }
        let names: [(CryptoBenchmarks.Workload, String)] = [
            (.sealed, "envelopes_sealed_per_s"), (.verified, "envelopes_verified_per_s"),
            (.opened, "bodies_opened_per_s"),
        ]
        for (workload, name) in names {
            guard let figure = figures[workload] else { continue }
            let short = workload.rawValue
            try container.encode(rounded(figure.mailroom.perSecond, 10), forKey: Key(name))
            try container.encode(rounded(figure.raw.perSecond, 10), forKey: Key("raw_\(short)_per_s"))
            try container.encode(rounded(figure.ratio, 1000), forKey: Key("\(short)_ratio"))
            try container.encode(rounded(figure.cpuRatio, 1000), forKey: Key("\(short)_cpu_ratio"))
        }
    }
}
