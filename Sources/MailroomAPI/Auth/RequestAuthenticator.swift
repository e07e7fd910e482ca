import Foundation
import HTTPTypes
public import Hummingbird
import Logging
import MailroomCore
import MailroomEd25519

/// Checks every request's signature (docs/API.md, "Authentication") and sets ``APIRequestContext/caller``.
///
/// Order: the four headers present, well formed, the timestamp inside the window, the signature over the
/// canonical request, the key's rate limit (429), then the nonce not seen before. The body is collected here, up to the limit, because
/// its hash is signed.
public struct RequestAuthenticator: RouterMiddleware {
    public typealias Context = APIRequestContext

    let maxClockSkew: Duration
    let maxBodyBytes: Int
    let nonces: NonceCache
    let keyLimiter: RateLimiter
    let metrics: APIMetrics
    let clock: @Sendable () -> Int64
    /// Checks the requests' signatures, with tables for keys that send many (the default configuration: 1024 keys
    /// in a release build), re-checked by libsodium.
    let signatureVerifier: Ed25519Verifier

    init(
        configuration: APIConfiguration,
        metrics: APIMetrics,
        clock: @escaping @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970 * 1000) }
    ) {
        maxClockSkew = configuration.maxClockSkew
        maxBodyBytes = configuration.maxBodyBytes
        nonces = NonceCache(limit: configuration.nonceCacheLimit)
        keyLimiter = RateLimiter(perSecond: configuration.keyRequestsPerSecond, burst: configuration.keyBurst)
        self.metrics = metrics
        self.clock = clock
        signatureVerifier = Ed25519Verifier(logger: Logger(label: "mailroom.api.signatures"))
    }

    public func handle(
        _ request: Request,
        context: APIRequestContext,
        next: (Request, APIRequestContext) async throws -> Response
    ) async throws -> Response {
        var request = request
        var context = context
        let now = clock()
        let skew = maxClockSkew.components.seconds * 1000
        // Read here (bounded), refused inside the check: after the timestamp, before the signature.
        var tooLarge = false
        let buffered: ByteBuffer?
        do {
            buffered = try await request.collectBody(upTo: maxBodyBytes)
        } catch {
            buffered = nil
            tooLarge = true
        }
        let headers = request.headers
        let signature: RequestSignature
        do {
            signature = try RequestSignature.check(
                method: request.method.rawValue,
                target: request.head.path ?? "",
                body: { () throws(RequestSignature.Failure) -> [UInt8] in
                    if tooLarge {
                        throw RequestSignature.Failure(
                            "body_too_large",
                            "the request body is over \(maxBodyBytes) bytes"
                        )
                    }
                    return Array(buffer: buffered!)
                },
                header: { name in Self.single(name, in: headers) },
                nowMilliseconds: now,
                maxClockSkewMilliseconds: skew,
                using: signatureVerifier
            )
        } catch {
            if error.code == "body_too_large" { throw APIError(.contentTooLarge, error.code, error.detail) }
            throw APIError(.unauthorized, error.code, error.detail)
        }
        let collected = Array(buffer: buffered!)
        // Counted for the proven key only (a forged request cannot spend another key's budget), before the
        // nonce is taken, so a refused request may be sent again as it is.
        if let wait = keyLimiter.take(signature.key.hexString, now: now) {
            metrics.refused("key")
            throw APIError.rateLimited("this key", retryAfter: wait)
        }
        switch nonces.admit(
            key: signature.key.bytes,
            nonce: signature.nonce,
            expiresAt: signature.timestampMilliseconds + skew,
            now: now
        )
        {
        case .fresh: break
        case .replayed: throw APIError(.unauthorized, "replayed", "this nonce was already used by this key")
        case .full: throw APIError(.serviceUnavailable, "busy", "too many requests in the clock window; retry later")
        }
        context.caller = signature.key
        context.body = collected
        return try await next(request, context)
    }

    /// A header's value; a header given more than once counts as malformed (an empty value, as is).
    static func single(_ name: String, in headers: HTTPFields) -> String? {
        guard let field = HTTPField.Name(name) else { return nil }
        let values = headers[values: field]
        guard let first = values.first else { return nil }
        return values.count == 1 ? first : ""
    }
}
