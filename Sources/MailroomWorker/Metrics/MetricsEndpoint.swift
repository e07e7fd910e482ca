import Foundation
public import Logging
public import ServiceLifecycle

/// Serves `GET /metrics` (Prometheus text) over plain HTTP on a loopback port, from a thread of its own.
///
/// Deliberately tiny — one request per connection, no keep-alive — because a scrape every few seconds is all
/// it ever sees. It binds 127.0.0.1 only unless told otherwise.
public final class MetricsEndpoint: Service, Sendable {
    private let host: String
    private let port: Int
    private let render: @Sendable () -> String
    private let logger: Logger
    /// Seconds a client has to send its request, and to take the response.
    static let clientTimeoutSeconds = 2

    /// - Parameters:
    ///   - render: produces the Prometheus text exposition for each scrape.
    public init(host: String = "127.0.0.1", port: Int, render: @escaping @Sendable () -> String, logger: Logger) {
        self.host = host
        self.port = port
        self.render = render
        self.logger = logger
    }

    public func run() async throws {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw MetricsEndpointError("cannot create a socket") }
        var yes: Int32 = 1
        setsockopt(descriptor, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr(host)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bound == 0, listen(descriptor, 16) == 0 else {
            close(descriptor)
            throw MetricsEndpointError("cannot listen on \(host):\(port)")
        }
        logger.info("metrics endpoint listening", metadata: ["address": "http://\(host):\(port)/metrics"])
        let done = DispatchSemaphore(value: 0)
        let thread = Thread { [self] in
            serve(descriptor)
            done.signal()
        }
        thread.name = "mailroom-metrics"
        thread.start()
        await withGracefulShutdownHandler {
            await withTaskCancellationHandler {
                await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                    DispatchQueue.global().async {
                        done.wait()
                        continuation.resume()
                    }
                }
            } onCancel: {
                shutdown(descriptor, Int32(SHUT_RDWR))
            }
        } onGracefulShutdown: {
            shutdown(descriptor, Int32(SHUT_RDWR))
        }
        close(descriptor)
    }

    private func serve(_ descriptor: Int32) {
        while true {
            let client = accept(descriptor, nil, nil)
            if client < 0 {
                if errno == EINTR { continue }
                return
            }
            // An idle or slow client gives up its turn after the timeout instead of wedging the endpoint.
            var timeout = timeval(tv_sec: Self.clientTimeoutSeconds, tv_usec: 0)
            setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            setsockopt(client, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            var buffer = [UInt8](repeating: 0, count: 2048)
            let count = read(client, &buffer, buffer.count)
            let request = count > 0 ? String(decoding: buffer[0..<count], as: UTF8.self) : ""
            let response: String
            if request.hasPrefix("GET /metrics") {
                let body = render()
                response =
                    "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n\(body)"
            } else {
                response = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            }
            let bytes = Array(response.utf8)
            var sent = 0
            while sent < bytes.count {
                // MSG_NOSIGNAL: a client gone mid-response is an EPIPE here, never a SIGPIPE for the process.
                let written = bytes[sent...].withUnsafeBytes {
                    send(client, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL))
                }
                if written <= 0 { break }
                sent += written
            }
            close(client)
        }
    }
}

extension MetricsEndpoint {
    /// Fetches `path` from a metrics endpoint with a bare HTTP GET; returns the body.
    public static func scrape(host: String = "127.0.0.1", port: Int, path: String = "/metrics") throws -> String {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw MetricsEndpointError("cannot create a socket") }
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr(host)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else { throw MetricsEndpointError("cannot connect to \(host):\(port)") }
        let request = Array("GET \(path) HTTP/1.1\r\nHost: \(host)\r\nConnection: close\r\n\r\n".utf8)
        _ = request.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        var response: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = read(descriptor, &buffer, buffer.count)
            if count <= 0 { break }
            response.append(contentsOf: buffer[0..<count])
        }
        let text = String(decoding: response, as: UTF8.self)
        guard let split = text.range(of: "\r\n\r\n") else { return "" }
        return String(text[split.upperBound...])
    }
}

struct MetricsEndpointError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
