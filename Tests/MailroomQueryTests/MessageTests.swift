import Foundation
import MailroomCore
import MailroomPostgres
import MailroomQuery
import MailroomTestSupport
import Testing

@Suite("Reading, deleting and opening one message", .enabled(if: TestEnvironment.hasDatabase))
struct MessageTests {
    @Test func readSetsReadAtOnceAndIsIdempotent() async throws {
        try await QueryFixture.with { fixture in
            let people = try await fixture.people()
            let (alice, bob) = (people[0], people[1])
            let id = try await fixture.send(from: alice, to: bob.publicKey, body: "read me")
            #expect(try await fixture.client.unreadCount(owner: bob.publicKey) == 1)
            let first = try await fixture.client.readInboxMessage(owner: bob.publicKey, id: id)
            let readAt = try #require(first.readAt)
            try await Task.sleep(for: .milliseconds(20))
            let second = try await fixture.client.readInboxMessage(owner: bob.publicKey, id: id)
            #expect(second.readAt == readAt)
            #expect(try await fixture.client.unreadCount(owner: bob.publicKey) == 0)
            #expect(try first.open(with: bob) == Array("read me".utf8))
            // One read event, however often it is read.
            #expect(try await fixture.scalar("SELECT count(*) FROM mailbox_events WHERE event = 'read'") == 1)
        }
    }

    @Test func anotherOwnersMessageCannotBeReadOrDeleted() async throws {
        try await QueryFixture.with { fixture in
            let people = try await fixture.people(3)
            let (alice, bob, mallory) = (people[0], people[1], people[2])
            let id = try await fixture.send(from: alice, to: bob.publicKey, body: "for bob only")
            await expectQueryError(.messageNotFound) {
                _ = try await fixture.client.readInboxMessage(owner: mallory.publicKey, id: id)
            }
            await expectQueryError(.messageNotFound) {
                try await fixture.client.deleteInboxMessage(owner: mallory.publicKey, id: id)
            }
            await expectQueryError(.messageNotFound) {
                try await fixture.client.deleteSentboxMessage(owner: mallory.publicKey, id: id)
            }
            // The recipient's id in the sender's inbox, and the sender's in the recipient's sentbox: not theirs either.
            await expectQueryError(.messageNotFound) {
                try await fixture.client.deleteInboxMessage(owner: alice.publicKey, id: id)
            }
            await expectQueryError(.messageNotFound) {
                try await fixture.client.deleteSentboxMessage(owner: bob.publicKey, id: id)
            }
            // Nothing changed.
            let row = try #require(try await fixture.client.listInbox(owner: bob.publicKey).first)
            #expect(row.id == id)
            #expect(row.readAt == nil)
            #expect(try await fixture.client.listSentbox(owner: alice.publicKey).map(\.id) == [id])
            #expect(try await fixture.scalar("SELECT count(*) FROM mailbox_events") == 0)

            // The owners can; each box independently.
            try await fixture.client.deleteInboxMessage(owner: bob.publicKey, id: id)
            #expect(try await fixture.client.listInbox(owner: bob.publicKey).isEmpty)
            #expect(try await fixture.client.listSentbox(owner: alice.publicKey).count == 1)
            await expectQueryError(.messageNotFound) {
                try await fixture.client.deleteInboxMessage(owner: bob.publicKey, id: id)
            }
            await expectQueryError(.messageNotFound) {
                _ = try await fixture.client.readInboxMessage(owner: bob.publicKey, id: id)
            }
            try await fixture.client.deleteSentboxMessage(owner: alice.publicKey, id: id)
            #expect(try await fixture.client.listSentbox(owner: alice.publicKey).isEmpty)

            let stranger = Identity.generate().publicKey
            await expectQueryError(.mailboxNotFound) {
                _ = try await fixture.client.readInboxMessage(owner: stranger, id: id)
            }
        }
    }

    @Test func openVerifiesAndDecryptsBothCopies() async throws {
        try await QueryFixture.with { fixture in
            let people = try await fixture.people()
            let (alice, bob) = (people[0], people[1])
            try await fixture.send(from: alice, to: bob.publicKey, body: "Hello Bob")
            let inbox = try #require(try await fixture.client.listInbox(owner: bob.publicKey).first)
            #expect(inbox.sender == alice.publicKey)
            #expect(try inbox.open(with: bob) == Array("Hello Bob".utf8))
            let sent = try #require(try await fixture.client.listSentbox(owner: alice.publicKey).first)
            #expect(try sent.open(with: alice) == Array("Hello Bob".utf8))
            #expect(throws: EnvelopeError.self) { try inbox.open(with: alice) }
            do {
                _ = try inbox.open(with: Identity.generate())
                Issue.record("a stranger opened the message")
            } catch let error as EnvelopeError {
                #expect(error.code == .notAParty)
            } catch {
                Issue.record("unexpected \(error)")
            }
        }
    }

    @Test func aTamperedRowIsDetectedByOpen() async throws {
        try await QueryFixture.with { fixture in
            let people = try await fixture.people(3)
            let (alice, bob, carol) = (people[0], people[1], people[2])
            let ids = try await fixture.sendMany((0..<4).map { (alice, bob.publicKey, "original \($0)", nil) })
            let owner = bob.publicKey.bytes
            try await fixture.database.withConnection { connection in
                // A flipped ciphertext byte; a re-attributed sender; a re-dated row; a swapped signature.
                try await connection.query(
                    "UPDATE inbox_messages SET body = set_byte(body, 40, get_byte(body, 40) # 1) WHERE owner = \(owner) AND id = \(ids[0])"
                )
                try await connection.query(
                    "UPDATE inbox_messages SET sender = \(carol.publicKey.bytes) WHERE owner = \(owner) AND id = \(ids[1])"
                )
                try await connection.query(
                    "UPDATE inbox_messages SET created_at = created_at - interval '1 day' WHERE owner = \(owner) AND id = \(ids[2])"
                )
                try await connection.query(
                    """
                    UPDATE inbox_messages SET signature = (SELECT signature FROM inbox_messages WHERE owner = \(owner) AND id = \(ids[0]))
                    WHERE owner = \(owner) AND id = \(ids[3])
                    """
                )
            }
            let page = try await fixture.client.listInbox(owner: bob.publicKey, ascending: true)
            #expect(page.count == 4)
            var reasons: [String] = []
            for message in page {
                do {
                    _ = try message.open(with: bob)
                    Issue.record("tampered row \(message.id) opened")
                } catch let error as EnvelopeError {
                    reasons.append(error.reason)
                    // The error says what is wrong, never what the body is.
                    #expect(!"\(error)".contains("original"))
                } catch {
                    Issue.record("unexpected \(error)")
                }
            }
            #expect(reasons == ["bad_signature", "bad_signature", "invalid_message_id", "bad_signature"])
        }
    }
}
