public import MailroomEd25519

/// The sender's copy of a batch (format v2): the sentbox entry, one per batch.
///
/// It carries the batch's head (header, root, signature), the body sealed to the sender once, and the list of
/// recipients (per leaf: recipient key, message id, hash of the recipient's item), from which a reader rebuilds
/// every leaf and the root. A value exists only when sealed here (``BatchEnvelope/senderCopy``) or verified
/// (``verify(_:limits:using:verifiedRoots:)``). Layout: docs/ENVELOPE.md, "The sender's copy".
public struct BatchSenderCopy: Sendable, Equatable {
    /// One recipient of the batch, as the sender's copy lists it.
    public struct Recipient: Sendable, Hashable {
        /// The recipient's key.
        public let key: PublicKey
        /// The message id in the recipient's inbox.
        public let messageID: MessageID
        /// BLAKE2b-256 of the recipient's item (wrapped key or sealed body), 32 bytes.
        public let itemHash: [UInt8]
    }

    let storage: [UInt8]
    /// The batch's signed header.
    public let header: BatchHeader

    /// The serialized value. No copy is made.
    public func serialized() -> [UInt8] { storage }

    /// The batch's Merkle root (32 bytes).
    public var root: [UInt8] { Array(storage[BatchLayout.rootOffset..<BatchLayout.rootOffset + 32]) }

    /// The batch signature (64 bytes).
    public var signature: [UInt8] {
        Array(storage[BatchLayout.signatureOffset..<BatchLayout.signatureOffset + BatchLayout.signatureBytes])
    }

    var senderCiphertextRange: Range<Int> {
        let count = Int(storage.bigEndianUInt32(at: BatchLayout.senderCopyLengthOffset))
        return BatchLayout.senderCopyOffset..<BatchLayout.senderCopyOffset + count
    }

    /// The body sealed to the sender (Textile layout, as in envelope v1).
    public var senderCiphertext: [UInt8] { Array(storage[senderCiphertextRange]) }

    /// The recipients, in leaf order.
    public var recipients: [Recipient] {
        let start = senderCiphertextRange.upperBound
        return (0..<header.recipientCount).map { i in
            let at = start + BatchLayout.recipientListEntryBytes * i
            return Recipient(
                key: PublicKey(validated: Bytes32(storage[at..<at + 32])!),
                messageID: storage.withUnsafeBytes { MessageID(copying: $0.baseAddress! + at + 32) },
                itemHash: Array(storage[at + 48..<at + 80])
            )
        }
    }

    /// Two copies are equal when their bytes are.
    public static func == (lhs: BatchSenderCopy, rhs: BatchSenderCopy) -> Bool { lhs.storage == rhs.storage }

    /// Parses a sender's copy strictly and verifies it alone.
    ///
    /// Checks, first failure reported (docs/ENVELOPE.md, "Verifying a sender's copy"): the head, the copy's length
    /// and the list's, every listed id's time, the sender key and every recipient key, the copy against the
    /// header's hash, the root rebuilt from the list, then the signature (skipped when `verifiedRoots` remembers
    /// these exact head bytes).
    ///
    /// - Parameter listedKeysVouchedFor: skips checking that every listed recipient key is a valid point (step 11's
    ///   second half), for a caller to whom the list is data only: Mailroom's worker stores it for the sentbox and
    ///   to rebuild paths, and checks each recipient's own record (and mailbox) when it comes. The check costs a
    ///   scalar multiplication per key not seen lately: tens of milliseconds for a batch of 1,000 new users.
    /// - Throws: ``EnvelopeError`` with one of ``EnvelopeError/Code/batchVerificationCodes``.
    public static func verify(
        _ bytes: [UInt8],
        limits: BatchLimits = BatchLimits(),
        using verifier: Ed25519Verifier = .libsodiumOnly,
        verifiedRoots: BatchSignatureCache? = nil,
        listedKeysVouchedFor: Bool = false
    ) throws(EnvelopeError) -> BatchSenderCopy {
        typealias L = BatchLayout
        let b = bytes
        let head = try BatchParsing.head(b, limits: limits, part: L.senderPart)
        guard b.count >= L.senderCopyOffset else {
            throw EnvelopeError(.truncated, "\(b.count) bytes; a sender copy's fixed fields take \(L.senderCopyOffset)")
        }
        let copyCount = Int(b.bigEndianUInt32(at: L.senderCopyLengthOffset))
        try BatchParsing.checkSealedLength(copyCount, limits: limits, which: "sender")
        let listCount = L.recipientListEntryBytes * head.recipientCount
        guard b.count - L.senderCopyOffset >= copyCount + listCount else {
            throw EnvelopeError(.truncated, "the sender copy and a list of \(head.recipientCount) run past the end")
        }
        guard b.count - L.senderCopyOffset == copyCount + listCount else {
            throw EnvelopeError(
                .trailingBytes,
                "\(b.count - L.senderCopyOffset - copyCount - listCount) bytes follow the recipients list"
            )
        }
        let listStart = L.senderCopyOffset + copyCount
        var listed: [(key: Bytes32, id: MessageID, itemHash: Bytes32)] = []
        listed.reserveCapacity(head.recipientCount)
        for i in 0..<head.recipientCount {
            let at = listStart + L.recipientListEntryBytes * i
            let id = b.withUnsafeBytes { MessageID(copying: $0.baseAddress! + at + 32) }
            guard id.milliseconds == head.createdAt else {
                throw EnvelopeError(
                    .invalidMessageID,
                    "recipient \(i)'s message id time \(id.milliseconds) differs from the batch's \(head.createdAt)"
                )
            }
            listed.append((Bytes32(b[at..<at + 32])!, id, Bytes32(b[at + 48..<at + 80])!))
        }
        guard KeyCache.isValidPoint(head.sender) else {
            throw EnvelopeError(.invalidSenderKey, "the sender key is not a valid Ed25519 point")
        }
        for (i, entry) in listed.enumerated() where !listedKeysVouchedFor && !KeyCache.isValidPoint(entry.key) {
            throw EnvelopeError(.invalidRecipientKey, "recipient \(i)'s key is not a valid Ed25519 point")
        }
        let copyHash = b.withUnsafeBytes {
            SodiumHash.blake2b256(UnsafeRawBufferPointer(rebasing: $0[L.senderCopyOffset..<listStart]))
        }
        guard copyHash == head.senderCopyHash else {
            throw EnvelopeError(.payloadMismatch, "the sender's copy does not hash to the header's sender_copy_hash")
        }
        let leafHashes = listed.enumerated().map { i, entry in
            L.leafHash(
                L.leaf(
                    batchID: head.batchID,
                    index: i,
                    recipient: entry.key,
                    messageID: entry.id,
                    createdAt: head.createdAt,
                    itemHash: entry.itemHash,
                    payloadHash: head.payloadHash
                )
            )
        }
        guard BatchMerkleTree(leafHashes: leafHashes).root == head.root else {
            throw EnvelopeError(.badMerklePath, "the recipients list does not lead to the batch's root")
        }
        try BatchParsing.checkSignature(b, head: head, verifier: verifier, cache: verifiedRoots)
        return BatchSenderCopy(storage: b, header: BatchHeader(checked: b[0..<L.headerBytes]))
    }

    /// Decrypts the sender's copy. The copy is already verified.
    ///
    /// - Throws: ``EnvelopeError`` with code ``EnvelopeError/Code/notAParty`` (not the sender) or
    ///   ``EnvelopeError/Code/decryptionFailed``.
    public func open(with identity: Identity) throws(EnvelopeError) -> [UInt8] {
        guard identity.publicKey == header.sender else {
            throw EnvelopeError(.notAParty, "the identity is not the batch's sender")
        }
        let range = senderCiphertextRange
        return try storage.withUnsafeBytes { all in
            TextileBox.openResult(UnsafeRawBufferPointer(rebasing: all[range]), with: identity)
        }.get()
    }
}

extension BatchSenderCopy: CustomStringConvertible {
    /// Metadata only.
    public var description: String {
        "BatchSenderCopy(batch: \(header.batchID), kind: \(header.kind.name), sender: \(header.sender), "
            + "recipients: \(header.recipientCount))"
    }
}
