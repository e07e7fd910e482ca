/// What `mailroom serve` listens on and the limits it keeps. Every property but the address has a default.
public struct APIConfiguration: Sendable {
    /// Address to bind; 127.0.0.1 unless the server is meant to be reached from other hosts.
    public var host: String = "127.0.0.1"
    /// Port to bind; 0 picks a free one (its number is reported once the server listens).
    public var port: Int = 8080
    /// The largest request body: an envelope with a 64 KiB body is 131,377 bytes.
    public var maxBodyBytes: Int = 256 * 1024
    /// The largest page `limit`; the default page holds ``defaultPageSize``.
    public var maxPageSize: Int = 500
    /// The page size when a request gives no `limit`.
    public var defaultPageSize: Int = 50
    /// How far a request's timestamp may be from the server's clock, either way.
    public var maxClockSkew: Duration = .seconds(300)
    /// Nonces remembered at most (each for at most twice ``maxClockSkew``); past it, requests get 503 until
    /// old nonces expire. About 100 bytes each.
    public var nonceCacheLimit: Int = 1_000_000

    /// Requests per second one client address may make, sustained; `addressBurst` at once. Counted before
    /// authentication, so unauthenticated floods are limited too.
    public var addressRequestsPerSecond: Double = 200
    public var addressBurst: Int = 400
    /// Requests per second one key may make, sustained; `keyBurst` at once. Counted once the signature is checked.
    public var keyRequestsPerSecond: Double = 50
    public var keyBurst: Int = 100
    /// Origins allowed to call the API from a browser (`Access-Control-Allow-Origin`); `*` for any. Empty: no
    /// CORS headers.
    public var corsOrigins: Set<String> = []
    /// Serve Prometheus metrics at `GET /metrics` on the same listener.
    public var metricsEnabled = true
    /// Event streams (`/v1/inbox/events`, `/v1/sentbox/events`) one key may hold open at once.
    public var maxStreamsPerKey: Int = 4
    /// How often an idle event stream gets a keep-alive comment (which also finds clients that went away).
    public var eventHeartbeat: Duration = .seconds(15)
    /// A connection with no request for this long is closed.
    public var idleTimeout: Duration = .seconds(60)

    public init(host: String = "127.0.0.1", port: Int = 8080) {
        self.host = host
        self.port = port
    }
}
