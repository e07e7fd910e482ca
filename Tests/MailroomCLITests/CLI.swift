import Foundation
import MailroomTestSupport

/// Runs the built `mailroom` executable from the package root, with extra environment variables.
enum CLI {
    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    static var executable: URL { TestEnvironment.productsDirectory.appendingPathComponent("mailroom") }

    /// The built `mailroom-bench` executable (the benchmarks, out of the `mailroom` tool).
    static var benchExecutable: URL { TestEnvironment.productsDirectory.appendingPathComponent("mailroom-bench") }

    static func run(
        _ arguments: [String],
        environment: [String: String],
        stdin: String? = nil,
        executable: URL = CLI.executable
    ) throws -> Result {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        process.currentDirectoryURL = TestEnvironment.packageRoot
        var merged = ProcessInfo.processInfo.environment
        for (key, value) in environment { merged[key] = value }
        process.environment = merged
        let out = Pipe()
        let err = Pipe()
        let input = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = input
        try process.run()
        if let stdin { input.fileHandleForWriting.write(Data(stdin.utf8)) }
        try input.fileHandleForWriting.close()
        // Read both pipes to the end before waiting, so a chatty child never blocks on a full pipe.
        let group = DispatchGroup()
        nonisolated(unsafe) var errData = Data()
        group.enter()
        DispatchQueue.global().async {
            errData = err.fileHandleForReading.readDataToEndOfFile()
            group.leave()
        }
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        group.wait()
        process.waitUntilExit()
        return Result(
            status: process.terminationStatus,
            stdout: String(decoding: outData, as: UTF8.self),
            stderr: String(decoding: errData, as: UTF8.self)
        )
    }
}

/// A `mailroom` process left running (a worker), with its output going to files.
///
/// `@unchecked Sendable`: Foundation's `Process` is not marked Sendable; after `run()` this type only reads its
/// pid and running state and sends signals, which are safe from any thread.
final class RunningCLI: @unchecked Sendable {
    let process = Process()
    let logURL: URL

    init(_ arguments: [String], environment: [String: String], executable: URL = CLI.executable) throws {
        logURL = FileManager.default.temporaryDirectory.appendingPathComponent("mailroom-cli-\(UUID().uuidString).log")
        guard FileManager.default.createFile(atPath: logURL.path, contents: nil) else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: logURL.path])
        }
        let log = try FileHandle(forWritingTo: logURL)
        process.executableURL = executable
        process.arguments = arguments
        process.currentDirectoryURL = TestEnvironment.packageRoot
        var merged = ProcessInfo.processInfo.environment
        for (key, value) in environment { merged[key] = value }
        process.environment = merged
        process.standardOutput = log
        process.standardError = log
        process.standardInput = FileHandle.nullDevice
        try process.run()
    }

    var pid: Int32 { process.processIdentifier }

    func signal(_ signal: Int32) { kill(process.processIdentifier, signal) }

    /// Waits for the process to exit (polling, so no thread blocks); nil if it is still running at the deadline.
    func exitStatus(within timeout: Duration) async throws -> Int32? {
        let deadline = ContinuousClock.now + timeout
        while process.isRunning {
            if ContinuousClock.now > deadline { return nil }
            try await Task.sleep(for: .milliseconds(100))
        }
        return process.terminationStatus
    }

    var output: String { (try? String(contentsOf: logURL, encoding: .utf8)) ?? "" }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        try? FileManager.default.removeItem(at: logURL)
    }
}
