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

/// One thread per process that waits (`epoll`) on the sockets of every connection with a statement in flight,
/// and hands each ready socket to its connection's driver, which reads the result without blocking and resumes
/// the waiting task. Nothing here runs on Swift's cooperative thread pool, and a task waiting for PostgreSQL
/// costs no thread.
///
/// Sockets are registered once per connection and armed one-shot for each wait (``arm(_:writable:)``), so a
/// ready socket is reported once per arming and an idle connection is never reported.
final class PQEventLoop: @unchecked Sendable {
    /// The process's event loop; its thread starts on first use and lives as long as the process.
    static let shared = PQEventLoop()

    /// A socket's registration.
    struct Registration: Sendable {
        fileprivate let socket: Int32
        fileprivate let token: UInt64
    }

    private struct WeakHandler {
        weak var handler: (any PQSocketHandler)?
    }

    private let epollFD: Int32
    private let handlers = Mutex<(next: UInt64, byToken: [UInt64: WeakHandler])>((1, [:]))

    private init() {
        epollFD = epoll_create1(Int32(EPOLL_CLOEXEC))
        precondition(epollFD >= 0, "epoll_create1 failed (errno \(errno))")
        let thread = Thread { [self] in run() }
        thread.name = "mailroom.postgres.events"
        thread.start()
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
        let capacity: Int32 = 64
        let events = UnsafeMutablePointer<epoll_event>.allocate(capacity: Int(capacity))
        defer { events.deallocate() }
        while true {
            let ready = epoll_wait(epollFD, events, capacity, -1)
            if ready < 0 {
                if errno == EINTR { continue }
                fatalError("epoll_wait failed (errno \(errno))")
            }
            for index in 0..<Int(ready) {
                let token = events[index].data.u64
                let handler = handlers.withLock { $0.byToken[token]?.handler }
                handler?.socketReady()
            }
        }
    }
}
