import ArgumentParser

/// A failure the CLI reports as one line on standard error, exiting with status 1.
public struct CLIError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Runs a command body, turning any error into `mailroom: <message>` on standard error and exit status 1.
/// Argument errors keep ArgumentParser's own handling (status 64).
public func reportingErrors(_ body: () async throws -> Void) async throws {
    do {
        try await body()
    } catch let error as ExitCode {
        throw error
    } catch {
        CLIOutput.error("mailroom: \(error)")
        throw ExitCode.failure
    }
}
