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
/// thread and the watchers only mark work and wake the loop.
final class WatchHub: Sendable {
    struct GroupKey: Hashable, Sendable {
        var box: MailboxNotification.Box
        var owner: [UInt8]
    }

    private struct SeenKey: Hashable {
        var kind: Int16
        var id: MessageID
        var sequence: Int64
    }

    private struct Group {
        var frontier: Int64
        /// The owner's notification token.
        var token: UInt64 = 0
        var seen: [SeenKey: Int64] = [:]
        var watchers: Set<Int> = []
    }

    private typealias Continuation = AsyncThrowingStream<MailboxEvent, any Error>.Continuation

    private struct Registration {
        var id: Int
        var key: GroupKey
        var events: Continuation
        /// Resumed with the frontier the watcher joined at.
        var ready: CheckedContinuation<UInt64, any Error>
    }

    private struct State {
        var groups: [GroupKey: Group] = [:]
        /// Notification routing: (box, owner token) → watched owners.
        var byToken: [MailboxNotification.Box: [UInt64: Set<[UInt8]>]] = [:]
        var watchers: [Int: (key: GroupKey, events: Continuation)] = [:]
        var pending: [Registration] = []
        var dirty: Set<GroupKey> = []
        var dirtyAll = false
        var connected = false
        var started = false
        var shutDown = false
        var nextID = 0
        /// Watchers that ended while the loop was registering them.
        var terminated: Set<Int> = []
        var loop: Task<Void, Never>?
    }

    private let configuration: MailroomClient.Configuration
    private let pool: PostgresConnectionPool
    private let logger: Logger
    private let state = Mutex(State())
    private let wakeStream: AsyncStream<Void>
    private let wakeContinuation: AsyncStream<Void>.Continuation
    private let listener: Mutex<PostgresListener?> = Mutex(nil)

    init(configuration: MailroomClient.Configuration, pool: PostgresConnectionPool, logger: Logger) {
        self.configuration = configuration
        self.pool = pool
        self.logger = logger
        (wakeStream, wakeContinuation) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
    }

    /// How many watchers are live (for tests and metrics).
    var watcherCount: Int { state.withLock { $0.watchers.count } }

    /// Registers a watcher and returns once it is live.
    func watch(box: MailboxEvent.Box, owner: PublicKey) async throws -> MailboxWatch {
        let key = GroupKey(box: box == .inbox ? .inbox : .sentbox, owner: owner.bytes)
        let (stream, events) = AsyncThrowingStream<MailboxEvent, any Error>.makeStream(
            bufferingPolicy: .bufferingOldest(max(1, configuration.watchBufferSize))
        )
        let id = state.withLock { state -> Int in
            state.nextID += 1
            return state.nextID
        }
        events.onTermination = { [weak self] _ in self?.remove(id) }
        startIfNeeded()
        let cursor = try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (ready: CheckedContinuation<UInt64, any Error>) in
                let refusal = state.withLock { state -> (any Error)? in
                    if state.shutDown { return MailroomQueryError(.shutDown, "the client was shut down") }
                    if Task.isCancelled { return CancellationError() }
                    state.pending.append(Registration(id: id, key: key, events: events, ready: ready))
                    return nil
                }
                if let refusal {
                    ready.resume(throwing: refusal)
                } else {
                    wakeContinuation.yield()
                }
            }
        } onCancel: {
            let registration = state.withLock { state -> Registration? in
                guard let index = state.pending.firstIndex(where: { $0.id == id }) else { return nil }
                return state.pending.remove(at: index)
            }
            registration?.ready.resume(throwing: CancellationError())
        }
        return MailboxWatch(stream: stream, cursor: cursor)
    }

    /// Ends every watch and stops the LISTEN session.
    func shutdown() async {
        let (loop, watchers, pending) = state.withLock { state in
            state.shutDown = true
            defer {
                state.watchers.removeAll()
                state.groups.removeAll()
                state.byToken.removeAll()
                state.pending.removeAll()
            }
            return (state.loop, Array(state.watchers.values), state.pending)
        }
        let error = MailroomQueryError(.shutDown, "the client was shut down")
        for registration in pending {
            registration.ready.resume(throwing: error)
            registration.events.finish(throwing: error)
        }
        for watcher in watchers { watcher.events.finish(throwing: error) }
        loop?.cancel()
        wakeContinuation.finish()
        await loop?.value
        let listener = self.listener.withLock { $0 }
        await listener?.stop()
    }

    // MARK: Starting and routing

    private func startIfNeeded() {
        let start = state.withLock { state -> Bool in
            guard !state.started, !state.shutDown else { return false }
            state.started = true
            return true
        }
        guard start else { return }
        let listener = PostgresListener(configuration.listener, logger: logger) { [weak self] event in
            self?.handle(event)
        }
        self.listener.withLock { $0 = listener }
        let loop = Task { [self] in await self.runLoop() }
        state.withLock { $0.loop = loop }
        listener.start()
    }

    /// Runs on the listener's thread: marks work and wakes the loop; never touches the database.
    private func handle(_ event: PostgresListener.Event) {
        switch event {
        case .connected(_, let isReconnect):
            state.withLock { state in
                state.connected = true
                state.dirtyAll = true
            }
            if isReconnect { logger.info("watch connection back; catching up") }
        case .disconnected:
            state.withLock { $0.connected = false }
            return
        case .notification(let notification):
            guard let parsed = MailboxNotification(payload: notification.payload) else {
                logger.debug("ignoring a malformed mailbox notification")
                return
            }
            let marked = state.withLock { state -> Bool in
                guard let owners = state.byToken[parsed.box] else { return false }
                var marked = false
                for token in parsed.ownerTokens {
                    for owner in owners[token] ?? [] {
                        state.dirty.insert(GroupKey(box: parsed.box, owner: owner))
                        marked = true
                    }
                }
                return marked
            }
            guard marked else { return }
        }
        wakeContinuation.yield()
    }

    private func remove(_ id: Int) {
        let registration = state.withLock { state -> Registration? in
            if let watcher = state.watchers.removeValue(forKey: id) {
                let key = watcher.key
                state.groups[key]?.watchers.remove(id)
                if state.groups[key]?.watchers.isEmpty == true, let group = state.groups.removeValue(forKey: key) {
                    state.byToken[key.box]?[group.token]?.remove(key.owner)
                    if state.byToken[key.box]?[group.token]?.isEmpty == true {
                        state.byToken[key.box]?[group.token] = nil
                    }
                }
                return nil
            }
            guard let index = state.pending.firstIndex(where: { $0.id == id }) else {
                state.terminated.insert(id)
                return nil
            }
            return state.pending.remove(at: index)
        }
        registration?.ready.resume(throwing: CancellationError())
    }

    // MARK: The loop

    private func runLoop() async {
        var failures = 0
        for await _ in wakeStream {
            if Task.isCancelled { break }
            let (keys, registrations) = state.withLock { state -> ([GroupKey], [Registration]) in
                var keys = state.dirty
                if state.dirtyAll { keys.formUnion(state.groups.keys) }
                state.dirty.removeAll()
                state.dirtyAll = false
                // New watchers wait for the LISTEN session, so that nothing after their start can be missed.
                var registrations: [Registration] = []
                if state.connected {
                    registrations = state.pending
                    state.pending.removeAll()
                }
                return (Array(keys), registrations)
            }
            if keys.isEmpty && registrations.isEmpty { continue }
            do {
                try await catchUp(keys, registrations)
                failures = 0
            } catch {
                failures += 1
                let failedRegistrations = registrations
                state.withLock { state in
                    state.dirty.formUnion(keys)
                    state.pending.insert(contentsOf: failedRegistrations, at: 0)
                }
                let delay = min(50 * (1 << min(failures, 7)), 5_000)
                logger.info("watch catch-up failed; retrying", metadata: ["error": "\(error)", "delay_ms": "\(delay)"])
                try? await Task.sleep(for: .milliseconds(delay))
                wakeContinuation.yield()
            }
        }
    }

    /// Asks the database what changed for `keys` and for new watchers' owners, reports it, and makes the new
    /// watchers live.
    private func catchUp(_ keys: [GroupKey], _ registrations: [Registration]) async throws {
        for box in [MailboxNotification.Box.inbox, .sentbox] {
            var owners = Set(keys.filter { $0.box == box }.map(\.owner))
            let joining = registrations.filter { $0.key.box == box }
            owners.formUnion(joining.map(\.key.owner))
            guard !owners.isEmpty else { continue }
            let ownerList = Array(owners)
            let frontiers = state.withLock { state in
                ownerList.map { state.groups[GroupKey(box: box, owner: $0)]?.frontier }
            }
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
            var byOwner: [[UInt8]: [WatchQueries.Change]] = [:]
            for change in changes { byOwner[change.owner, default: []].append(change) }

            var deliveries: [(Continuation, Int, [MailboxEvent])] = []
            var ready: [(Registration, UInt64)] = []
            state.withLock { state in
                for owner in ownerList {
                    let key = GroupKey(box: box, owner: owner)
                    let isNew = state.groups[key] == nil
                    var group = state.groups[key] ?? Group(frontier: frontier, token: tokens[owner] ?? 0)
                    let previous = UInt64(max(0, group.frontier))
                    var created: [MessageID] = []
                    var read: [(Int64, MessageID)] = []
                    var deleted: [(Int64, MessageID)] = []
                    for change in byOwner[owner] ?? [] {
                        let seenKey = SeenKey(kind: change.kind.rawValue, id: change.id, sequence: change.sequence)
                        guard group.seen.updateValue(change.xid, forKey: seenKey) == nil, !isNew else { continue }
                        switch change.kind {
                        case .created: created.append(change.id)
                        case .read: read.append((change.sequence, change.id))
                        case .deleted: deleted.append((change.sequence, change.id))
                        }
                    }
                    group.frontier = frontier
                    group.seen = group.seen.filter { $0.value >= frontier }
                    var events: [MailboxEvent] = []
                    let eventBox: MailboxEvent.Box = box == .inbox ? .inbox : .sentbox
                    if !created.isEmpty {
                        events.append(MailboxEvent(box: eventBox, kind: .created, messageIDs: created.sorted()))
                    }
                    if !read.isEmpty {
                        events.append(
                            MailboxEvent(box: eventBox, kind: .read, messageIDs: read.sorted { $0.0 < $1.0 }.map(\.1))
                        )
                    }
                    if !deleted.isEmpty {
                        events.append(
                            MailboxEvent(
                                box: eventBox,
                                kind: .deleted,
                                messageIDs: deleted.sorted { $0.0 < $1.0 }.map(\.1)
                            )
                        )
                    }
                    // Resuming from the previous frontier repeats this catch-up; from the new one, nothing of it
                    // is lost once the last event arrived.
                    for index in events.indices {
                        events[index].cursor = index == events.count - 1 ? UInt64(max(0, frontier)) : previous
                    }
                    if !events.isEmpty {
                        for id in group.watchers {
                            if let watcher = state.watchers[id] { deliveries.append((watcher.events, id, events)) }
                        }
                    }
                    for registration in joining where registration.key.owner == owner {
                        ready.append((registration, UInt64(max(0, frontier))))
                        if state.terminated.remove(registration.id) != nil { continue }
                        group.watchers.insert(registration.id)
                        state.watchers[registration.id] = (key, registration.events)
                    }
                    if group.watchers.isEmpty {
                        // Every watcher left (or was cancelled) meanwhile.
                        state.groups.removeValue(forKey: key)
                        continue
                    }
                    state.groups[key] = group
                    if isNew {
                        state.byToken[box, default: [:]][group.token, default: []].insert(owner)
                        // A notification between the query and now found no watcher: look once more.
                        state.dirty.insert(key)
                    }
                }
            }
            for (events, id, list) in deliveries {
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
            for (registration, cursor) in ready { registration.ready.resume(returning: cursor) }
            if !ready.isEmpty { wakeContinuation.yield() }
        }
    }
}
