import ArgumentParser
import Foundation
import MailroomAPI
import MailroomCLISupport
import MailroomProducer
import MailroomQuery
import ServiceLifecycle
import UnixSignals

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve the HTTP API: devices send, list, read and delete mail with their own keys (docs/API.md).",
        discussion: """
            Every request is signed by the key it acts for; the server holds no private key. Prints \
            `listening on HOST:PORT` once it accepts connections (--port 0 picks a free port). SIGTERM or SIGINT \
            stops accepting, lets requests in flight finish and exits 0.
            """
    )

    @OptionGroup var database: DatabaseOptions
    @OptionGroup var kafka: KafkaOptions
    @Option(help: "Address to bind (default 127.0.0.1).") var host: String = "127.0.0.1"
    @Option(help: "Port to bind; 0 for a free one (default 8080).") var port: Int = 8080
    @Option(name: .customLong("max-clock-skew-s"), help: "Seconds a request's timestamp may be off (default 300).")
    var maxClockSkew: Int = 300
    @Option(name: .customLong("max-body-bytes"), help: "Largest request body (default 262144).")
    var maxBodyBytes: Int = 256 * 1024
    @Option(name: .customLong("max-page-size"), help: "Largest page limit (default 500).") var maxPageSize: Int = 500
    @Option(
        name: .customLong("key-rate"),
        help: "Requests per second per key, sustained (default 50; burst twice that)."
    )
    var keyRate: Double = 50
    @Option(
        name: .customLong("address-rate"),
        help: "Requests per second per client address (default 200; burst twice that)."
    )
    var addressRate: Double = 200
    @Option(
        name: .customLong("cors-origin"),
        help: "An origin browsers may call from (repeatable; * for any; default none)."
    )
    var corsOrigins: [String] = []
    @Flag(name: .customLong("no-metrics"), help: "Do not serve GET /metrics.") var noMetrics = false
    @Option(name: .customLong("pool-size"), help: "PostgreSQL connections for requests (default 4).") var poolSize:
        Int = 4

    func run() async throws {
        try await reportingErrors {
            var configuration = APIConfiguration(host: host, port: port)
            configuration.maxClockSkew = .seconds(max(1, maxClockSkew))
            configuration.maxPageSize = max(1, maxPageSize)
            configuration.maxBodyBytes = max(1, maxBodyBytes)
            guard keyRate > 0, addressRate > 0 else { throw CLIError("--key-rate and --address-rate must be positive") }
            configuration.keyRequestsPerSecond = keyRate
            configuration.keyBurst = max(1, Int(keyRate * 2))
            configuration.addressRequestsPerSecond = addressRate
            configuration.addressBurst = max(1, Int(addressRate * 2))
            configuration.corsOrigins = Set(corsOrigins)
            configuration.metricsEnabled = !noMetrics
            let logger = CLILogging.logger("api")
            let client = MailroomClient(
                .init(databaseURL: try database.resolvedURL(), poolSize: poolSize),
                logger: logger
            )
            let producer = try MailroomProducer(
                .init(
                    kafka: try kafka.configuration(clientID: "mailroom-api"),
                    topics: kafka.topics,
                    sendTimeout: .seconds(15)
                ),
                logger: logger
            )
            let host = configuration.host
            let server = APIServer(
                configuration: configuration,
                client: client,
                producer: producer,
                logger: logger,
                onListening: { port in
                    // One line on standard output, unbuffered: tests and scripts wait for it.
                    FileHandle.standardOutput.write(Data("listening on \(host):\(port)\n".utf8))
                }
            )
            let group = ServiceGroup(
                configuration: .init(
                    services: [.init(service: server, successTerminationBehavior: .gracefullyShutdownGroup)],
                    gracefulShutdownSignals: [.sigterm, .sigint],
                    logger: logger
                )
            )
            do {
                try await group.run()
            } catch {
                await producer.close()
                await client.shutdown()
                throw error
            }
            await producer.close()
            await client.shutdown()
        }
    }
}
