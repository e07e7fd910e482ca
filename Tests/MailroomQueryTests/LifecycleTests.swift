import Foundation
import MailroomCore
import MailroomPostgres
import MailroomTestSupport
import Synchronization
import Testing

@testable import MailroomQuery

/// The client's lifecycle and the errors its API throws: scoped use releases everything, and database failures
/// come out as the query library's own error type.
@Suite("Query client lifecycle and errors")
struct LifecycleTests {
    private struct Planned: Error {}

    /// `withClient` shuts the client down when its body throws: its pooled connections and its LISTEN session
    /// are closed, and it takes no new watch.
    @Test(.enabled(if: TestEnvironment.hasDatabase))
    func withClientShutsTheClientDownWhenTheBodyThrows() async throws {
        try await QueryFixture.with { fixture in
            let owner = try await fixture.people(1)[0].publicKey
            var configuration = MailroomClient.Configuration(databaseURL: fixture.database.url, poolSize: 2)
            configuration.applicationName = "mailroom-scoped"
            let sessions: PostgresQuery = """
                SELECT count(*) FROM pg_stat_activity
                WHERE datname = current_database() AND application_name LIKE 'mailroom-scoped%'
                """
            let escaped = Mutex<MailroomClient?>(nil)
            await #expect(throws: Planned.self) {
                try await MailroomClient.withClient(configuration) { client in
                    escaped.withLock { $0 = client }
                    _ = try await client.listInbox(owner: owner)
                    _ = try await client.watchInbox(owner: owner)
                    #expect(try await fixture.scalar(sessions) == 2)  // a pooled connection and the LISTEN session
                    throw Planned()
                }
            }
            let deadline = ContinuousClock.now + .seconds(30)
            while try await fixture.scalar(sessions) > 0, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(10))
            }
            #expect(try await fixture.scalar(sessions) == 0)
            let client = try #require(escaped.withLock { $0 })
            #expect(client.hub.watcherCount == 0)
            let refused = await #expect(throws: MailroomQueryError.self) {
                _ = try await client.hub.watch(box: .inbox, owner: owner)
            }
            #expect(refused?.code == .shutDown)
        }
    }

    /// A database that cannot be reached is a MailroomQueryError (database_unavailable), not a type of a module
    /// the product does not export.
    @Test func anUnreachableDatabaseIsAQueryError() async throws {
        let port = try FreePort.reserve()
        try await MailroomClient.withClient(.init(databaseURL: "postgres://nobody@127.0.0.1:\(port)/none")) { client in
            let error = await #expect(throws: MailroomQueryError.self) {
                _ = try await client.listInbox(owner: Identity.generate().publicKey)
            }
            #expect(error?.code == .databaseUnavailable)
        }
    }
}
