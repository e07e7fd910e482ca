#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One keep-alive HTTP/1.1 connection to a loopback port with blocking sockets: the load generator of
/// `bench api`, run on dedicated threads (never on Swift's cooperative pool) so that it costs the server as
/// little CPU as a client can. Reads answers with a `Content-Length` only (what `mailroom serve` sends).
///
/// Not `Sendable`: one thread creates, uses and drops it; the socket is closed exactly once, in `deinit`.
final class BlockingHTTPConnection {
    private let socket: Int32
    private var buffer: [UInt8] = []
    private let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: 65_536, alignment: 16)

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    init(port: Int) throws {
        #if canImport(Glibc)
        let fd = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #else
        let fd = Darwin.socket(AF_INET, SOCK_STREAM, 0)
        #endif
        guard fd >= 0 else {
            scratch.deallocate()
            throw Failure(description: "socket() failed: errno \(errno)")
        }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else {
            let code = errno
            close(fd)
            scratch.deallocate()
            throw Failure(description: "connect to 127.0.0.1:\(port) failed: errno \(code)")
        }
        var on: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &on, socklen_t(MemoryLayout<Int32>.size))
        socket = fd
        buffer.reserveCapacity(1 << 18)
    }

    deinit {
        close(socket)
        scratch.deallocate()
    }

    /// Sends `GET target` with `headers` and returns the status and the body.
    func get(
        _ target: String,
        headers: [(name: String, value: String)]
    ) throws -> (status: Int, body: ArraySlice<UInt8>) {
        var request = "GET \(target) HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        for (name, value) in headers { request += "\(name): \(value)\r\n" }
        request += "\r\n"
        try send(Array(request.utf8))
        return try readResponse()
    }

    private func send(_ bytes: [UInt8]) throws {
        var sent = 0
        while sent < bytes.count {
            let n = bytes.withUnsafeBytes { raw in
                #if canImport(Glibc)
                Glibc.send(socket, raw.baseAddress! + sent, raw.count - sent, Int32(MSG_NOSIGNAL))
                #else
                Darwin.send(socket, raw.baseAddress! + sent, raw.count - sent, 0)
                #endif
            }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw Failure(description: "send failed: errno \(errno)") }
            sent += n
        }
    }

    /// Reads more bytes into `buffer`; throws when the server closed the connection.
    private func receive() throws {
        let n = recv(socket, scratch.baseAddress!, scratch.count, 0)
        if n < 0 && errno == EINTR { return }
        guard n > 0 else {
            throw Failure(description: n == 0 ? "the server closed the connection" : "recv failed: errno \(errno)")
        }
        buffer.append(contentsOf: UnsafeRawBufferPointer(rebasing: scratch[..<n]))
    }

    private func readResponse() throws -> (status: Int, body: ArraySlice<UInt8>) {
        buffer.removeAll(keepingCapacity: true)
        var headerEnd: Int?
        var scanned = 0
        while headerEnd == nil {
            try receive()
            var index = max(0, scanned - 3)
            while index + 3 < buffer.count {
                if buffer[index] == 13 && buffer[index + 1] == 10 && buffer[index + 2] == 13 && buffer[index + 3] == 10
                {
                    headerEnd = index + 4
                    break
                }
                index += 1
            }
            scanned = buffer.count
        }
        let head = String(decoding: buffer[..<headerEnd!], as: UTF8.self)
        let lines = head.split(separator: "\r\n")
        guard let statusLine = lines.first, statusLine.hasPrefix("HTTP/1.1 "),
            let status = Int(statusLine.dropFirst(9).prefix(3))
        else { throw Failure(description: "not an HTTP/1.1 answer") }
        guard
            let lengthLine = lines.first(where: { $0.lowercased().hasPrefix("content-length:") }),
            let length = Int(lengthLine.dropFirst("content-length:".count).trimmingPrefix(" "))
        else { throw Failure(description: "an answer without Content-Length (status \(status))") }
        while buffer.count < headerEnd! + length { try receive() }
        return (status, buffer[headerEnd!..<(headerEnd! + length)])
    }
}
