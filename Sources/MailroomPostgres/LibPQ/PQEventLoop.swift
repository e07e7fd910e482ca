internal import CLibPQ
internal import Foundation
internal import Synchronization

#if canImport(Glibc)
internal import Glibc
#endif

/// Something waiting on a socket registered with ``PQEventLoop``.
protocol PQSocketHandler: AnyObject, Sendable {
    /// Called on the event thread once the socket is readable (or writable, if asked for), or failed.
    func socketReady()
}

/// A thread that waits (`epoll`) on the sockets of its connections with a statement in flight, hands each ready
/// socket to its connection's driver (which reads the result without blocking and resumes the waiting task),
/// and runs the jobs of tasks that prefer it as their executor. Nothing here runs on Swift's cooperative thread
/// pool, and a task waiting for PostgreSQL costs no thread.
///
/// The process has one loop per core (``group``); a connection belongs to the loop it was opened on. A task
/// that prefers a loop (`withTaskExecutorPreference`) and queries a connection of that loop is resumed by the
/// thread that read its result, with no hand-over to another thread: the task, that thread and the server's
/// backend then take turns on one core, as a blocking client's thread and its backend do. On a virtual machine
/// each hand-over to a sleeping thread on another core costs tens of microseconds (docs/BENCHMARKS.md, "Query",
/// "Results").
///
/// Sockets are registered once per connection and armed one-shot for each wait (``arm(_:writable:)``), so a
/// ready socket is reported once per arming and an idle connection is never reported.
final class PQEventLoop: TaskExecutor, Sendable {
    /// The process's loops, one per core; their threads start on first use and live as long as the process.
    static let group: [PQEventLoop] = (0..<max(1, ProcessInfo.processInfo.activeProcessorCount)).map {
        PQEventLoop(index: $0)
    }
    private static let nextIndex = Atomic<Int>(0)

    /// The loops in turn.
    static func next() -> PQEventLoop {
        group[nextIndex.add(1, ordering: .relaxed).oldValue % group.count]
    }

    /// The loop whose thread is the caller's, if any.
    static var current: PQEventLoop? {
        let thread = UInt(pthread_self())
        return group.first { $0.thread.load(ordering: .acquiring) == thread }
    }

    /// A socket's registration.
    struct Registration: Sendable {
        fileprivate let socket: Int32
        fileprivate let token: UInt64
    }

    private struct WeakHandler {
        weak var handler: (any PQSocketHandler)?
    }

    private let epollFD: Int32
    /// Written to wake the thread for a job enqueued from another thread; registered with token 0.
    private let wakeFD: Int32
    private let handlers = Mutex<(next: UInt64, byToken: [UInt64: WeakHandler])>((1, [:]))
    private let jobs = Mutex<[UnownedJob]>([])
    /// The loop thread's `pthread_t`, once it runs.
    private let thread = Atomic<UInt>(0)

    private init(index: Int) {
        epollFD = epoll_create1(Int32(EPOLL_CLOEXEC))
        precondition(epollFD >= 0, "epoll_create1 failed (errno \(errno))")
        wakeFD = eventfd(0, Int32(EFD_CLOEXEC | EFD_NONBLOCK))
        precondition(wakeFD >= 0, "eventfd failed (errno \(errno))")
        var event = epoll_event()
        event.events = EPOLLIN.rawValue
        event.data.u64 = 0
        precondition(epoll_ctl(epollFD, EPOLL_CTL_ADD, wakeFD, &event) == 0, "epoll_ctl failed (errno \(errno))")
        let thread = Thread { [self] in
            // Named by the thread itself, through the kernel: Foundation's `Thread.name` reaches the kernel only
            // if set after `start()` has recorded the thread, which races with the thread's first steps, and an
            // unnamed thread keeps its creator's name (e.g. a cooperative pool thread's).
            _ = mailroom_name_this_thread("mailroom.pq.\(index)")
            run()
        }
        thread.start()
    }

    /// Runs `job` on this loop's thread, after the sockets ready at that moment (``TaskExecutor``).
    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let wasEmpty = jobs.withLock { queue in
            defer { queue.append(job) }
            return queue.isEmpty
        }
        // The loop thread drains the queue before it waits again; another thread wakes it for the first job.
        if wasEmpty, thread.load(ordering: .acquiring) != UInt(pthread_self()) {
            var one: UInt64 = 1
            _ = write(wakeFD, &one, 8)
        }
    }

    /// Registers a connection's socket, disarmed.
    func register(socket: Int32, handler: any PQSocketHandler) throws(PostgresError) -> Registration {
        let token = handlers.withLock { state -> UInt64 in
            let token = state.next
            state.next += 1
            state.byToken[token] = WeakHandler(handler: handler)
            return token
        }
        var event = epoll_event()
        event.events = EPOLLONESHOT.rawValue
        event.data.u64 = token
        guard epoll_ctl(epollFD, EPOLL_CTL_ADD, socket, &event) == 0 else {
            let code = errno
            _ = handlers.withLock { $0.byToken.removeValue(forKey: token) }
            throw PostgresError(.connectionFailed, message: "cannot watch the connection's socket (errno \(code))")
        }
        return Registration(socket: socket, token: token)
    }

    /// Asks for one ``PQSocketHandler/socketReady()`` call once the socket is readable (or writable, with
    /// `writable`), or has failed.
    func arm(_ registration: Registration, writable: Bool) throws(PostgresError) {
        var event = epoll_event()
        event.events = EPOLLIN.rawValue | EPOLLONESHOT.rawValue | (writable ? EPOLLOUT.rawValue : 0)
        event.data.u64 = registration.token
        guard epoll_ctl(epollFD, EPOLL_CTL_MOD, registration.socket, &event) == 0 else {
            throw PostgresError(.connectionClosed, message: "cannot watch the connection's socket (errno \(errno))")
        }
    }

    /// Forgets a registration. With `socketIsOpen` (libpq still holds that socket) it is also taken out of the
    /// epoll set; without, it is not touched: libpq closed it when the connection failed (which took it out of the
    /// set), and its number may already belong to another connection.
    func unregister(_ registration: Registration, socketIsOpen: Bool) {
        if socketIsOpen {
            var event = epoll_event()
            _ = epoll_ctl(epollFD, EPOLL_CTL_DEL, registration.socket, &event)
        }
        _ = handlers.withLock { $0.byToken.removeValue(forKey: registration.token) }
    }

    /// Whether `socket` is the one registered.
    func isRegistered(_ registration: Registration, socket: Int32) -> Bool { registration.socket == socket }

    private func run() {
        thread.store(UInt(pthread_self()), ordering: .releasing)
        let capacity: Int32 = 64
        let events = UnsafeMutablePointer<epoll_event>.allocate(capacity: Int(capacity))
        defer { events.deallocate() }
        var batch: [UnownedJob] = []
        while true {
            let hasJobs = jobs.withLock { !$0.isEmpty }
            let ready = epoll_wait(epollFD, events, capacity, hasJobs ? 0 : -1)
            if ready < 0 {
                if errno == EINTR { continue }
                fatalError("epoll_wait failed (errno \(errno))")
            }
            for index in 0..<Int(ready) {
                let token = events[index].data.u64
                if token == 0 {
                    var count: UInt64 = 0
                    _ = read(wakeFD, &count, 8)
                    continue
                }
                let handler = handlers.withLock { $0.byToken[token]?.handler }
                handler?.socketReady()
            }
            // Jobs enqueued while these run wait for the next turn, after the sockets ready by then.
            jobs.withLock { swap(&batch, &$0) }
            for job in batch { job.runSynchronously(on: asUnownedTaskExecutor()) }
            batch.removeAll(keepingCapacity: true)
        }
    }
}
