import Foundation
import MailroomCore
import MailroomPostgres
import MailroomProducer
import MailroomTestSupport
import MailroomWorker
import Testing

/// TLS to PostgreSQL with `sslmode=verify-full`: the dev stack's server takes TLS with a certificate from the
/// stack's own CA (`MAILROOM_PG_CA`, from `scripts/dev-stack env`). The worker writes over it; a server whose
/// certificate the client's CA did not sign is refused, with libpq's reason.
@Suite(
    "PostgreSQL over verified TLS",
    .enabled(if: TestEnvironment.hasBroker && ProcessInfo.processInfo.environment["MAILROOM_PG_CA"] != nil)
)
struct PostgresTLSTests {
    static var ca: String { ProcessInfo.processInfo.environment["MAILROOM_PG_CA"] ?? "" }

    static func verified(_ url: String, ca: String = PostgresTLSTests.ca) -> String {
        url + (url.contains("?") ? "&" : "?") + "sslmode=verify-full&sslrootcert=\(ca)"
    }

    @Test func theWorkerStoresOverVerifiedTLS() async throws {
        try await PipelineHarness.with(partitions: 2) { harness in
            let sender = Identity.generate()
            let recipient = Identity.generate()
            try await harness.setUpMailboxes([sender, recipient])
            let producer = try harness.producer()
            let results = await producer.sendBulk(
                from: sender,
                messages: (0..<20).map {
                    BulkMessage(recipient: recipient.publicKey.textileString, body: [UInt8]("m\($0)".utf8))
                }
            )
            await producer.close()
            #expect(results.allSatisfy { $0.isSent })
            let worker = harness.startWorker(name: "tls-worker") {
                $0.databaseURL = Self.verified(harness.database.url)
            }
            #expect(try await harness.eventually { try await harness.inboxCount() == 20 })
            // The worker's own session is the encrypted one.
            let encrypted = try await harness.count(
                """
                SELECT count(*) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid)
                WHERE a.datname = current_database() AND a.application_name = 'mailroom-worker' AND s.ssl
                """
            )
            try await worker.stop()
            #expect(encrypted >= 1)
        }
    }

    @Test func aServerCertificateFromAnotherCAIsRefused() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("mailroom-tls-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let other = folder.appendingPathComponent("other-ca.crt").path
        let openssl = Process()
        openssl.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        openssl.arguments = [
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=not the dev CA",
            "-keyout", folder.appendingPathComponent("other-ca.key").path, "-out", other,
        ]
        openssl.standardError = FileHandle.nullDevice
        try openssl.run()
        openssl.waitUntilExit()
        #expect(openssl.terminationStatus == 0)

        let url = try TestEnvironment.requireDatabaseURL()
        let trusted = try await PostgresConnection.withConnection(.init(url: Self.verified(url))) { connection in
            try await connection.query("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").single()
                .decode(Bool.self, column: 0)
        }
        #expect(trusted)
        do {
            try await PostgresConnection.withConnection(.init(url: Self.verified(url, ca: other))) { _ in }
            Issue.record("a server certificate from another CA was accepted")
        } catch {
            let message = (error as? PostgresError)?.message ?? "\(error)"
            #expect(message.contains("certificate verify failed"), "\(message)")
        }
    }
}
