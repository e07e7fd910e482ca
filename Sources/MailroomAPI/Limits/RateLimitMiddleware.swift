import Foundation
import Hummingbird

/// Refuses a request from an address that has used up its bucket, with 429, `rate_limited` and `Retry-After`,
/// before any work (the body is not read, no signature checked). The per-key limit is in
/// ``RequestAuthenticator``, once the key is proven.
struct AddressRateLimitMiddleware: RouterMiddleware {
    typealias Context = APIRequestContext
    let limiter: RateLimiter
    let metrics: APIMetrics

    func handle(
        _ request: Request,
        context: APIRequestContext,
        next: (Request, APIRequestContext) async throws -> Response
    ) async throws -> Response {
        let address = context.remoteAddress?.ipAddress ?? "unknown"
        if let wait = limiter.take(address, now: Int64(Date().timeIntervalSince1970 * 1000)) {
            metrics.refused("address")
            throw APIError.rateLimited("this address", retryAfter: wait)
        }
        return try await next(request, context)
    }
}

/// Answers CORS preflights and adds `Access-Control-Allow-Origin` for the configured origins only; with none
/// configured, no CORS header is ever sent (browsers then refuse cross-origin calls). It wraps the router, so a
/// preflight (`OPTIONS`, which no route has) is answered before routing.
struct CORSResponder<Wrapped: HTTPResponder>: HTTPResponder where Wrapped.Context == APIRequestContext {
    typealias Context = APIRequestContext
    let wrapped: Wrapped
    let origins: Set<String>

    static var allowHeaders: String {
        "Content-Type, Mailroom-Key, Mailroom-Timestamp, Mailroom-Nonce, Mailroom-Signature"
    }
    static var allowMethods: String { "GET, POST, PUT, DELETE, OPTIONS" }

    func respond(to request: Request, context: APIRequestContext) async throws -> Response {
        guard !origins.isEmpty, let origin = request.headers[.origin], origins.contains(origin) || origins.contains("*")
        else {
            return try await wrapped.respond(to: request, context: context)
        }
        let allowed = origins.contains("*") ? "*" : origin
        var response: Response
        if request.method == .options, request.headers[.accessControlRequestMethod] != nil {
            response = Response(status: .noContent)
            response.headers[.accessControlAllowHeaders] = Self.allowHeaders
            response.headers[.accessControlAllowMethods] = Self.allowMethods
            response.headers[.accessControlMaxAge] = "600"
        } else {
            response = try await wrapped.respond(to: request, context: context)
            response.headers[.accessControlExposeHeaders] = "Retry-After"
        }
        response.headers[.accessControlAllowOrigin] = allowed
        if allowed != "*" { response.headers[.vary] = "Origin" }
        return response
    }
}
