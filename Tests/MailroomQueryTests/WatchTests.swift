import Foundation
import MailroomCore
import MailroomPostgres
import MailroomStore
import MailroomTestSupport
import Synchronization
import Testing

@testable import MailroomQuery

@Suite("Live watches over one LISTEN session", .enabled(if: TestEnvironment.hasDatabase))
struct WatchTests {
    static func listenSessions(_ fixture: QueryFixture) async throws -> Int64 {
        try await fixture.scalar(
            """
            SELECT count(*) FROM pg_stat_activity
            WHERE datname = current_database() AND application_name = 'mailroom-query-listen'
            """
        )
    }

    @Test func createdReadAndDeletedArrive() async throws {
        try await QueryFixture.with { fixture in
            let people = try await fixture.people()
            let (alice, bob) = (people[0], people[1])
            let before = try await fixture.send(from: alice, to: bob.publicKey)
            let inbox = EventCollector(try await fixture.client.watchInbox(owner: bob.publicKey))
            let sentbox = EventCollector(try await fixture.client.watchSentbox(owner: alice.publicKey))

            let id = try await fixture.send(from: alice, to: bob.publicKey)
            #expect(try await inbox.wait { $0.ids(.created) == [id] })
            #expect(try await sentbox.wait { $0.ids(.created) == [id] })
            _ = try await fixture.client.readInboxMessage(owner: bob.publicKey, id: id)
            #expect(try await inbox.wait { $0.ids(.read) == [id] })
            try await fixture.client.deleteInboxMessage(owner: bob.publicKey, id: id)
            #expect(try await inbox.wait { $0.ids(.deleted) == [id] })
            try await fixture.client.deleteSentboxMessage(owner: alice.publicKey, id: id)
            #expect(try await sentbox.wait { $0.ids(.deleted) == [id] })

            // A message whose sender's clock is behind (an id older than everything seen) is still reported.
            let late = try MessageID(milliseconds: before.milliseconds - 60_000)
            try await fixture.send(from: alice, to: bob.publicKey, id: late)
            #expect(try await inbox.wait { $0.ids(.created) == [id, late] })
            // Nothing from before the watch started, nothing twice, nothing for others' boxes. The hub reports
            // changes in the order it learns of them, so once a last message has arrived in both boxes, anything
            // reported twice before it has arrived too.
            let last = try await fixture.send(from: alice, to: bob.publicKey)
            #expect(try await inbox.wait { $0.ids(.created) == [id, late, last] })
            #expect(try await sentbox.wait { $0.ids(.created) == [id, late, last] })
            #expect(!inbox.ids(.created).contains(before))
            #expect(inbox.received.map(\.kind) == [.created, .read, .deleted, .created, .created])
            #expect(sentbox.received.map(\.kind) == [.created, .deleted, .created, .created])
            #expect(try await Self.listenSessions(fixture) == 1)
            await inbox.cancel()
            await sentbox.cancel()
        }
    }

    /// A shutdown while a watcher's registration is inside a catch-up (held here by a lock on the messages table)
    /// fails that registration with shut_down, exactly once, and it never becomes a watcher; shutdown returns.
    @Test func aShutdownDuringARegistrationsCatchUpFailsItInsteadOfLeavingItWaiting() async throws {
        try await QueryFixture.with { fixture in
            let people = try await fixture.people()
            try await fixture.database.withConnection { holder in
                try await holder.query("BEGIN")
                try await holder.query("LOCK TABLE messages IN ACCESS EXCLUSIVE MODE")
                let outcome = Mutex<Result<UInt64, any Error>?>(nil)
                let watch = Task {
                    do {
                        let watch = try await fixture.client.watchInbox(owner: people[1].publicKey)
                        outcome.withLock { $0 = .success(watch.cursor) }
                    } catch {
                        outcome.withLock { $0 = .failure(error) }
                    }
                }
                // The registration's catch-up waits for the lock.
                try #require(
                    try await fixture.database.eventuallyWaitsOnALock(),
                    "the catch-up never waited for the lock"
                )
                await fixture.client.shutdown()
                // Resolved by the time shutdown returns (it waits for the loop), with shut_down.
                let resolved = outcome.withLock { $0 }
                #expect(resolved != nil, "the registration still waits after shutdown")
                if case .failure(let error as MailroomQueryError) = resolved {
                    #expect(error.code == .shutDown)
                } else {
                    Issue.record("the registration did not fail with shut_down: \(String(describing: resolved))")
                }
                #expect(fixture.client.hub.watcherCount == 0)
                watch.cancel()
                await watch.value
                try await holder.query("ROLLBACK")
            }
        }
    }

    /// Any role can NOTIFY on the channel (PostgreSQL has no privilege for it); a notification only wakes the
    /// hub, which reads what changed from the tables, so one sent by the dashboard role, naming the watched
    /// owner's real token and even a message id, produces no event.
    @Test func aNotificationFromAnotherRoleProducesNoEvent() async throws {
        try await QueryFixture.with { fixture in
            let people = try await fixture.people()
            let (alice, bob) = (people[0], people[1])
            let inbox = EventCollector(try await fixture.client.watchInbox(owner: bob.publicKey))
            let token = UInt64(
                bitPattern: try await fixture.scalar(
                    "SELECT token FROM mailroom_owner_tokens(ARRAY[\(bob.publicKey.bytes)])"
                )
            )
            let forged = MailboxNotification(box: .inbox, event: .created, ownerTokens: [token]).payload
            try await fixture.database.withConnection { connection in
                _ = try await connection.query("SET ROLE mailroom_dashboard")
                do {
                    _ = try await connection.query("SELECT pg_notify('mailroom_mailboxes', \(forged))")
                    Issue.record("the dashboard role may not call pg_notify()")
                } catch {
                    #expect((error as? PostgresError)?.sqlState == "42501")
                }
                try await connection.executeScript("NOTIFY mailroom_mailboxes, '\(forged)'")
                try await connection.executeScript(
                    "NOTIFY mailroom_mailboxes, '\(forged):0123456789abcdef0123456789abcdef'"
                )
                _ = try await connection.query("RESET ROLE")
            }
            // The next real message is the first and only event.
            let id = try await fixture.send(from: alice, to: bob.publicKey)
            #expect(try await inbox.wait { $0.ids(.created) == [id] })
            #expect(inbox.received.count == 1)
            #expect(inbox.received.first?.messageIDs == [id])
            await inbox.cancel()
        }
    }

    @Test func catchesUpAfterTheListenSessionIsKilled() async throws {
        try await QueryFixture.with(
            configure: { $0.watchMinimumBackoff = .milliseconds(20) },
            { fixture in
                let people = try await fixture.people()
                let (alice, bob) = (people[0], people[1])
                let inbox = EventCollector(try await fixture.client.watchInbox(owner: bob.publicKey))
                let first = try await fixture.send(from: alice, to: bob.publicKey)
                #expect(try await inbox.wait { $0.ids(.created) == [first] })

                for round in 0..<2 {
                    // Kill the LISTEN session and immediately change the box: the notifications go nowhere.
                    let killedPID = try await fixture.scalar(
                        """
                        SELECT pid FROM pg_stat_activity
                        WHERE datname = current_database() AND application_name = 'mailroom-query-listen'
                        """
                    )
                    #expect(try await fixture.scalar("SELECT pg_terminate_backend(\(killedPID)::int)::int") == 1)
                    let missed = try await fixture.send(from: alice, to: bob.publicKey, body: "while away \(round)")
                    _ = try await fixture.client.readInboxMessage(owner: bob.publicKey, id: first)
                    #expect(
                        try await inbox.wait(within: .seconds(10)) { $0.ids(.created).contains(missed) },
                        "round \(round)"
                    )
                    if round == 0 { #expect(try await inbox.wait { $0.ids(.read) == [first] }) }
                    // And once a new session listens, live events again.
                    #expect(try await Self.listening(fixture, replacing: killedPID), "round \(round)")
                    let after = try await fixture.send(from: alice, to: bob.publicKey, body: "after \(round)")
                    #expect(try await inbox.wait { $0.ids(.created).contains(after) })
                    try await fixture.client.deleteInboxMessage(owner: bob.publicKey, id: after)
                    #expect(try await inbox.wait { $0.ids(.deleted).contains(after) })
                }
                #expect(Set(inbox.ids(.created)).count == inbox.ids(.created).count)
                #expect(inbox.ids(.read) == [first])
                #expect(try await Self.listenSessions(fixture) == 1)
                #expect(inbox.error == nil)
                await inbox.cancel()
            }
        )
    }

    @Test func aThousandWatchersShareOneConnection() async throws {
        try await QueryFixture.with { fixture in
            let people = try await fixture.people(11)
            let sender = people[0]
            let recipients = Array(people.dropFirst())
            // 100 watchers on each of 10 inboxes.
            let collectors = try await withThrowingTaskGroup(of: (Int, EventCollector).self) { group in
                for index in 0..<1000 {
                    group.addTask {
                        (
                            index % 10,
                            EventCollector(try await fixture.client.watchInbox(owner: recipients[index % 10].publicKey))
                        )
                    }
                }
                var all: [(Int, EventCollector)] = []
                for try await item in group { all.append(item) }
                return all
            }
            #expect(fixture.client.hub.watcherCount == 1000)
            #expect(try await Self.listenSessions(fixture) == 1)
            let total = try await fixture.scalar(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            )
            // the pool, the LISTEN session, this one
            #expect(total <= Int64(fixture.client.configuration.poolSize + 2))

            let ids = try await fixture.sendMany(recipients.map { (sender, $0.publicKey, "hi", nil) })
            let deadline = ContinuousClock.now + .seconds(10)
            for (index, collector) in collectors {
                let remaining = max(.zero, deadline - ContinuousClock.now)
                #expect(try await collector.wait(within: remaining) { $0.ids(.created) == [ids[index]] })
            }
            for (_, collector) in collectors { await collector.cancel() }
            #expect(try await Self.eventually { fixture.client.hub.watcherCount == 0 })
        }
    }

    @Test func cancellingTheConsumerEndsTheWatch() async throws {
        try await QueryFixture.with { fixture in
            let people = try await fixture.people()
            let watch = try await fixture.client.watchInbox(owner: people[1].publicKey)
            let consumer = Task {
                var count = 0
                for try await _ in watch { count += 1 }
                return count
            }
            #expect(fixture.client.hub.watcherCount == 1)
            consumer.cancel()
            #expect(try await consumer.value == 0)
            #expect(try await Self.eventually { fixture.client.hub.watcherCount == 0 })
            // Watching a mailbox that does not exist is an error.
            await expectQueryError(.mailboxNotFound) {
                _ = try await fixture.client.watchInbox(owner: Identity.generate().publicKey)
            }
        }
    }

    /// Waits until a LISTEN session other than `killed` has subscribed (notifications reach it from then on).
    static func listening(_ fixture: QueryFixture, replacing killed: Int64) async throws -> Bool {
        let deadline = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < deadline {
            let sessions = try await fixture.scalar(
                """
                SELECT count(*) FROM pg_stat_activity
                WHERE datname = current_database() AND application_name = 'mailroom-query-listen'
                  AND pid <> \(killed)::int AND state = 'idle' AND query LIKE 'LISTEN %'
                """
            )
            if sessions == 1 { return true }
            try await Task.sleep(for: .milliseconds(10))
        }
        return false
    }

    static func eventually(_ condition: () -> Bool) async throws -> Bool {
        for _ in 0..<200 {
            if condition() { return true }
            try await Task.sleep(for: .milliseconds(10))
        }
        return condition()
    }
}

/// The query library over TLS with `sslmode=verify-full` (the dev stack's CA, `MAILROOM_PG_CA`): pooled reads and
/// the LISTEN session both.
@Suite("Query library over verified TLS", .enabled(if: ProcessInfo.processInfo.environment["MAILROOM_PG_CA"] != nil))
struct QueryTLSTests {
    @Test func readsAndWatchesOverVerifiedTLS() async throws {
        let ca = ProcessInfo.processInfo.environment["MAILROOM_PG_CA"] ?? ""
        try await QueryFixture.with { plain in
            let url = plain.database.url + "?sslmode=verify-full&sslrootcert=\(ca)"
            let client = MailroomClient(MailroomClient.Configuration(databaseURL: url, poolSize: 2))
            do {
                let people = try await plain.people()
                let inbox = EventCollector(try await client.watchInbox(owner: people[1].publicKey))
                let id = try await plain.send(from: people[0], to: people[1].publicKey)
                #expect(try await inbox.wait { $0.ids(.created) == [id] })
                #expect(try await client.listInbox(owner: people[1].publicKey).map(\.id) == [id])
                let encrypted = try await plain.scalar(
                    """
                    SELECT count(*) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid)
                    WHERE a.datname = current_database() AND s.ssl AND a.application_name LIKE 'mailroom-query%'
                    """
                )
                #expect(encrypted >= 2)  // a pooled connection and the LISTEN session
                await inbox.cancel()
            } catch {
                await client.shutdown()
                throw error
            }
            await client.shutdown()
        }
    }
}
