public import Hummingbird
public import MailroomCore
public import NIOCore

/// The request context of the API: who the request acts for, once ``RequestAuthenticator`` has checked it.
public struct APIRequestContext: RequestContext, RemoteAddressRequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The authenticated key; every `/v1/` route runs behind the authenticator, which sets it.
    public var caller: PublicKey?
    /// The request body, collected (up to the limit) by the authenticator to check its hash.
    public var body: [UInt8] = []

    /// The peer's address, for the per-address rate limit.
    public let remoteAddress: SocketAddress?

    public init(source: Source) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
    }

    /// The authenticated key, or 401 if a route was reached without one (a configuration error).
    func requireCaller() throws -> PublicKey {
        guard let caller else { throw APIError(.unauthorized, "missing_auth", "the request is not authenticated") }
        return caller
    }
}
