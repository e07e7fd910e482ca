import Foundation
import MailroomCore
import MailroomPostgres
import MailroomStore
import MailroomTestSupport
import Synchronization
import Testing

@testable import MailroomQuery

/// A migrated throw-away database, a client on it, and a way to store real sealed messages as the worker does.
struct QueryFixture: Sendable {
    let database: TestDatabase
    let client: MailroomClient

    static func with<T: Sendable>(
        configure: (inout MailroomClient.Configuration) -> Void = { _ in },
        _ body: (QueryFixture) async throws -> T
    ) async throws -> T {
        try await TestDatabase.with { database in
            let migrations = try Migration.load(from: TestEnvironment.packageRoot.appendingPathComponent("Migrations"))
            try await database.withConnection { _ = try await Migrator().migrate(migrations, on: $0) }
            var configuration = MailroomClient.Configuration(databaseURL: database.url, poolSize: 4)
            configure(&configuration)
            let client = MailroomClient(configuration)
            do {
                let value = try await body(QueryFixture(database: database, client: client))
                await client.shutdown()
                return value
            } catch {
                await client.shutdown()
                throw error
            }
        }
    }

    /// Two identities with mailboxes.
    func people(_ count: Int = 2) async throws -> [Identity] {
        var identities: [Identity] = []
        for _ in 0..<count {
            let identity = Identity.generate()
            _ = try await client.setupMailbox(identity.publicKey)
            identities.append(identity)
        }
        return identities
    }

    /// Seals `body` from `sender` to `recipient` and stores both rows through the worker's write path.
    @discardableResult
    func send(
        from sender: Identity,
        to recipient: PublicKey,
        body: String = "hello",
        id: MessageID? = nil
    ) async throws -> MessageID {
        try await sendMany([(sender, recipient, body, id)]).first!
    }

    /// Stores several messages in one batch (one transaction, one NOTIFY per box), as one worker batch does.
    @discardableResult
    func sendMany(_ messages: [(Identity, PublicKey, String, MessageID?)]) async throws -> [MessageID] {
        var rows: [NewMessage] = []
        for (offset, (sender, recipient, body, id)) in messages.enumerated() {
            let envelope = try Envelope.seal(from: sender, to: recipient, body: Array(body.utf8), id: id)
            rows.append(
                NewMessage(
                    id: envelope.id.uuid,
                    sender: envelope.sender.bytes,
                    recipient: envelope.recipient.bytes,
                    createdAt: envelope.createdAt,
                    inboxBody: envelope.recipientCiphertext,
                    sentboxBodyHash: envelope.senderCiphertextHash,
                    sentboxBody: envelope.senderCiphertext,
                    inboxBodyHash: envelope.recipientCiphertextHash,
                    signature: envelope.signature,
                    source: RecordSource(topic: "tests", partition: 0, offset: Int64(offset))
                )
            )
        }
        try await database.withConnection { connection in
            _ = try await MessageWriter().write(rows, rejections: [], worker: "tests", on: connection)
        }
        return rows.map { try! MessageID(bytes: withUnsafeBytes(of: $0.id.uuid) { Array($0) }) }
    }

    func scalar(_ sql: PostgresQuery) async throws -> Int64 {
        try await database.withConnection { try await $0.query(sql).single().decode(Int64.self, column: 0) }
    }
}

extension MessageID {
    var uuid: UUID {
        let b = bytes
        return UUID(
            uuid: (b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15])
        )
    }
}

/// Consumes a watch in a task of its own and keeps what arrives, so a test can wait for an event with a deadline.
final class EventCollector: Sendable {
    private final class Storage: Sendable {
        let events = Mutex<[MailboxEvent]>([])
        let ended = Mutex<(any Error)?>(nil)
    }

    private let storage = Storage()
    private let task: Task<Void, Never>

    init(_ watch: MailboxWatch) {
        let storage = self.storage
        task = Task {
            do {
                for try await event in watch { storage.events.withLock { $0.append(event) } }
            } catch {
                storage.ended.withLock { $0 = error }
            }
        }
    }

    var received: [MailboxEvent] { storage.events.withLock { $0 } }
    var error: (any Error)? { storage.ended.withLock { $0 } }

    /// The ids reported for `kind` so far, in order.
    func ids(_ kind: MailboxEvent.Kind) -> [MessageID] {
        received.filter { $0.kind == kind }.flatMap(\.messageIDs)
    }

    /// Waits until `condition` holds for what arrived, at most `timeout`; returns whether it did.
    func wait(within timeout: Duration = .seconds(10), until condition: (EventCollector) -> Bool) async throws -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if condition(self) { return true }
            try await Task.sleep(for: .milliseconds(5))
        }
        return condition(self)
    }

    func cancel() async {
        task.cancel()
        await task.value
    }
}

func expectQueryError(
    _ code: MailroomQueryError.Code,
    _ body: () async throws -> Void,
    sourceLocation: SourceLocation = #_sourceLocation
) async {
    do {
        try await body()
        Issue.record("expected \(code), got no error", sourceLocation: sourceLocation)
    } catch let error as MailroomQueryError {
        #expect(error.code == code, sourceLocation: sourceLocation)
    } catch {
        Issue.record("expected \(code), got \(error)", sourceLocation: sourceLocation)
    }
}
