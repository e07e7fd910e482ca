internal import MailroomCore
internal import MailroomStore

extension WatchHub {
    /// Everything the hub knows, and every change to it, with no I/O: each transition returns what the hub must
    /// then do outside its lock (resume a registration, deliver events, wake the loop). The hub keeps it behind
    /// one lock (the postgres-nio habit: a state machine that returns actions).
    ///
    /// A registration is resolved exactly once: it is in ``pending`` (waiting for the loop), in ``inCatchUp``
    /// (taken by the catch-up in progress), or resolved — resumed with its cursor, or failed. After
    /// ``shutdown()`` nothing becomes a watcher: pending registrations fail at once, and those the catch-up holds
    /// fail when it ends, whether it succeeded or not.
    struct StateMachine {
        struct Registration {
            var id: Int
            var key: GroupKey
            var events: Continuation
            /// Resumed with the frontier the watcher joined at.
            var ready: CheckedContinuation<UInt64, any Error>
        }

        struct SeenKey: Hashable {
            var kind: Int16
            var id: MessageID
            var sequence: Int64
        }

        struct Group {
            var frontier: Int64
            /// The owner's notification token.
            var token: UInt64 = 0
            var seen: [SeenKey: Int64] = [:]
            var watchers: Set<Int> = []
        }

        /// Work for one pass of the loop.
        struct CatchUp {
            var keys: [GroupKey]
            /// The registrations joining (id and key): they stay in ``inCatchUp`` until resolved.
            var joining: [(id: Int, key: GroupKey)]
        }

        /// What the hub does after a catch-up of one box: deliver events, resume the watchers that joined, fail
        /// registrations that cannot join (the hub shut down).
        struct Outcome {
            var deliveries: [(events: Continuation, id: Int, list: [MailboxEvent])] = []
            var ready: [(CheckedContinuation<UInt64, any Error>, UInt64)] = []
            var refused: [Registration] = []
            var wake = false
        }

        private(set) var groups: [GroupKey: Group] = [:]
        /// Notification routing: (box, owner token) → watched owners.
        private var byToken: [MailboxNotification.Box: [UInt64: Set<[UInt8]>]] = [:]
        private(set) var watchers: [Int: (key: GroupKey, events: Continuation)] = [:]
        private(set) var pending: [Int: Registration] = [:]
        private(set) var inCatchUp: [Int: Registration] = [:]
        private var dirty: Set<GroupKey> = []
        private var dirtyAll = false
        private var connected = false
        private var started = false
        private(set) var isShutDown = false
        private var nextID = 0

        /// A new watcher's id.
        mutating func nextWatcherID() -> Int {
            nextID += 1
            return nextID
        }

        /// Whether the hub must start its LISTEN session and loop now (once, and never after shutdown).
        mutating func start() -> Bool {
            guard !started, !isShutDown else { return false }
            started = true
            return true
        }

        /// Queues a registration for the loop; after shutdown it is handed back to be failed.
        mutating func register(_ registration: Registration) -> Registration? {
            guard !isShutDown else { return registration }
            pending[registration.id] = registration
            return nil
        }

        /// Takes a registration that has not joined yet out of the hub (its task was cancelled, or its stream
        /// ended), so that the caller fails it; `nil` when it is not waiting. A live watcher is removed instead.
        mutating func remove(_ id: Int) -> Registration? {
            if let registration = pending.removeValue(forKey: id) ?? inCatchUp.removeValue(forKey: id) {
                return registration
            }
            guard let watcher = watchers.removeValue(forKey: id) else { return nil }
            let key = watcher.key
            groups[key]?.watchers.remove(id)
            if groups[key]?.watchers.isEmpty == true, let group = groups.removeValue(forKey: key) {
                byToken[key.box]?[group.token]?.remove(key.owner)
                if byToken[key.box]?[group.token]?.isEmpty == true { byToken[key.box]?[group.token] = nil }
            }
            return nil
        }

        /// The LISTEN session (re)connected: everything watched is caught up.
        mutating func connected(_ isConnected: Bool) {
            connected = isConnected
            if isConnected { dirtyAll = true }
        }

        /// A notification named these owner tokens; returns whether a watched owner was among them.
        mutating func notified(box: MailboxNotification.Box, tokens: [UInt64]) -> Bool {
            guard let owners = byToken[box] else { return false }
            var marked = false
            for token in tokens {
                for owner in owners[token] ?? [] {
                    dirty.insert(GroupKey(box: box, owner: owner))
                    marked = true
                }
            }
            return marked
        }

        /// The loop's next pass: the dirty groups and, once the LISTEN session is up (so that nothing after a
        /// watcher's start can be missed), the pending registrations, which move to ``inCatchUp``. `nil`:
        /// nothing to do.
        mutating func takeCatchUp() -> CatchUp? {
            guard !isShutDown else { return nil }
            var keys = dirty
            if dirtyAll { keys.formUnion(groups.keys) }
            dirty.removeAll()
            dirtyAll = false
            var joining: [(id: Int, key: GroupKey)] = []
            if connected {
                for (id, registration) in pending {
                    inCatchUp[id] = registration
                    joining.append((id, registration.key))
                }
                pending.removeAll()
            }
            guard !keys.isEmpty || !joining.isEmpty else { return nil }
            return CatchUp(keys: Array(keys), joining: joining)
        }

        /// Each owner's frontier in `box` (`nil`: not watched yet).
        func frontiers(box: MailboxNotification.Box, owners: [[UInt8]]) -> [Int64?] {
            owners.map { groups[GroupKey(box: box, owner: $0)]?.frontier }
        }

        /// The catch-up failed: its keys are dirty again and the registrations it still holds wait again — or,
        /// after shutdown, are handed back to be failed.
        mutating func catchUpFailed(_ catchUp: CatchUp) -> [Registration] {
            var unresolved: [Registration] = []
            for (id, _) in catchUp.joining {
                if let registration = inCatchUp.removeValue(forKey: id) { unresolved.append(registration) }
            }
            guard !isShutDown else { return unresolved }
            dirty.formUnion(catchUp.keys)
            for registration in unresolved { pending[registration.id] = registration }
            return []
        }

        /// Applies what the database said changed in `box` for `owners` (and the tokens of owners a group starts
        /// on): events for their watchers, and the joining registrations of this box become watchers.
        mutating func apply(
            box: MailboxNotification.Box,
            owners: [[UInt8]],
            changes: [WatchQueries.Change],
            frontier: Int64,
            tokens: [[UInt8]: UInt64],
            joining: [(id: Int, key: GroupKey)]
        ) -> Outcome {
            var outcome = Outcome()
            if isShutDown {
                for (id, key) in joining where key.box == box {
                    if let registration = inCatchUp.removeValue(forKey: id) { outcome.refused.append(registration) }
                }
                return outcome
            }
            var byOwner: [[UInt8]: [WatchQueries.Change]] = [:]
            for change in changes { byOwner[change.owner, default: []].append(change) }
            let eventBox: MailboxEvent.Box = box == .inbox ? .inbox : .sentbox
            for owner in owners {
                let key = GroupKey(box: box, owner: owner)
                let isNew = groups[key] == nil
                var group = groups[key] ?? Group(frontier: frontier, token: tokens[owner] ?? 0)
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
                        MailboxEvent(box: eventBox, kind: .deleted, messageIDs: deleted.sorted { $0.0 < $1.0 }.map(\.1))
                    )
                }
                // Resuming from the previous frontier repeats this catch-up; from the new one, nothing of it is
                // lost once the last event arrived.
                for index in events.indices {
                    events[index].cursor = index == events.count - 1 ? UInt64(max(0, frontier)) : previous
                }
                if !events.isEmpty {
                    for id in group.watchers {
                        if let watcher = watchers[id] { outcome.deliveries.append((watcher.events, id, events)) }
                    }
                }
                for (id, joiningKey) in joining where joiningKey == key {
                    // Gone from `inCatchUp`: its task was cancelled or its stream ended meanwhile.
                    guard let registration = inCatchUp.removeValue(forKey: id) else { continue }
                    outcome.ready.append((registration.ready, UInt64(max(0, frontier))))
                    group.watchers.insert(id)
                    watchers[id] = (key, registration.events)
                }
                if group.watchers.isEmpty {
                    // Every watcher left (or was cancelled) meanwhile.
                    groups.removeValue(forKey: key)
                    continue
                }
                groups[key] = group
                if isNew {
                    byToken[box, default: [:]][group.token, default: []].insert(owner)
                    // A notification between the query and now found no watcher: look once more.
                    dirty.insert(key)
                    outcome.wake = true
                }
            }
            // A later pass looks again for the new watchers' groups.
            if !outcome.ready.isEmpty { outcome.wake = true }
            return outcome
        }

        /// What shutting down must end: every live watcher's stream and every pending registration. Registrations
        /// the catch-up holds are failed when it ends (``apply(box:owners:changes:frontier:tokens:joining:)``
        /// or ``catchUpFailed(_:)`` hand them back).
        mutating func shutdown() -> (watchers: [Continuation], pending: [Registration]) {
            isShutDown = true
            let ended = (watchers.values.map(\.events), Array(pending.values))
            watchers.removeAll()
            groups.removeAll()
            byToken.removeAll()
            pending.removeAll()
            dirty.removeAll()
            return ended
        }
    }
}
