internal import Foundation
internal import Logging
internal import MailroomCore
internal import MailroomPostgres
internal import MailroomStore
internal import Synchronization

/// Serves every watcher of one ``MailroomClient`` from one `LISTEN` session.
///
/// Notifications only say *that* some owners' boxes changed (by owner token, ``MailboxNotification``: they
/// name no key, and the hub learns its owners' tokens from the database); the hub then asks the database
/// *what* changed, once per burst for all the owners concerned, and fans the answer out to their watchers.
/// Per watched (box, owner) it keeps a frontier — the oldest transaction still running at its last look — and
/// the changes it reported at or above it (``WatchQueries``). After the LISTEN session reconnects every watched
/// owner is caught up the same way, so nothing committed meanwhile is lost.
///
/// All database work happens in one loop task, one catch-up at a time, so frontiers never race; the listener's
/// thread and the watchers only mark work and wake the loop. The state and its transitions are
/// ``StateMachine``, behind one lock: each transition returns what to resume or deliver outside it.
final class WatchHub: Sendable {
    struct GroupKey: Hashable, Sendable {
        var box: MailboxNotification.Box
        var owner: [UInt8]
    }

    typealias Continuation = AsyncThrowingStream<MailboxEvent, any Error>.Continuation
    private typealias Registration = StateMachine.Registration

    private let configuration: MailroomClient.Configuration
    private let pool: PostgresConnectionPool
    private let logger: Logger
    private let state = Mutex(StateMachine())
    private let wakeStream: AsyncStream<Void>
    private let wakeContinuation: AsyncStream<Void>.Continuation
    /// The LISTEN session and the loop, once started.
    private let running: Mutex<(listener: PostgresListener, loop: Task<Void, Never>)?> = Mutex(nil)

    init(configuration: MailroomClient.Configuration, pool: PostgresConnectionPool, logger: Logger) {
        self.configuration = configuration
        self.pool = pool
        self.logger = logger
        (wakeStream, wakeContinuation) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
    }

    /// How many watchers are live (for tests and metrics).
    var watcherCount: Int { state.withLock { $0.watchers.count } }

    private static var shutDownError: MailroomQueryError { MailroomQueryError(.shutDown, "the client was shut down") }

    /// Registers a watcher and returns once it is live.
    /// - Throws: ``MailroomQueryError/Code/shutDown`` once the client shut down (also while registering),
    ///   `CancellationError` when the task is cancelled first.
    func watch(box: MailboxEvent.Box, owner: PublicKey) async throws -> MailboxWatch {
        let key = GroupKey(box: box == .inbox ? .inbox : .sentbox, owner: owner.bytes)
        let (stream, events) = AsyncThrowingStream<MailboxEvent, any Error>.makeStream(
            bufferingPolicy: .bufferingOldest(max(1, configuration.watchBufferSize))
        )
        let id = state.withLock { $0.nextWatcherID() }
        events.onTermination = { [weak self] _ in self?.remove(id) }
        startIfNeeded()
        let cursor = try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (ready: CheckedContinuation<UInt64, any Error>) in
                let registration = Registration(id: id, key: key, events: events, ready: ready)
                if let refused = state.withLock({ $0.register(registration) }) {
                    refused.ready.resume(throwing: Self.shutDownError)
                } else if Task.isCancelled {
                    remove(id)  // onCancel ran before the registration was queued
                } else {
                    wakeContinuation.yield()
                }
            }
        } onCancel: {
            remove(id)
        }
        return MailboxWatch(stream: stream, cursor: cursor)
    }

    /// Ends every watch and stops the LISTEN session. Registrations in progress fail with
    /// ``MailroomQueryError/Code/shutDown``; none becomes a watcher afterwards.
    func shutdown() async {
        let (watchers, pending) = state.withLock { $0.shutdown() }
        let error = Self.shutDownError
        for registration in pending {
            registration.ready.resume(throwing: error)
            registration.events.finish(throwing: error)
        }
        for events in watchers { events.finish(throwing: error) }
        let running = self.running.withLock { $0 }
        running?.loop.cancel()
        wakeContinuation.finish()
        // The loop fails the registrations its catch-up holds before it ends.
        await running?.loop.value
        await running?.listener.stop()
    }

    // MARK: Starting and routing

    private func startIfNeeded() {
        guard state.withLock({ $0.start() }) else { return }
        let listener = PostgresListener(configuration.listener, logger: logger) { [weak self] event in
            self?.handle(event)
        }
        let loop = Task { [self] in await self.runLoop() }
        running.withLock { $0 = (listener, loop) }
        // A shutdown that ran meanwhile either saw `running` (and stops both) or is seen here: `shutdown()` marks
        // the state first, then reads `running`, so one of the two always sees the other.
        guard !state.withLock({ $0.isShutDown }) else {
            loop.cancel()
            return
        }
        listener.start()
    }

    /// Runs on the listener's thread: marks work and wakes the loop; never touches the database.
    private func handle(_ event: PostgresListener.Event) {
        switch event {
        case .connected(_, let isReconnect):
            state.withLock { $0.connected(true) }
            if isReconnect { logger.info("watch connection back; catching up") }
        case .disconnected:
            state.withLock { $0.connected(false) }
            return
        case .notification(let notification):
            guard let parsed = MailboxNotification(payload: notification.payload) else {
                logger.debug("ignoring a malformed mailbox notification")
                return
            }
            guard state.withLock({ $0.notified(box: parsed.box, tokens: parsed.ownerTokens) }) else { return }
        }
        wakeContinuation.yield()
    }

    /// A watcher's stream ended or its registration was cancelled: it leaves; a registration not live yet fails
    /// with `CancellationError`, once.
    private func remove(_ id: Int) {
        let registration = state.withLock { $0.remove(id) }
        registration?.ready.resume(throwing: CancellationError())
    }

    // MARK: The loop

    private func runLoop() async {
        var failures = 0
        for await _ in wakeStream {
            if Task.isCancelled { break }
            guard let work = state.withLock({ $0.takeCatchUp() }) else { continue }
            do {
                try await catchUp(work)
                failures = 0
            } catch {
                let refused = state.withLock { $0.catchUpFailed(work) }
                fail(refused)
                guard !Task.isCancelled else { break }
                failures += 1
                let delay = min(50 * (1 << min(failures, 7)), 5_000)
                logger.info("watch catch-up failed; retrying", metadata: ["error": "\(error)", "delay_ms": "\(delay)"])
                try? await Task.sleep(for: .milliseconds(delay))
                wakeContinuation.yield()
            }
        }
    }

    private func fail(_ registrations: [Registration]) {
        let error = Self.shutDownError
        for registration in registrations {
            registration.ready.resume(throwing: error)
            registration.events.finish(throwing: error)
        }
    }

    /// Asks the database what changed for the work's keys and for new watchers' owners, reports it, and makes the
    /// new watchers live.
    private func catchUp(_ work: StateMachine.CatchUp) async throws {
        for box in [MailboxNotification.Box.inbox, .sentbox] {
            var owners = Set(work.keys.filter { $0.box == box }.map(\.owner))
            let joining = work.joining.filter { $0.key.box == box }
            owners.formUnion(joining.map(\.key.owner))
            guard !owners.isEmpty else { continue }
            let ownerList = Array(owners)
            let frontiers = state.withLock { $0.frontiers(box: box, owners: ownerList) }
            // Tokens only for owners a group may start on (new watchers', or without a group yet): a group keeps
            // its token.
            let starting = Array(
                Set(joining.map(\.key.owner)).union(zip(ownerList, frontiers).filter { $0.1 == nil }.map(\.0))
            )
            let (changes, frontier, tokens) = try await pool.withConnection { connection in
                try await WatchQueries.changes(
                    box: box,
                    owners: ownerList,
                    frontiers: frontiers,
                    tokensFor: starting,
                    on: connection
                )
            }
            let outcome = state.withLock { state in
                state.apply(
                    box: box,
                    owners: ownerList,
                    changes: changes,
                    frontier: frontier,
                    tokens: tokens,
                    joining: joining
                )
            }
            fail(outcome.refused)
            for (events, id, list) in outcome.deliveries {
                for event in list {
                    if case .dropped = events.yield(event) {
                        events.finish(
                            throwing: MailroomQueryError(
                                .watcherTooSlow,
                                "the watcher fell more than \(configuration.watchBufferSize) events behind"
                            )
                        )
                        remove(id)
                        break
                    }
                }
            }
            for (ready, cursor) in outcome.ready { ready.resume(returning: cursor) }
            if outcome.wake { wakeContinuation.yield() }
        }
    }
}
