import Foundation
public import Logging

/// Logging for the executable: the only place that bootstraps swift-log. Logs go to standard error at the
/// level named by `MAILROOM_LOG_LEVEL` (default `info`).
public enum CLILogging {
    private static let bootstrapped: Void = {
        let level = ProcessInfo.processInfo.environment["MAILROOM_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:))
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level ?? .info
            return handler
        }
    }()

    public static func logger(_ component: String) -> Logger {
        _ = bootstrapped
        return Logger(label: "mailroom.\(component)")
    }
}
