import Foundation
import MailroomCore
import MailroomQuery
import MailroomStore
import MailroomTestSupport
import Testing

@Suite("Inbox and sentbox pages against the real PostgreSQL", .enabled(if: TestEnvironment.hasDatabase))
struct PaginationTests {
    /// Walks a whole box page by page with the cursor.
    static func walk(
        _ client: MailroomClient,
        owner: PublicKey,
        ascending: Bool,
        limit: Int,
        status: InboxStatus = .all
    ) async throws -> [MessageID] {
        var ids: [MessageID] = []
        var seek: MessageID?
        while true {
            let page = try await client.listInbox(
                owner: owner,
                seek: seek,
                limit: limit,
                ascending: ascending,
                status: status
            )
            if page.isEmpty { break }
            #expect(page.count <= limit)
            ids += page.map(\.id)
            seek = page.last?.id
        }
        return ids
    }

    @Test func bothDirectionsAcrossManyPagesWhileTheWorkerInserts() async throws {
        try await QueryFixture.with { fixture in
            let people = try await fixture.people(3)
            let bob = people[0]
            // 300 messages from two senders, in 6 batches.
            var existing: [MessageID] = []
            for batch in 0..<6 {
                existing += try await fixture.sendMany(
                    (0..<50).map { index in (people[1 + (batch + index) % 2], bob.publicKey, "m\(batch)-\(index)", nil)
                    }
                )
            }
            // Meanwhile another writer keeps adding messages, with new ids and with ids older than all of them.
            let writer = Task {
                for round in 0..<20 {
                    let old = try MessageID(milliseconds: existing[0].milliseconds - 10_000 - Int64(round))
                    try await fixture.sendMany([
                        (people[1], bob.publicKey, "new \(round)", nil),
                        (people[2], bob.publicKey, "old \(round)", old),
                    ])
                    try await Task.sleep(for: .milliseconds(3))
                }
            }
            let descending = try await Self.walk(fixture.client, owner: bob.publicKey, ascending: false, limit: 17)
            let ascending = try await Self.walk(fixture.client, owner: bob.publicKey, ascending: true, limit: 23)
            try await writer.value

            for (walked, order) in [(descending, "descending"), (ascending, "ascending")] {
                #expect(Set(walked).count == walked.count, "duplicates walking \(order)")
                #expect(Set(existing).isSubset(of: Set(walked)), "gaps walking \(order)")
            }
            #expect(descending == descending.sorted(by: >))
            #expect(ascending == ascending.sorted())
            // Pages are exact keyset ranges: the concatenation equals the box as one big listing.
            let everything = try await fixture.client.listInbox(owner: bob.publicKey, limit: 10_000, ascending: true)
            #expect(everything.count == 340)
            #expect(Set(ascending).isSubset(of: Set(everything.map(\.id))))
        }
    }

    @Test func theCursorIsExclusiveAndLimitsAreChecked() async throws {
        try await QueryFixture.with { fixture in
            let people = try await fixture.people()
            let (alice, bob) = (people[0], people[1])
            let ids = try await fixture.sendMany((0..<150).map { (alice, bob.publicKey, "m\($0)", nil) })
            let first = try await fixture.client.listInbox(owner: bob.publicKey)
            #expect(first.count == 100)  // the default page
            #expect(first.first?.id == ids.last)  // newest first
            let second = try await fixture.client.listInbox(owner: bob.publicKey, seek: first.last!.id)
            #expect(second.count == 50)
            #expect(!second.contains { $0.id == first.last!.id })
            let oldest = try await fixture.client.listInbox(
                owner: bob.publicKey,
                seek: ids[0],
                limit: 1000,
                ascending: true
            )
            #expect(oldest.count == 149)
            #expect(oldest.first?.id == ids[1])

            await expectQueryError(.invalidLimit) {
                _ = try await fixture.client.listInbox(owner: bob.publicKey, limit: 10_001)
            }
            await expectQueryError(.invalidLimit) {
                _ = try await fixture.client.listInbox(owner: bob.publicKey, limit: 0)
            }
            await expectQueryError(.invalidLimit) {
                _ = try await fixture.client.listSentbox(owner: alice.publicKey, limit: 20_000)
            }
            #expect(try await fixture.client.listInbox(owner: bob.publicKey, limit: 10_000).count == 150)

            let sent = try await fixture.client.listSentbox(owner: alice.publicKey, limit: 60, ascending: true)
            #expect(sent.map(\.id) == Array(ids.prefix(60)))
            #expect(sent.allSatisfy { $0.recipient == bob.publicKey && $0.sender == alice.publicKey })
            let rest = try await fixture.client.listSentbox(
                owner: alice.publicKey,
                seek: sent.last!.id,
                limit: 1000,
                ascending: true
            )
            #expect(rest.map(\.id) == Array(ids.dropFirst(60)))
        }
    }

    @Test func statusFilters() async throws {
        try await QueryFixture.with { fixture in
            let people = try await fixture.people()
            let (alice, bob) = (people[0], people[1])
            let ids = try await fixture.sendMany((0..<30).map { (alice, bob.publicKey, "m\($0)", nil) })
            let readIDs = Set(ids.enumerated().filter { $0.offset % 3 == 0 }.map(\.element))
            for id in readIDs { _ = try await fixture.client.readInboxMessage(owner: bob.publicKey, id: id) }

            let read = try await PaginationTests.walk(
                fixture.client,
                owner: bob.publicKey,
                ascending: true,
                limit: 4,
                status: .read
            )
            let unread = try await PaginationTests.walk(
                fixture.client,
                owner: bob.publicKey,
                ascending: false,
                limit: 4,
                status: .unread
            )
            #expect(Set(read) == readIDs)
            #expect(read == read.sorted())
            #expect(Set(unread) == Set(ids).subtracting(readIDs))
            #expect(unread == unread.sorted(by: >))
            let all = try await fixture.client.listInbox(owner: bob.publicKey, status: .all)
            #expect(all.count == 30)
            #expect(all.filter(\.isRead).count == readIDs.count)
            #expect(try await fixture.client.unreadCount(owner: bob.publicKey) == 20)
        }
    }

    @Test func listingAMailboxThatDoesNotExistIsAnError() async throws {
        try await QueryFixture.with { fixture in
            let stranger = Identity.generate().publicKey
            await expectQueryError(.mailboxNotFound) { _ = try await fixture.client.listInbox(owner: stranger) }
            await expectQueryError(.mailboxNotFound) { _ = try await fixture.client.listSentbox(owner: stranger) }
            await expectQueryError(.mailboxNotFound) { _ = try await fixture.client.unreadCount(owner: stranger) }
            await expectQueryError(.mailboxNotFound) { _ = try await fixture.client.mailbox(stranger) }
            #expect(try await fixture.client.mailboxExists(stranger) == false)
            // An empty but existing mailbox lists as empty.
            let first = try await fixture.client.setupMailbox(stranger)
            let again = try await fixture.client.setupMailbox(stranger)
            #expect(first == again)
            #expect(try await fixture.client.listInbox(owner: stranger).isEmpty)
            #expect(try await fixture.client.unreadCount(owner: stranger) == 0)
            #expect(try await fixture.client.mailbox(stranger).createdAt == first.createdAt)
        }
    }
}
