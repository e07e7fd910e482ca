import Hummingbird
public import Logging
public import MailroomProducer
public import MailroomQuery
public import ServiceLifecycle
import NIOCore

/// `mailroom serve`: the HTTP API (docs/API.md) as a swift-service-lifecycle service.
///
/// `run()` serves until graceful shutdown (SIGTERM in `mailroom serve`): the listener closes, requests in
/// flight finish, and the query client and the producer it was given are closed by their owner afterwards.
public struct APIServer: Service {
    let application: Application<RouterResponder<APIRequestContext>>

    /// - Parameters:
    ///   - onListening: called once with the bound port (useful with port 0).
    public init(
        configuration: APIConfiguration, client: MailroomClient, producer: MailroomProducer,
        logger: Logger = Logger(label: "mailroom.api"), onListening: @escaping @Sendable (Int) -> Void = { _ in }
    ) {
        let router = Router(context: APIRequestContext.self)
        router.get("healthz") { _, _ in Response.json("{\"status\":\"ok\"}") }
        let authenticator = RequestAuthenticator(configuration: configuration)
        MailboxRoutes(client: client, producer: producer, configuration: configuration)
            .register(on: router, authenticator: authenticator)
        application = Application(
            router: router,
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "mailroom"),
            onServerRunning: { channel in onListening(channel.localAddress?.port ?? configuration.port) },
            logger: logger)
    }

    public func run() async throws {
        try await application.run()
    }
}
