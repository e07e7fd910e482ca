import Foundation
import MailroomCore
import MailroomPostgres
import Synchronization

/// Rebuilds the record values of batch recipients' rows (envelope format v2) from their batches: the head and
/// shared payload stored once per batch, and the Merkle path from the row or, when the row has none, from the
/// batch's recipient list.
enum BatchReads {
    /// Sets ``InboxRow/batchValue`` of every batch recipient's row in `rows` (the owner's). A row whose batch
    /// parts are missing keeps a nil value (the query library reports it as a corrupt row).
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
        var needsList: [Key: Bool] = [:]
        for row in rows {
            guard let place = row.batchPlace else { continue }
            let key = Key(sender: row.sender, batchID: place.batchID)
            needsList[key] = (needsList[key] ?? false) || place.path == nil
        }
        let keys = Array(needsList.keys)
        let found = try await connection.query(
            """
            SELECT b.sender, b.batch_id, b.head, b.payload, CASE WHEN k.need THEN b.recipients END
            FROM unnest(\(PostgresArray(keys.map(\.sender))), \(PostgresArray(keys.map(\.batchID))),
                        \(PostgresArray(keys.map { needsList[$0]! }))) AS k(sender, batch_id, need)
            JOIN message_batches b ON b.sender = k.sender AND b.batch_id = k.batch_id
            """
        )
        var parts: [Key: (head: [UInt8], payload: [UInt8], tree: BatchRecordAssembly.Tree?)] = [:]
        for row in found {
            let key = Key(
                sender: try row.decode([UInt8].self, column: 0),
                batchID: try row.decode(UUID.self, column: 1)
            )
            let head = try row.decode([UInt8].self, column: 2)
            let list = try row.decode([UInt8]?.self, column: 4)
            parts[key] = (head, try row.decode([UInt8]?.self, column: 3) ?? [], list.flatMap { tree(head, $0) })
        }
        for i in rows.indices {
            guard let place = rows[i].batchPlace,
                let batch = parts[Key(sender: rows[i].sender, batchID: place.batchID)],
                let path = place.path ?? batch.tree?.path(for: Int(place.index))
            else { continue }
            rows[i].batchValue = BatchRecordAssembly.recipientValue(
                head: batch.head,
                index: Int(place.index),
                recipient: owner,
                messageID: rows[i].id,
                item: rows[i].body,
                path: path,
                payload: batch.payload
            )
        }
    }
}
