import Foundation
import MailroomCore
import MailroomPostgres
import Synchronization

/// Rebuilds the record values of batch recipients' rows (envelope format v2) from their batches: the head and
/// shared payload stored once per batch, and the Merkle path from the batch's recipient list or, while that is not
/// stored, from `message_batch_paths`.
enum BatchReads {
    /// Sets ``InboxRow/batchValue`` of every batch recipient's row in `rows` (the owner's). A row whose batch
    /// parts are missing keeps a nil value: the page, read in several statements, may have raced a write (the
    /// sender's copy arriving, which moves the waiting paths into the list) or the delete of the last copy; the
    /// caller reads the page again (``InboxQueries``), and a row still unresolved is reported as corrupt.
    /// Trees rebuilt lately, by head: a head's root fixes the tree (the list is checked against it), and hashing a
    /// batch's leaves costs about 0.5 µs per recipient, so inbox pages of one batch's recipients rebuild it once.
    private static let trees = Mutex<[[UInt8]: BatchRecordAssembly.Tree]>([:])
    private static let treesKept = 64

    private static func tree(_ head: [UInt8], _ list: [UInt8]) -> BatchRecordAssembly.Tree? {
        if let tree = trees.withLock({ $0[head] }) { return tree }
        guard let tree = BatchRecordAssembly.Tree(head: head, recipients: list) else { return nil }
        trees.withLock { trees in
            if trees.count >= treesKept { trees.removeAll(keepingCapacity: true) }
            trees[head] = tree
        }
        return tree
    }

    static func rebuild(_ rows: inout [InboxRow], owner: [UInt8], on connection: PostgresConnection) async throws {
        struct Key: Hashable {
            var sender: [UInt8]
            var batchID: UUID
        }
        let keys = Array(
            Set(rows.compactMap { row in row.batchPlace.map { Key(sender: row.sender, batchID: $0.batchID) } })
        )
        let found = try await connection.query(
            """
            SELECT b.sender, b.batch_id, b.head, b.payload, b.recipients
            FROM unnest(\(PostgresArray(keys.map(\.sender))), \(PostgresArray(keys.map(\.batchID)))) AS k(sender, batch_id)
            JOIN message_batches b ON b.sender = k.sender AND b.batch_id = k.batch_id
            """
        )
        var parts: [Key: (head: [UInt8], payload: [UInt8]?, tree: BatchRecordAssembly.Tree?)] = [:]
        for row in found {
            let key = Key(
                sender: try row.decode([UInt8].self, column: 0),
                batchID: try row.decode(UUID.self, column: 1)
            )
            let head = try row.decode([UInt8].self, column: 2)
            let list = try row.decode([UInt8]?.self, column: 4)
            parts[key] = (head, try row.decode([UInt8]?.self, column: 3), list.flatMap { tree(head, $0) })
        }
        // Rows whose batch's recipient list is not stored (yet): their paths wait in message_batch_paths.
        let waiting = rows.indices.filter { i in
            rows[i].batchPlace.map { parts[Key(sender: rows[i].sender, batchID: $0.batchID)]?.tree == nil } ?? false
        }
        var paths: [Int: [UInt8]] = [:]
        if !waiting.isEmpty {
            let found = try await connection.query(
                """
                SELECT w.ord - 1, p.path
                FROM unnest(\(PostgresArray(waiting.map { rows[$0].sender })),
                            \(PostgresArray(waiting.map { rows[$0].batchPlace!.batchID })),
                            \(PostgresArray(waiting.map { rows[$0].batchPlace!.index })))
                     WITH ORDINALITY AS w(sender, batch_id, batch_index, ord)
                JOIN message_batch_paths p
                  ON p.sender = w.sender AND p.batch_id = w.batch_id AND p.batch_index = w.batch_index
                """
            )
            for row in found {
                paths[waiting[Int(try row.decode(Int64.self, column: 0))]] = try row.decode([UInt8].self, column: 1)
            }
        }
        for i in rows.indices {
            guard let place = rows[i].batchPlace,
                let batch = parts[Key(sender: rows[i].sender, batchID: place.batchID)],
                let path = paths[i] ?? batch.tree?.path(for: Int(place.index)),
                // A shared batch's payload is there while any inbox copy is (one read racing the delete of the
                // last copy finds it gone: the row is left unresolved, and the caller reads again).
                batch.payload != nil || !BatchRecordAssembly.isShared(head: batch.head)
            else { continue }
            rows[i].batchValue = BatchRecordAssembly.recipientValue(
                head: batch.head,
                index: Int(place.index),
                recipient: owner,
                messageID: rows[i].id,
                item: rows[i].body,
                path: path,
                payload: batch.payload ?? []
            )
        }
    }
}
