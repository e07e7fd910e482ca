import ArgumentParser
import Foundation

/// `mailroom bench crypto`: envelopes sealed, verified and opened per second, beside the raw libsodium ceiling.
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
    var duration: Double = 3

    @Option(help: "Alternating Mailroom/raw slices per figure.")
    var rounds: Int = 6

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
            var figures: [CryptoBenchmarks.Workload: (mailroom: Double, raw: Double)] = [:]
            for workload in workloads {
                figures[workload] = benchmarks.measure(workload, threads: count, seconds: duration, rounds: rounds)
            }
            let report = JSONReport(
                threads: count,
                bodyBytes: bodyBytes,
                secondsPerFigure: duration,
                figures: figures
            )
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            print(String(decoding: try encoder.encode(report), as: UTF8.self))
            return
        }
        let counts = threads.map { [$0] } ?? [1, 2]
        print("mailroom bench crypto: \(bodyBytes)-byte bodies, fixed set of 16 keys and 64 envelopes (caches warm,")
        print(
            "as in production), \(duration) s per figure in \(rounds) alternating slices, "
                + "\(ProcessInfo.processInfo.activeProcessorCount) cores"
        )
        print("")
        let header =
            pad("operation", 30) + pad("threads", 8) + pad("mailroom/s", 12) + pad("raw/s", 12)
            + pad("ratio", 8) + "raw ceiling"
        print(header)
        for workload in workloads {
            for count in counts {
                let (mailroom, raw) = benchmarks.measure(workload, threads: count, seconds: duration, rounds: rounds)
                let ratio = raw > 0 ? mailroom / raw * 100 : 0
                print(
                    pad(workload.label, 30) + pad("\(count)", 8) + pad(format(mailroom), 12) + pad(format(raw), 12)
                        + pad(String(format: "%.1f%%", ratio), 8) + workload.rawLabel
                )
            }
        }
    }

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
    var figures: [CryptoBenchmarks.Workload: (mailroom: Double, raw: Double)]

    enum CodingKeys: String, CodingKey {
        case threads, body_bytes, seconds_per_figure, keys
        case envelopes_sealed_per_s, envelopes_verified_per_s, bodies_opened_per_s
        case raw_sealed_per_s, raw_verified_per_s, raw_opened_per_s
        case sealed_ratio, verified_ratio, opened_ratio
    }

    func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(threads, forKey: .threads)
        try container.encode(bodyBytes, forKey: .body_bytes)
        try container.encode(secondsPerFigure, forKey: .seconds_per_figure)
        try container.encode(16, forKey: .keys)
        func round(_ value: Double) -> Double { (value * 10).rounded() / 10 }
        func ratio(_ workload: CryptoBenchmarks.Workload) -> Double {
            guard let figure = figures[workload], figure.raw > 0 else { return 0 }
            return (figure.mailroom / figure.raw * 1000).rounded() / 1000
        }
        try container.encode(round(figures[.sealed]?.mailroom ?? 0), forKey: .envelopes_sealed_per_s)
        try container.encode(round(figures[.verified]?.mailroom ?? 0), forKey: .envelopes_verified_per_s)
        try container.encode(round(figures[.opened]?.mailroom ?? 0), forKey: .bodies_opened_per_s)
        try container.encode(round(figures[.sealed]?.raw ?? 0), forKey: .raw_sealed_per_s)
        try container.encode(round(figures[.verified]?.raw ?? 0), forKey: .raw_verified_per_s)
        try container.encode(round(figures[.opened]?.raw ?? 0), forKey: .raw_opened_per_s)
        try container.encode(ratio(.sealed), forKey: .sealed_ratio)
        try container.encode(ratio(.verified), forKey: .verified_ratio)
        try container.encode(ratio(.opened), forKey: .opened_ratio)
    }
}
