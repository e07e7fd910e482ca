internal import Dispatch
internal import Foundation
public import Logging
internal import Synchronization

/// A session that `LISTEN`s on channels and hands every notification to a callback, reconnecting with back-off.
///
/// libpq delivers notifications only when its socket is read, so the listener runs its own thread that waits on
/// the socket (`poll`, then `PQconsumeInput` and `PQnotifies`) — nothing blocks Swift's cooperative thread pool.
/// One listener serves any number of consumers: route by payload in the callback rather than opening more
/// sessions. After a lost connection it reconnects (back-off from ``Configuration/minimumBackoff`` doubling to
/// ``Configuration/maximumBackoff``), subscribes again and reports ``Event/connected(backendPID:isReconnect:)``
/// with `isReconnect` set: notifications sent while it was away are lost, so consumers must catch up from the
/// database then.
public final class PostgresListener: Sendable {
    /// How to listen. Every property has a default but the connection URL and the channels.
    public struct Configuration: Sendable {
        /// The session's connection settings (its application name shows in `pg_stat_activity`).
        public var connection: PostgresConnection.Configuration
        /// The channels to `LISTEN` on.
        public var channels: [String]
        /// The first wait before reconnecting.
        public var minimumBackoff: Duration = .milliseconds(50)
        /// The longest wait between reconnection attempts.
        public var maximumBackoff: Duration = .seconds(5)
        /// How often the thread wakes to check whether it should stop.
        public var pollInterval: Duration = .milliseconds(100)

        public init(
            connection: PostgresConnection.Configuration,
            channels: [String],
            minimumBackoff: Duration = .milliseconds(50),
            maximumBackoff: Duration = .seconds(5)
        ) {
            self.connection = connection
            self.channels = channels
            self.minimumBackoff = minimumBackoff
            self.maximumBackoff = maximumBackoff
        }
    }

    /// What the listener reports, in order, on its own thread.
    public enum Event: Sendable {
        /// Subscribed; `isReconnect` after a lost connection (catch up from the database now).
        case connected(backendPID: Int32, isReconnect: Bool)
        /// A notification arrived.
        case notification(PostgresNotification)
        /// The session was lost (or the first connection failed); the listener keeps trying.
        case disconnected(PostgresError)
    }

    private enum Phase {
        case idle
        case running
        case stopping([CheckedContinuation<Void, Never>])
        case stopped
    }

    private let configuration: Configuration
    private let logger: Logger
    private let onEvent: @Sendable (Event) -> Void
    private let phase = Mutex<Phase>(.idle)
    /// Signalled by ``stop()`` to cut a back-off wait short.
    private let wake = DispatchSemaphore(value: 0)

    /// Creates a listener; nothing connects until ``start()``.
    /// - Parameters:
    ///   - configuration: where to connect and what to listen to.
    ///   - logger: logs connection loss and reconnection (at info and below).
    ///   - onEvent: called on the listener's thread for every event; keep it short (hand work to a task).
    public init(
        _ configuration: Configuration,
        logger: Logger = Logger(label: "mailroom.postgres.listener"),
        onEvent: @escaping @Sendable (Event) -> Void
    ) {
        self.configuration = configuration
        self.logger = logger
        self.onEvent = onEvent
    }

    /// Starts the listener's thread. Calling it again does nothing.
    public func start() {
        let shouldStart = phase.withLock { phase -> Bool in
            guard case .idle = phase else { return false }
            phase = .running
            return true
        }
        guard shouldStart else { return }
        let thread = Thread { [self] in
            self.runLoop()
            let waiters = self.phase.withLock { phase -> [CheckedContinuation<Void, Never>] in
                defer { phase = .stopped }
                if case .stopping(let waiters) = phase { return waiters }
                return []
            }
            for waiter in waiters { waiter.resume() }
        }
        thread.name = "mailroom-postgres-listener"
        thread.start()
    }

    /// Stops listening and returns once the thread has closed its session.
    public func stop() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let resumeNow = phase.withLock { phase -> Bool in
                switch phase {
                case .idle, .stopped:
                    phase = .stopped
                    return true
                case .running:
                    phase = .stopping([continuation])
                    return false
                case .stopping(let waiters):
                    phase = .stopping(waiters + [continuation])
                    return false
                }
            }
            if resumeNow {
                continuation.resume()
            } else {
                wake.signal()
            }
        }
    }

    private var shouldStop: Bool {
        phase.withLock { phase in
            if case .running = phase { return false }
            return true
        }
    }

    private func runLoop() {
        var connectedBefore = false
        var backoff = configuration.minimumBackoff
        var reportedOutage = false
        let timeout = Int32(
            clamping: configuration.pollInterval.components.seconds * 1000
                + configuration.pollInterval.components.attoseconds / 1_000_000_000_000_000
        )
        while !shouldStop {
            let handle: PQConnectionHandle
            do throws(PostgresError) {
                handle = try PQConnectionHandle.connect(
                    url: configuration.connection.url,
                    connectTimeout: configuration.connection.connectTimeout,
                    applicationName: configuration.connection.applicationName,
                    targetSessionAttributes: configuration.connection.targetSessionAttributes
                )
                do {
                    try handle.listen(channels: configuration.channels)
                } catch {
                    handle.close()
                    throw error
                }
            } catch {
                if !reportedOutage {
                    logger.info("listener cannot connect; retrying", metadata: ["error": "\(error)"])
                    onEvent(.disconnected(error))
                    reportedOutage = true
                }
                _ = wake.wait(
                    timeout: .now()
                        + .nanoseconds(
                            Int(
                                backoff.components.seconds * 1_000_000_000
                                    + backoff.components.attoseconds / 1_000_000_000
                            )
                        )
                )
                backoff = min(backoff * 2, configuration.maximumBackoff)
                continue
            }
            backoff = configuration.minimumBackoff
            reportedOutage = false
            logger.debug(
                "listening",
                metadata: ["channels": "\(configuration.channels)", "reconnect": "\(connectedBefore)"]
            )
            onEvent(.connected(backendPID: handle.backendPID, isReconnect: connectedBefore))
            connectedBefore = true
            while !shouldStop {
                do {
                    for notification in try handle.waitForNotifications(timeoutMilliseconds: max(timeout, 1)) {
                        onEvent(.notification(notification))
                    }
                } catch {
                    logger.info("listener lost its connection; reconnecting", metadata: ["error": "\(error)"])
                    onEvent(.disconnected(error))
                    reportedOutage = true
                    break
                }
            }
            handle.close()
            // A short pause, so a server that drops every session at once is not hammered.
            _ = wake.wait(
                timeout: .now()
                    + .nanoseconds(
                        Int(
                            configuration.minimumBackoff.components.seconds * 1_000_000_000
                                + configuration.minimumBackoff.components.attoseconds / 1_000_000_000
                        )
                    )
            )
        }
    }
}
