import ArgumentParser
import Foundation
import MailroomCLISupport
import MailroomCore
import MailroomProducer

struct SubmitCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "submit",
        abstract: "Put envelopes sealed elsewhere on Kafka, after checking them as the worker will.",
        discussion: """
            Each file holds one envelope (default: standard input), as `mailroom seal` or a device wrote it: \
            binary, or text with --hex / --base64. Each is parsed strictly and its signature verified before it \
            reaches Kafka; a refused envelope prints its reason (truncated, bad_signature, …) and is not sent. \
            No private key is needed. Prints one line per envelope (one JSON object per line with --json). Exit \
            status 1 if any envelope was refused or not acknowledged.
            """
    )

    @OptionGroup var kafka: KafkaOptions

    @Argument(help: ArgumentHelp("Envelope files (- for standard input).", valueName: "file"))
    var files: [String] = ["-"]

    @Flag(help: "The input is hexadecimal text.") var hex = false
    @Flag(help: "The input is base64 text (standard or URL alphabet).") var base64 = false
    @Option(name: .customLong("max-body-bytes"), help: ArgumentHelp("Largest body accepted.", valueName: "bytes"))
    var maxBodyBytes: Int = EnvelopeLimits().maxBodyBytes
    @Flag(help: "Print one JSON object per envelope.") var json = false

    func validate() throws {
        if hex && base64 { throw ValidationError("--hex and --base64 exclude each other") }
    }

    func run() async throws {
        try await reportingErrors {
            let envelopes = try files.map { try decode(ByteInput.read($0), file: $0) }
            let producer = try MailroomProducer(
                .init(
                    kafka: try kafka.configuration(),
                    topics: kafka.topics,
                    limits: EnvelopeLimits(maxBodyBytes: maxBodyBytes),
                    sendTimeout: .seconds(15)
                ),
                logger: CLILogging.logger("producer")
            )
            let results = await producer.submitBulk(envelopes)
            await producer.close()
            var failed = 0
            for (file, result) in zip(files, results) {
                switch result {
                case .sent(let id, let partition, let offset):
                    if json {
                        CLIOutput.json(["file": file, "id": id.description, "partition": partition, "offset": offset])
                    } else {
                        CLIOutput.line("submitted \(id) (partition \(partition), offset \(offset))")
                    }
                case .failed(let error):
                    failed += 1
                    if json {
                        CLIOutput.json([
                            "file": file, "error": ["reason": error.code.rawValue, "detail": error.message],
                        ])
                    } else {
                        CLIOutput.error("mailroom: \(file): refused: \(error.code.rawValue): \(error.message)")
                    }
                }
            }
            if failed > 0 { throw ExitCode.failure }
        }
    }

    private func decode(_ bytes: [UInt8], file: String) throws -> [UInt8] {
        guard hex || base64 else { return bytes }
        let text = String(decoding: bytes, as: UTF8.self).filter { !$0.isWhitespace }
        if hex {
            guard let decoded = Self.hexDecode(text) else { throw CLIError("\(file) is not hexadecimal") }
            return decoded
        }
        var standard = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while standard.count % 4 != 0 { standard += "=" }
        guard let data = Data(base64Encoded: standard) else { throw CLIError("\(file) is not base64") }
        return Array(data)
    }

    /// Upper- or lowercase hex digits only, in pairs (no signs, prefixes or separators).
    private static func hexDecode(_ text: String) -> [UInt8]? {
        func value(_ digit: UInt8) -> UInt8? {
            switch digit {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit - UInt8(ascii: "A") + 10
            default: nil
            }
        }
        let digits = Array(text.utf8)
        guard digits.count % 2 == 0 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(digits.count / 2)
        var index = 0
        while index < digits.count {
            guard let high = value(digits[index]), let low = value(digits[index + 1]) else { return nil }
            out.append(high << 4 | low)
            index += 2
        }
        return out
    }
}
