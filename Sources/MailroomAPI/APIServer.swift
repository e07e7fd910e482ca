import Hummingbird
import HummingbirdCore
public import Logging
public import MailroomProducer
public import MailroomQuery
import NIOCore
public import ServiceLifecycle

/// `mailroom serve`: the HTTP API (docs/API.md) as a swift-service-lifecycle service.
///
/// `run()` serves until graceful shutdown (SIGTERM in `mailroom serve`): the listener closes, requests in
/// flight finish, and the query client and the producer it was given are closed by their owner afterwards.
public struct APIServer: Service {
    let application: Application<CORSResponder<RouterResponder<APIRequestContext>>>
    /// The server's request metrics (also at `GET /metrics` when enabled).
    public let metrics: APIMetrics

    /// - Parameters:
    ///   - onListening: called once with the bound port (useful with port 0).
    public init(
        configuration: APIConfiguration,
        client: MailroomClient,
        producer: MailroomProducer,
        logger: Logger = Logger(label: "mailroom.api"),
        onListening: @escaping @Sendable (Int) -> Void = { _ in }
    ) {
        let metrics = APIMetrics()
        self.metrics = metrics
        let router = Router(context: APIRequestContext.self)
        router.add(middleware: ObservationMiddleware(metrics: metrics))
        router.get("healthz") { _, _ in Response.json("{\"status\":\"ok\"}") }
        if configuration.metricsEnabled {
            router.get("metrics") { _, _ in
                Response(
                    status: .ok,
                    headers: [.contentType: "text/plain; version=0.0.4"],
                    body: ResponseBody(byteBuffer: ByteBuffer(string: metrics.render()))
                )
            }
        }
        router.add(
            middleware: AddressRateLimitMiddleware(
                limiter: RateLimiter(
                    perSecond: configuration.addressRequestsPerSecond,
                    burst: configuration.addressBurst
                ),
                metrics: metrics
            )
        )
        let authenticator = RequestAuthenticator(configuration: configuration, metrics: metrics)
        MailboxRoutes(client: client, producer: producer, configuration: configuration)
            .register(on: router, authenticator: authenticator)
        application = Application(
            responder: CORSResponder(wrapped: router.buildResponder(), origins: configuration.corsOrigins),
            server: HTTPServerBuilder { responder in
                ExecutorPreferringChannel(
                    inner: HTTP1Channel(
                        responder: responder,
                        configuration: .init(
                            idleTimeout: .nanoseconds(
                                configuration.idleTimeout.components.seconds * 1_000_000_000
                                    + configuration.idleTimeout.components.attoseconds / 1_000_000_000
                            )
                        )
                    ),
                    nextExecutor: { client.nextExecutor() }
                )
            },
            configuration: .init(
                address: .hostname(configuration.host, port: configuration.port),
                serverName: "mailroom"
            ),
            onServerRunning: { channel in onListening(channel.localAddress?.port ?? configuration.port) },
            logger: logger
        )
    }

    public func run() async throws {
        try await application.run()
    }
}
