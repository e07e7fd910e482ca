import Foundation
import Logging
import MailroomCore
import MailroomKafka
import MailroomPostgres
import MailroomStore
import MailroomTestSupport
import Testing

@testable import MailroomWorker

/// The next batch's lookups on a connection of their own: the answers the commit would have read, and nil (so
/// that the commit looks up itself) when the database cannot be reached.
@Suite("Batch lookahead", .enabled(if: TestEnvironment.hasDatabase))
struct BatchLookaheadTests {
    private static func configuration(url: String) -> PostgresConnection.Configuration {
        WorkerConfiguration(kafka: KafkaConfiguration(brokers: "127.0.0.1:1", clientID: "unused"), databaseURL: url)
            .postgresConnection
    }

    @Test func answersWhichOwnersHaveMailboxesAndWhichPairsAreBlocked() async throws {
        try await TestDatabase.with { database in
            let migrations = try Migration.load(
                from: TestEnvironment.packageRoot.appendingPathComponent("Migrations")
            )
            let (alice, bob, carol) = (Identity.generate(), Identity.generate(), Identity.generate())
            try await database.withConnection { connection in
                _ = try await Migrator().migrate(migrations, on: connection)
                for owner in [alice, bob] {
                    _ = try await MailboxQueries.setup(owner: owner.publicKey.bytes, on: connection)
                }
                #expect(
                    try await BlockQueries.block(
                        owner: alice.publicKey.bytes,
                        sender: bob.publicKey.bytes,
                        on: connection
                    )
                )
            }
            let lookahead = BatchLookahead(
                configuration: Self.configuration(url: database.url),
                logger: Logger(label: "test")
            )
            let owners: Set<PublicKey> = [alice.publicKey, bob.publicKey, carol.publicKey]
            let recipients: Set<[UInt8]> = [alice.publicKey.bytes, carol.publicKey.bytes]
            let answers = try #require(await lookahead.lookUp(owners: owners, recipients: recipients))
            #expect(answers.asked == owners)
            #expect(answers.found == [alice.publicKey, bob.publicKey])
            #expect(answers.blockRecipients == recipients)
            #expect(answers.blocked == [alice.publicKey.bytes + bob.publicKey.bytes])
            // The connection stays open for the next batch, and reads what changed since.
            try await database.withConnection { connection in
                _ = try await MailboxQueries.setup(owner: carol.publicKey.bytes, on: connection)
            }
            let again = try #require(await lookahead.lookUp(owners: [carol.publicKey], recipients: []))
            #expect(again.found == [carol.publicKey])
            #expect(again.blocked.isEmpty)
            #expect(again.isFresh)
            await lookahead.close()
            // Closed for good: no connection is made again.
            #expect(await lookahead.lookUp(owners: [carol.publicKey], recipients: []) == nil)
        }
    }

    @Test func aLookupStuckBehindALockGivesUpAndTheCommitLooksUpItself() async throws {
        try await TestDatabase.with { database in
            let migrations = try Migration.load(
                from: TestEnvironment.packageRoot.appendingPathComponent("Migrations")
            )
            try await database.withConnection { connection in
                _ = try await Migrator().migrate(migrations, on: connection)
            }
            let lookahead = BatchLookahead(
                configuration: Self.configuration(url: database.url),
                logger: Logger(label: "test")
            )
            let key = Identity.generate().publicKey
            try await database.withConnection { locker in
                try await locker.executeScript("BEGIN; LOCK TABLE mailbox_blocks IN ACCESS EXCLUSIVE MODE")
                let started = ContinuousClock.now
                #expect(await lookahead.lookUp(owners: [key], recipients: [key.bytes]) == nil)
                // Given up by the session's statement_timeout, not by the lock going away.
                #expect(ContinuousClock.now - started >= BatchLookahead.statementTimeout)
                try await locker.executeScript("ROLLBACK")
            }
            await lookahead.close()
        }
    }

    @Test func answersOlderThanTheBoundAreStale() {
        let answers = BatchLookahead.Answers(
            asked: [],
            found: [],
            blockRecipients: [],
            blocked: [],
            readAt: .now - BatchLookahead.maxAge - .milliseconds(1)
        )
        #expect(!answers.isFresh)
    }

    @Test func answersNilWhenTheDatabaseCannotBeReached() async throws {
        let port = try FreePort.reserve()
        let lookahead = BatchLookahead(
            configuration: Self.configuration(url: "postgres://mailroom@127.0.0.1:\(port)/mailroom"),
            logger: Logger(label: "test")
        )
        let key = Identity.generate().publicKey
        #expect(await lookahead.lookUp(owners: [key], recipients: [key.bytes]) == nil)
        // Within the back-off it does not try again: still nil, and the commit looks up on its own connection.
        #expect(await lookahead.lookUp(owners: [key], recipients: [key.bytes]) == nil)
        await lookahead.close()
    }
}
