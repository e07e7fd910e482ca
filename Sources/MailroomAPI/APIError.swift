import Foundation
public import HTTPTypes
public import Hummingbird
import NIOCore

/// An API failure: an HTTP status and a stable snake_case code, sent as `{"error": {"code", "message"}}`.
/// The message never holds a body, a signature or a nonce.
public struct APIError: HTTPResponseError, Sendable, CustomStringConvertible {
    public let status: HTTPResponse.Status
    public let code: String
    public let message: String
    /// Extra response headers (`Retry-After` on 429).
    public var headers: HTTPFields = [:]

    public init(_ status: HTTPResponse.Status, _ code: String, _ message: String) {
        self.status = status
        self.code = code
        self.message = message
    }

    /// 429 `rate_limited` with `Retry-After: seconds`.
    static func rateLimited(_ who: String, retryAfter seconds: Int) -> APIError {
        var error = APIError(.tooManyRequests, "rate_limited", "too many requests from \(who); retry in \(seconds) s")
        error.headers[.retryAfter] = "\(seconds)"
        return error
    }

    public var description: String { "\(status.code) \(code): \(message)" }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        let body = JSONText.object([
            ("error", JSONText.object([("code", JSONText.string(code)), ("message", JSONText.string(message))]))
        ])
        var response = Response.json(body, status: status)
        for field in headers { response.headers.append(field) }
        if status == .unauthorized { response.headers[.wwwAuthenticate] = "Mailroom-Ed25519" }
        return response
    }
}

/// JSON text built from parts, so that records (already JSON text) are embedded without re-encoding.
enum JSONText {
    static func string(_ value: String) -> String {
        var out = "\""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20: out += String(format: "\\u%04x", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    static func object(_ members: [(String, String)]) -> String {
        "{" + members.map { string($0.0) + ":" + $0.1 }.joined(separator: ",") + "}"
    }

    static func array(_ elements: [String]) -> String { "[" + elements.joined(separator: ",") + "]" }

    static func optional(_ value: String?) -> String { value.map(string) ?? "null" }
}

extension Response {
    static func json(_ text: String, status: HTTPResponse.Status = .ok) -> Response {
        Response(
            status: status,
            headers: [.contentType: "application/json"],
            body: ResponseBody(byteBuffer: ByteBuffer(string: text))
        )
    }
}
