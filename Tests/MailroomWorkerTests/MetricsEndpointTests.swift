import Foundation
import Logging
import MailroomTestSupport
import MailroomWorker
import ServiceLifecycle
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The worker's metrics endpoint serves one client at a time, so no client may hold it: an idle connection
/// gives up its turn after the timeout, and a client gone mid-response costs an EPIPE, not the process.
@Suite("Worker metrics endpoint against misbehaving clients")
struct MetricsEndpointTests {
    private static func connect(_ port: Int) throws -> Int32 {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard descriptor >= 0, connected == 0 else { throw TestSupportError("cannot connect to the metrics port") }
        return descriptor
    }

    /// Runs an endpoint whose every scrape is ~1 MB (so that a response outlives a vanished client), then `body`.
    private static func withEndpoint(_ body: @Sendable (Int) async throws -> Void) async throws {
        let port = try FreePort.reserve()
        let text = String(repeating: "mailroom_test_padding 1\n", count: 40_000)
        let endpoint = MetricsEndpoint(port: port, render: { text }, logger: Logger(label: "test.metrics"))
        let group = ServiceGroup(services: [endpoint], logger: Logger(label: "test.metrics"))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            // The endpoint is up once a scrape answers.
            let deadline = ContinuousClock.now + .seconds(10)
            var up = false
            while !up && ContinuousClock.now < deadline {
                up = (try? MetricsEndpoint.scrape(port: port)) != nil
                if !up { try await Task.sleep(for: .milliseconds(20)) }
            }
            #expect(up, "the metrics endpoint did not start")
            do {
                try await body(port)
            } catch {
                await group.triggerGracefulShutdown()
                throw error
            }
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
    }

    @Test func anIdleClientCannotWedgeTheEndpoint() async throws {
        try await Self.withEndpoint { port in
            let idle = try Self.connect(port)  // connects, never sends a request
            // Served after the idle client's timeout; without one this scrape would wait until the idle
            // client leaves, which it does here only after 15 s, failing the test.
            let scrape = Task {
                try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<String, any Error>) in
                    Thread { continuation.resume(with: Result { try MetricsEndpoint.scrape(port: port) }) }.start()
                }
            }
            let served = try await withThrowingTaskGroup(of: Bool.self) { race in
                race.addTask {
                    _ = try await scrape.value
                    return true
                }
                race.addTask {
                    try await Task.sleep(for: .seconds(15))
                    return false
                }
                let first = try await race.next() ?? false
                race.cancelAll()
                return first
            }
            close(idle)
            #expect(served, "an idle client held the metrics endpoint")
            #expect(try await scrape.value.hasPrefix("mailroom_test_padding 1"))
        }
    }

    /// The endpoint survives clients that reset the connection during a ~1 MB answer, and keeps serving. (In
    /// this test runner a SIGPIPE is not fatal — the test passes without `MSG_NOSIGNAL` too — so what it pins is
    /// the endpoint's loop; `send(…, MSG_NOSIGNAL)` is what keeps a `mailroom worker` process alive.)
    @Test func clientsThatVanishMidResponseDoNotKillTheProcess() async throws {
        try await Self.withEndpoint { port in
            for _ in 0..<30 {
                let client = try Self.connect(port)
                let request = Array("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n".utf8)
                _ = request.withUnsafeBytes { send(client, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                // Close with a reset while the ~1 MB answer is being written.
                var reset = linger(l_onoff: 1, l_linger: 0)
                setsockopt(client, SOL_SOCKET, SO_LINGER, &reset, socklen_t(MemoryLayout<linger>.size))
                close(client)
            }
            // Still here, and still serving.
            #expect(try MetricsEndpoint.scrape(port: port).hasPrefix("mailroom_test_padding 1"))
        }
    }
}
