import Foundation

/// Where the CLI writes: results to standard output, diagnostics to standard error.
public enum CLIOutput {
    public static func line(_ text: String) {
        print(text)
    }

    public static func error(_ text: String) {
        FileHandle.standardError.write(Data((text + "\n").utf8))
    }

    /// Whether standard output is a terminal (progress bars and colour only then).
    public static var isTerminal: Bool { isatty(STDOUT_FILENO) == 1 }
}

extension CLIOutput {
    /// Prints one JSON object on one line, keys sorted.
    public static func json(_ object: [String: Any]) {
        guard
            let data = try? JSONSerialization.data(
                withJSONObject: object,
                options: [.sortedKeys, .withoutEscapingSlashes]
            )
        else { return }
        line(String(decoding: data, as: UTF8.self))
    }
}
