/// Byte layout of batch envelopes (format v2): the header, the signed message, leaves, the Merkle tree and the
/// two record values (docs/ENVELOPE.md, "Batch envelopes (format v2)").
///
///     header: version u8 = 2 | kind u8 | batch_id 16 | sender 32 | created_at i64 BE | recipient_count u32 BE
///             | ephemeral_public 32 | payload_hash 32 | sender_copy_hash 32                       (158 bytes)
///     head:   header 158 | root 32 | signature 64                                                (254 bytes)
///     leaf:   batch_id 16 | index u32 | recipient 32 | message_id 16 | created_at i64 | item_hash 32
///             | payload_hash 32                                                                  (140 bytes)
enum BatchLayout {
    static let version: UInt8 = 2

    // Header offsets.
    static let kindOffset = 1
    static let batchIDOffset = 2
    static let senderOffset = 18
    static let createdAtOffset = 50
    static let recipientCountOffset = 58
    static let ephemeralPublicOffset = 62
    static let payloadHashOffset = 94
    static let senderCopyHashOffset = 126
    static let headerBytes = 158

    static let rootOffset = headerBytes
    static let signatureOffset = headerBytes + 32
    static let signatureBytes = 64
    /// header, root and signature: the part every record of a batch shares.
    static let headBytes = headerBytes + 32 + signatureBytes
    /// The byte after the head: which part of the batch the value carries.
    static let partOffset = headBytes

    /// Part type of a recipient's record value.
    static let recipientPart: UInt8 = 1
    /// Part type of the sender's copy (the sentbox entry).
    static let senderPart: UInt8 = 2

    /// The format's largest batch: 10,000 recipients (docs/ENVELOPE.md explains the choice).
    static let maxRecipients = 10_000

    /// Domain separation of the signature: `mailroom/batch/v2` and a NUL (18 bytes).
    static let signatureDomain: [UInt8] = Array("mailroom/batch/v2".utf8) + [0]
    /// domain(18) || header(158) || root(32).
    static let signedMessageBytes = 18 + headerBytes + 32

    /// RFC 6962 / RFC 9162 hash prefixes: a leaf hash is H(0x00 || leaf), an interior node H(0x01 || left || right).
    static let leafPrefix: UInt8 = 0x00
    static let nodePrefix: UInt8 = 0x01
    static let leafBytes = 140

    /// Bytes of one entry of the sender copy's recipients list: recipient 32 | message_id 16 | item_hash 32.
    static let recipientListEntryBytes = 80

    // Recipient part, offsets from the start of the value.
    static let indexOffset = partOffset + 1
    static let recipientOffset = indexOffset + 4
    static let messageIDOffset = recipientOffset + 32
    static let messageCreatedAtOffset = messageIDOffset + 16
    static let itemLengthOffset = messageCreatedAtOffset + 8
    /// Where the item starts: everything before it is fixed (319 bytes).
    static let itemOffset = itemLengthOffset + 4

    // Sender part.
    static let senderCopyLengthOffset = partOffset + 1
    static let senderCopyOffset = senderCopyLengthOffset + 4

    /// The nonce that wraps the content key for recipient `index`: batch_id(16) || index u32 BE || 4 zero bytes.
    static func wrapNonce(batchID: MessageID, index: Int) -> [UInt8] {
        var nonce = batchID.bytes
        nonce.appendBigEndian(UInt32(index))
        nonce += [0, 0, 0, 0]
        return nonce
    }

    /// The 140 leaf bytes.
    static func leaf(
        batchID: MessageID,
        index: Int,
        recipient: Bytes32,
        messageID: MessageID,
        createdAt: Int64,
        itemHash: Bytes32,
        payloadHash: Bytes32
    ) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(leafBytes)
        out += batchID.bytes
        out.appendBigEndian(UInt32(index))
        out += recipient.bytes
        out += messageID.bytes
        out.appendBigEndian(UInt64(bitPattern: createdAt))
        out += itemHash.bytes
        out += payloadHash.bytes
        return out
    }

    /// BLAKE2b-256(0x00 || leaf).
    static func leafHash(_ leaf: [UInt8]) -> Bytes32 {
        SodiumHash.blake2b256([leafPrefix] + leaf)
    }

    /// BLAKE2b-256(0x01 || left || right).
    static func nodeHash(_ left: Bytes32, _ right: Bytes32) -> Bytes32 {
        withUnsafeTemporaryAllocation(byteCount: 65, alignment: 1) { buffer in
            buffer.storeBytes(of: nodePrefix, toByteOffset: 0, as: UInt8.self)
            buffer.storeBytes(of: left, toByteOffset: 1, as: Bytes32.self)
            buffer.storeBytes(of: right, toByteOffset: 33, as: Bytes32.self)
            return SodiumHash.blake2b256(UnsafeRawBufferPointer(buffer))
        }
    }

    /// The signed message: domain || header || root.
    static func signedMessage(header: ArraySlice<UInt8>, root: Bytes32) -> [UInt8] {
        precondition(header.count == headerBytes)
        return signatureDomain + header + root.bytes
    }
}

/// The Merkle tree of RFC 9162 §2.1.1 (`MTH`): for n > 1 leaves, k is the largest power of two below n and the
/// root is H(0x01 || MTH(first k) || MTH(the rest)). Built bottom-up, where an unpaired last node moves up a level
/// unchanged, which gives the same tree.
struct BatchMerkleTree {
    /// levels[0] are the leaf hashes; the last level holds the root alone.
    let levels: [[Bytes32]]

    init(leafHashes: [Bytes32]) {
        precondition(!leafHashes.isEmpty)
        var levels = [leafHashes]
        while levels[levels.count - 1].count > 1 {
            let below = levels[levels.count - 1]
            var above: [Bytes32] = []
            above.reserveCapacity((below.count + 1) / 2)
            var i = 0
            while i + 1 < below.count {
                above.append(BatchLayout.nodeHash(below[i], below[i + 1]))
                i += 2
            }
            if i < below.count { above.append(below[i]) }
            levels.append(above)
        }
        self.levels = levels
    }

    var root: Bytes32 { levels[levels.count - 1][0] }

    /// RFC 9162's `PATH(index, D[n])`: the siblings from the leaf up, skipping levels where the node is unpaired.
    func path(for index: Int) -> [Bytes32] {
        precondition(index >= 0 && index < levels[0].count)
        var path: [Bytes32] = []
        var i = index
        for level in levels.dropLast() {
            let sibling = i ^ 1
            if sibling < level.count { path.append(level[sibling]) }
            i >>= 1
        }
        return path
    }

    /// RFC 9162 §2.1.3.2: the root an inclusion path leads to from `leafHash` at `index` in a tree of `size`
    /// leaves, or nil when the path cannot belong to that position (index out of range, a sibling too many or too
    /// few). Hashes only: interior nodes with `nodeHash` (a memo of ``BatchLayout/nodeHash(_:_:)`` or itself).
    static func root(
        leafHash: Bytes32,
        index: Int,
        size: Int,
        path: [Bytes32],
        nodeHash: (Bytes32, Bytes32) -> Bytes32 = BatchLayout.nodeHash
    ) -> Bytes32? {
        guard index >= 0, index < size else { return nil }
        var fn = index
        var sn = size - 1
        var r = leafHash
        for p in path {
            guard sn != 0 else { return nil }
            if fn & 1 == 1 || fn == sn {
                r = nodeHash(p, r)
                if fn & 1 == 0 {
                    while fn & 1 == 0 && fn != 0 {
                        fn >>= 1
                        sn >>= 1
                    }
                }
            } else {
                r = nodeHash(r, p)
            }
            fn >>= 1
            sn >>= 1
        }
        return sn == 0 ? r : nil
    }
}
