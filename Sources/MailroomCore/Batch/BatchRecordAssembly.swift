/// Rebuilds batch record values (format v2) from the parts a store keeps: a batch's head, shared payload and
/// recipient list once, and per recipient its leaf index, item and (sometimes) Merkle path.
///
/// Nothing here checks anything: a rebuilt value verifies (``BatchRecipientEnvelope/verify(_:limits:using:verifiedRoots:)``,
/// ``BatchSenderCopy/verify(_:limits:using:verifiedRoots:)``) exactly when the stored parts are those of a valid
/// batch, byte for byte.
public enum BatchRecordAssembly {
    /// Whether a record value is a batch value (format v2) rather than an envelope v1: its first byte is 2.
    public static func isBatchValue(_ value: [UInt8]) -> Bool { value.first == BatchLayout.version }

    /// The recipient count a batch value's header states (unverified); 0 for a value too short to hold it.
    public static func recipientCount(ofValue value: [UInt8]) -> Int {
        guard value.count >= BatchLayout.headerBytes else { return 0 }
        return Int(value.bigEndianUInt32(at: BatchLayout.recipientCountOffset))
    }

    /// Whether a head (or a value starting with one) is a shared batch's.
    public static func isShared(head: [UInt8]) -> Bool {
        head.count > BatchLayout.kindOffset && head[BatchLayout.kindOffset] == BatchHeader.Kind.shared.rawValue
    }

    /// Whether a batch value is a sender's copy (part 2) rather than a recipient's record (part 1).
    public static func isSenderCopy(_ value: [UInt8]) -> Bool {
        value.count > BatchLayout.partOffset && value[BatchLayout.partOffset] == BatchLayout.senderPart
    }

    /// A recipient's record value: head | 1 | index | recipient | message id | created_at | item | path | payload,
    /// created_at being the head's.
    /// - Parameters:
    ///   - path: the sibling hashes from the leaf up, concatenated (32 bytes each).
    ///   - payload: the shared payload; empty in a personalised batch.
    public static func recipientValue(
        head: [UInt8],
        index: Int,
        recipient: [UInt8],
        messageID: MessageID,
        item: [UInt8],
        path: [UInt8],
        payload: [UInt8]
    ) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(BatchLayout.itemOffset + item.count + 1 + path.count + 4 + payload.count)
        out += head
        out.append(BatchLayout.recipientPart)
        out.appendBigEndian(UInt32(index))
        out += recipient
        out += messageID.bytes
        // The message's time is the batch's (the verifier insists).
        out += head[BatchLayout.createdAtOffset..<BatchLayout.createdAtOffset + 8]
        out.appendBigEndian(UInt32(item.count))
        out += item
        out.append(UInt8(truncatingIfNeeded: path.count / 32))
        out += path
        out.appendBigEndian(UInt32(payload.count))
        out += payload
        return out
    }

    /// The sender's copy value: head | 2 | body length | body | recipient list.
    public static func senderCopyValue(head: [UInt8], body: [UInt8], recipients: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(head.count + 5 + body.count + recipients.count)
        out += head
        out.append(BatchLayout.senderPart)
        out.appendBigEndian(UInt32(body.count))
        out += body
        out += recipients
        return out
    }

    /// A batch's Merkle tree, rebuilt from its head and its sender copy's recipient list (every leaf is in them).
    public struct Tree: Sendable {
        let tree: BatchMerkleTree

        /// Nil when the list's length does not match the header's recipient count, or the rebuilt root is not the
        /// head's.
        public init?(head: [UInt8], recipients list: [UInt8]) {
            typealias L = BatchLayout
            guard head.count == L.headBytes, head[0] == L.version else { return nil }
            let count = Int(head.bigEndianUInt32(at: L.recipientCountOffset))
            guard count > 0, list.count == count * L.recipientListEntryBytes else { return nil }
            let batchID = head.withUnsafeBytes { MessageID(copying: $0.baseAddress! + L.batchIDOffset) }
            let createdAt = Int64(bitPattern: head.bigEndianUInt64(at: L.createdAtOffset))
            let payloadHash = Bytes32(head[L.payloadHashOffset..<L.payloadHashOffset + 32])!
            var hashes: [Bytes32] = []
            hashes.reserveCapacity(count)
            for i in 0..<count {
                let at = i * L.recipientListEntryBytes
                let leaf = L.leaf(
                    batchID: batchID,
                    index: i,
                    recipient: Bytes32(list[at..<at + 32])!,
                    messageID: list.withUnsafeBytes { MessageID(copying: $0.baseAddress! + at + 32) },
                    createdAt: createdAt,
                    itemHash: Bytes32(list[at + 48..<at + 80])!,
                    payloadHash: payloadHash
                )
                hashes.append(L.leafHash(leaf))
            }
            tree = BatchMerkleTree(leafHashes: hashes)
            guard tree.root.bytes == Array(head[L.rootOffset..<L.rootOffset + 32]) else { return nil }
        }

        /// Leaves in the tree.
        public var count: Int { tree.levels[0].count }

        /// Leaf `index`'s Merkle path, concatenated; nil for an index out of range.
        public func path(for index: Int) -> [UInt8]? {
            guard index >= 0, index < count else { return nil }
            return tree.path(for: index).flatMap(\.bytes)
        }
    }
}

extension BatchSenderCopy {
    /// The head every record of the batch shares: header, root and signature (254 bytes).
    public var head: [UInt8] { Array(storage[0..<BatchLayout.headBytes]) }

    /// The recipient list as stored: 80 bytes per recipient (key, message id, item hash), in leaf order.
    public var recipientListBytes: [UInt8] { Array(storage[senderCiphertextRange.upperBound...]) }
}

extension BatchRecipientEnvelope {
    /// The Merkle path's sibling hashes, concatenated.
    public var pathBytes: [UInt8] { Array(storage[pathRange]) }
}

extension BatchRecipientEnvelope: Hashable {
    public func hash(into hasher: inout Hasher) { hasher.combine(storage) }
}

extension BatchSenderCopy: Hashable {
    public func hash(into hasher: inout Hasher) { hasher.combine(storage) }
}
