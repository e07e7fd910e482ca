// swift-tools-version: 6.1
import PackageDescription

/// Every Swift target uses the Swift 6 language mode and keeps its imports internal unless it says otherwise,
/// so that C modules never leak into a public API by accident.
let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("InternalImportsByDefault"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "Mailroom",
    // Linux only: the C libraries come from Debian's packages (the system library targets' apt providers), and
    // the libpq shim is Linux's.
    products: [
        /// Identities, envelopes and body encryption: what producers, workers and readers share; with
        /// MailroomEd25519, whose verifier appears in its API.
        .library(name: "MailroomCore", targets: ["MailroomCore", "MailroomEd25519"]),
        /// Sending: seal, sign and put envelopes on Kafka, one at a time or in bulk; with MailroomKafka, whose
        /// configuration and errors appear in its API.
        .library(name: "MailroomProducer", targets: ["MailroomProducer", "MailroomKafka"]),
        /// Reading mailboxes: pages, reads, deletes, unread counts, live watches. Does not link librdkafka.
        .library(name: "MailroomQuery", targets: ["MailroomQuery"]),
        .executable(name: "mailroom", targets: ["MailroomCLI"]),
        /// Benchmarks that print figures beside the ceilings measured in the same run (docs/BENCHMARKS.md).
        .executable(name: "mailroom-bench", targets: ["MailroomBench"]),
        /// The release-mode differential test of the signature tables against libsodium (run by scripts/test).
        .executable(name: "ed25519-differential", targets: ["Ed25519Differential"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.5.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.0.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.6.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.0.0"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.0.0"),
    ],
    targets: [
        // MARK: C libraries from Debian, bound through pkg-config.
        .systemLibrary(
            name: "CSodium",
            pkgConfig: "libsodium",
            providers: [.apt(["libsodium-dev"])]
        ),
        .systemLibrary(
            name: "CRdKafka",
            pkgConfig: "rdkafka",
            providers: [.apt(["librdkafka-dev"])]
        ),
        .systemLibrary(
            name: "CLibPQ",
            pkgConfig: "libpq",
            providers: [.apt(["libpq-dev"])]
        ),

        // MARK: Ed25519 signature checks: precomputed tables for repeat keys, libsodium's verdicts.
        .target(
            name: "MailroomEd25519",
            dependencies: [
                "CSodium",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // The tables against libsodium on a million inputs; a release build (debug arithmetic is ~45x slower).
        .executableTarget(
            name: "Ed25519Differential",
            dependencies: [
                "CSodium", "MailroomEd25519",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),

        // MARK: Core: identities, envelopes, crypto (libsodium; signature checks through MailroomEd25519).
        .target(
            name: "MailroomCore",
            dependencies: [
                "CSodium", "MailroomEd25519",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),

        // MARK: PostgreSQL: a small libpq layer (no Mailroom knowledge) ...
        .target(
            name: "MailroomPostgres",
            dependencies: [
                "CLibPQ",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // ... and the mailbox store on top of it: migrations and every SQL statement Mailroom runs.
        .target(
            name: "MailroomStore",
            dependencies: [
                "MailroomCore",
                "MailroomPostgres",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),

        // MARK: Query library: what app backends import to serve inboxes (no Kafka).
        .target(
            name: "MailroomQuery",
            dependencies: [
                "MailroomCore",
                "MailroomEd25519",
                "MailroomPostgres",
                "MailroomStore",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),

        // MARK: Kafka: every librdkafka call lives here (producer, consumer-group member, admin).
        .target(
            name: "MailroomKafka",
            dependencies: [
                "CRdKafka",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),

        // MARK: Producer library: seals, signs and sends envelopes (one or in bulk).
        .target(
            name: "MailroomProducer",
            dependencies: [
                "MailroomCore",
                "MailroomEd25519",
                "MailroomKafka",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),

        // MARK: Worker: a consumer-group member that verifies envelopes and writes them in batches.
        .target(
            name: "MailroomWorker",
            dependencies: [
                "MailroomCore",
                "MailroomEd25519",
                "MailroomKafka",
                "MailroomPostgres",
                "MailroomStore",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),

        // MARK: The HTTP API (`mailroom serve`): signed requests, the query library and the producer behind them.
        .target(
            name: "MailroomAPI",
            dependencies: [
                "MailroomCore",
                "MailroomEd25519",
                "MailroomPostgres",
                "MailroomProducer",
                "MailroomQuery",
                "MailroomStore",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),

        // MARK: The `mailroom` command-line tool ...
        .executableTarget(
            name: "MailroomCLI",
            dependencies: [
                "MailroomCLISupport",
                "MailroomCore",
                "MailroomEd25519",
                "MailroomPostgres",
                "MailroomStore",
                "MailroomKafka",
                "MailroomProducer",
                "MailroomQuery",
                "MailroomWorker",
                "MailroomAPI",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),

        // ... and what it shares with `mailroom-bench`: errors, output, logging, database and Kafka options.
        .target(
            name: "MailroomCLISupport",
            dependencies: [
                "MailroomPostgres",
                "MailroomKafka",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),

        // MARK: Benchmarks, out of the product: `mailroom-bench`, with the bare libsodium and libpq ceilings each
        // figure is compared with.
        .executableTarget(
            name: "MailroomBench",
            dependencies: [
                "CSodium",
                "CLibPQ",
                "MailroomCLISupport",
                "MailroomCore",
                "MailroomEd25519",
                "MailroomPostgres",
                "MailroomStore",
                "MailroomKafka",
                "MailroomProducer",
                "MailroomQuery",
                "MailroomWorker",
                "MailroomAPI",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),

        // MARK: Tests. Unit tests need nothing running; integration tests read the stack from the environment.
        // Shared by the integration tests: the environment they read and throw-away databases.
        .target(
            name: "MailroomTestSupport",
            dependencies: ["MailroomPostgres"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "MailroomEd25519Tests",
            dependencies: [
                "MailroomEd25519", "CSodium", "MailroomTestSupport",
                .product(name: "Logging", package: "swift-log"),
            ],
            resources: [.copy("Vectors")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "MailroomCoreTests",
            dependencies: ["MailroomCore", "MailroomEd25519", "CSodium", "MailroomTestSupport"],
            resources: [.copy("Vectors")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "MailroomPostgresTests",
            dependencies: ["MailroomPostgres", "MailroomTestSupport"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "MailroomStoreTests",
            dependencies: ["MailroomStore", "MailroomPostgres", "MailroomCore", "MailroomTestSupport"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "MailroomKafkaTests",
            dependencies: ["MailroomKafka", "MailroomTestSupport"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "MailroomWorkerTests",
            dependencies: [
                "MailroomWorker", "MailroomProducer", "MailroomKafka", "MailroomStore", "MailroomCore",
                "MailroomTestSupport", "MailroomCLISupport",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "MailroomProducerTests",
            dependencies: ["MailroomProducer", "MailroomKafka", "MailroomCore", "MailroomTestSupport"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "MailroomQueryTests",
            dependencies: [
                "MailroomQuery", "MailroomStore", "MailroomPostgres", "MailroomCore", "MailroomTestSupport",
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "MailroomCLITests",
            dependencies: [
                "MailroomPostgres", "MailroomStore", "MailroomCore", "MailroomKafka", "MailroomProducer",
                "MailroomWorker",
                "MailroomTestSupport",
            ],
            exclude: ["Scripts"],
            swiftSettings: swiftSettings
        ),
    ]
)
