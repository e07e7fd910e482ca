public import MailroomEd25519

/// One recipient's message from a batch (format v2): the Kafka record value for that recipient, self-contained.
///
/// It carries the batch's head (header, Merkle root, signature), the recipient's entry (index, key, message id,
/// time, wrapped content key or sealed body), the Merkle path from its leaf to the root, and for a shared batch
/// the shared payload itself, so it verifies alone. A value exists only when sealed here (``BatchEnvelope``) or
/// verified (``verify(_:limits:using:verifiedRoots:)``). Layout: docs/ENVELOPE.md, "The recipient record".
public struct BatchRecipientEnvelope: Sendable, Equatable {
    let storage: [UInt8]
    let itemRange: Range<Int>
    let pathRange: Range<Int>
    let payloadRange: Range<Int>
    let rootHash: Bytes32

    /// The batch's signed header.
    public let header: BatchHeader
    /// This recipient's position among the batch's leaves, 0-based.
    public let index: Int
    /// Who the message is for (the Kafka record key).
    public let recipient: PublicKey
    /// The message id in the recipient's inbox; its time is ``BatchHeader/createdAtMilliseconds``.
    public let messageID: MessageID

    init(storage: [UInt8], header: BatchHeader, index: Int, recipient: PublicKey, messageID: MessageID) {
        typealias L = BatchLayout
        self.storage = storage
        self.header = header
        self.index = index
        self.recipient = recipient
        self.messageID = messageID
        rootHash = Bytes32(storage[L.rootOffset..<L.rootOffset + 32])!
        let itemCount = Int(storage.bigEndianUInt32(at: L.itemLengthOffset))
        itemRange = L.itemOffset..<L.itemOffset + itemCount
        let pathCount = Int(storage[itemRange.upperBound])
        pathRange = itemRange.upperBound + 1..<itemRange.upperBound + 1 + 32 * pathCount
        let payloadCount = Int(storage.bigEndianUInt32(at: pathRange.upperBound))
        payloadRange = pathRange.upperBound + 4..<pathRange.upperBound + 4 + payloadCount
    }

    /// The serialized value, as put on Kafka (keyed by ``recipient``'s 32 bytes). No copy is made.
    public func serialized() -> [UInt8] { storage }

    /// The Kafka record key: the recipient's raw 32-byte public key.
    public var kafkaKey: [UInt8] { recipient.bytes }

    /// Creation time, Unix milliseconds (the batch's).
    public var createdAtMilliseconds: Int64 { header.createdAtMilliseconds }

    /// The batch's Merkle root (32 bytes).
    public var root: [UInt8] { rootHash.bytes }

    /// The batch signature (64 bytes), the same in every record of the batch.
    public var signature: [UInt8] {
        Array(storage[BatchLayout.signatureOffset..<BatchLayout.signatureOffset + BatchLayout.signatureBytes])
    }

    /// The head every record of the batch shares: header, root and signature (254 bytes).
    public var head: [UInt8] { Array(storage[0..<BatchLayout.headBytes]) }

    /// The recipient's item: the content key wrapped to it (48 bytes, shared) or its sealed body (personalised).
    public var item: [UInt8] { Array(storage[itemRange]) }

    /// The Merkle path: sibling hashes from the leaf up (32 bytes each).
    public var path: [[UInt8]] {
        stride(from: pathRange.lowerBound, to: pathRange.upperBound, by: 32).map { Array(storage[$0..<$0 + 32]) }
    }

    /// The shared payload: nonce || ciphertext || tag (shared batches); empty in a personalised batch.
    public var payload: [UInt8] { Array(storage[payloadRange]) }

    /// The 140-byte leaf this record proves is in the batch.
    public var leaf: [UInt8] {
        BatchLayout.leaf(
            batchID: header.batchID,
            index: index,
            recipient: recipient.raw,
            messageID: messageID,
            createdAt: header.createdAtMilliseconds,
            itemHash: SodiumHash.blake2b256(item),
            payloadHash: header.payloadHash
        )
    }

    /// The plaintext body length in bytes.
    public var bodyCount: Int {
        header.kind == .shared
            ? payloadRange.count - SodiumKeyWrap.payloadOverhead : itemRange.count - SodiumBox.overhead
    }

    /// Two records are equal when their bytes are.
    public static func == (lhs: BatchRecipientEnvelope, rhs: BatchRecipientEnvelope) -> Bool {
        lhs.storage == rhs.storage
    }
}

extension BatchRecipientEnvelope {
    /// Parses a recipient record strictly and verifies it alone: the worker's call per Kafka record.
    ///
    /// Checks run in the order of docs/ENVELOPE.md ("Verifying a recipient record") and the first failure is
    /// reported: structure and lengths, keys, the shared payload against the header's hash, the leaf and path
    /// against the root (hashes only), then the batch signature. With `verifiedRoots`, a batch whose head (header,
    /// root and signature, byte for byte) verified before is not checked again, so a batch's signature costs one
    /// check however many of its records arrive.
    ///
    /// - Parameters:
    ///   - bytes: the Kafka record value.
    ///   - limits: body and recipient limits.
    ///   - verifier: checks the signature; libsodium alone by default.
    ///   - verifiedRoots: remembers batches whose signature verified, and shared payloads and path nodes already
    ///     hashed (``BatchSignatureCache``); nil checks and hashes everything every time.
    ///   - recipientKeyVouchedFor: skips checking that the recipient key is a valid point (step 12's second
    ///     half), for a caller that establishes it otherwise: Mailroom's worker stores a message only for a
    ///     recipient with a mailbox, and a mailbox is made only for a validated key. The check costs a scalar
    ///     multiplication (tens of microseconds) for each key not seen lately, which for invites to new users is
    ///     every record. Everything else is checked as always.
    /// - Throws: ``EnvelopeError`` with one of ``EnvelopeError/Code/batchVerificationCodes``.
    public static func verify(
        _ bytes: [UInt8],
        limits: BatchLimits = BatchLimits(),
        using verifier: Ed25519Verifier = .libsodiumOnly,
        verifiedRoots: BatchSignatureCache? = nil,
        recipientKeyVouchedFor: Bool = false
    ) throws(EnvelopeError) -> BatchRecipientEnvelope {
        typealias L = BatchLayout
        let b = bytes
        let head = try BatchParsing.head(b, limits: limits, part: L.recipientPart)
        guard b.count >= L.itemOffset else {
            throw EnvelopeError(.truncated, "\(b.count) bytes; a recipient record's fixed fields take \(L.itemOffset)")
        }
        let index = Int(b.bigEndianUInt32(at: L.indexOffset))
        let recipient = Bytes32(b[L.recipientOffset..<L.recipientOffset + 32])!
        let messageID = b.withUnsafeBytes { MessageID(copying: $0.baseAddress! + L.messageIDOffset) }
        let createdAt = Int64(bitPattern: b.bigEndianUInt64(at: L.messageCreatedAtOffset))
        guard createdAt == head.createdAt, messageID.milliseconds == createdAt else {
            throw EnvelopeError(
                .invalidMessageID,
                "the message's created_at \(createdAt) and id time \(messageID.milliseconds) must both equal the "
                    + "batch's \(head.createdAt)"
            )
        }
        let itemCount = Int(b.bigEndianUInt32(at: L.itemLengthOffset))
        switch head.kind {
        case .shared:
            guard itemCount == SodiumKeyWrap.wrappedKeyBytes else {
                throw EnvelopeError(
                    .invalidCiphertextLength,
                    "a wrapped content key is \(SodiumKeyWrap.wrappedKeyBytes) bytes, got \(itemCount)"
                )
            }
        case .personalised:
            try BatchParsing.checkSealedLength(itemCount, limits: limits, which: "recipient")
        }
        guard b.count - L.itemOffset >= itemCount + 1 else {
            throw EnvelopeError(.truncated, "the \(itemCount)-byte item and the path length run past the end")
        }
        var offset = L.itemOffset + itemCount
        let pathCount = Int(b[offset])
        offset += 1
        guard b.count - offset >= 32 * pathCount + 4 else {
            throw EnvelopeError(.truncated, "a path of \(pathCount) hashes and the payload length run past the end")
        }
        let pathStart = offset
        offset += 32 * pathCount
        let payloadCount = Int(b.bigEndianUInt32(at: offset))
        offset += 4
        switch head.kind {
        case .shared:
            guard payloadCount >= SodiumKeyWrap.payloadOverhead else {
                throw EnvelopeError(
                    .invalidCiphertextLength,
                    "the payload is \(payloadCount) bytes, shorter than nonce and tag (\(SodiumKeyWrap.payloadOverhead))"
                )
            }
            guard payloadCount - SodiumKeyWrap.payloadOverhead <= limits.maxBodyBytes else {
                throw EnvelopeError(
                    .bodyTooLarge,
                    "the payload holds a \(payloadCount - SodiumKeyWrap.payloadOverhead)-byte body, limit "
                        + "\(limits.maxBodyBytes)"
                )
            }
        case .personalised:
            guard payloadCount == 0 else {
                throw EnvelopeError(.invalidCiphertextLength, "a personalised batch carries no shared payload")
            }
        }
        guard b.count - offset >= payloadCount else {
            throw EnvelopeError(.truncated, "the \(payloadCount)-byte payload runs past the end")
        }
        guard b.count - offset == payloadCount else {
            throw EnvelopeError(.trailingBytes, "\(b.count - offset - payloadCount) bytes follow the payload")
        }
        guard KeyCache.isValidPoint(head.sender) else {
            throw EnvelopeError(.invalidSenderKey, "the sender key is not a valid Ed25519 point")
        }
        guard recipientKeyVouchedFor || KeyCache.isValidPoint(recipient) else {
            throw EnvelopeError(.invalidRecipientKey, "the recipient key is not a valid Ed25519 point")
        }
        if head.kind == .shared {
            let matches = b.withUnsafeBytes {
                let payload = UnsafeRawBufferPointer(rebasing: $0[offset..<offset + payloadCount])
                if let verifiedRoots { return verifiedRoots.payload(payload, hashesTo: head.payloadHash) }
                return SodiumHash.blake2b256(payload) == head.payloadHash
            }
            guard matches else {
                throw EnvelopeError(.payloadMismatch, "the payload does not hash to the header's payload_hash")
            }
        }
        let itemHash = b.withUnsafeBytes {
            SodiumHash.blake2b256(UnsafeRawBufferPointer(rebasing: $0[L.itemOffset..<L.itemOffset + itemCount]))
        }
        let leaf = L.leaf(
            batchID: head.batchID,
            index: index,
            recipient: recipient,
            messageID: messageID,
            createdAt: createdAt,
            itemHash: itemHash,
            payloadHash: head.payloadHash
        )
        let path = (0..<pathCount).map { Bytes32(b[pathStart + 32 * $0..<pathStart + 32 * $0 + 32])! }
        let computed = BatchMerkleTree.root(
            leafHash: L.leafHash(leaf),
            index: index,
            size: head.recipientCount,
            path: path,
            nodeHash: verifiedRoots?.nodeHash ?? BatchLayout.nodeHash
        )
        guard computed == head.root else {
            throw EnvelopeError(
                .badMerklePath,
                "leaf \(index) and a path of \(pathCount) hashes do not lead to the root of \(head.recipientCount) leaves"
            )
        }
        try BatchParsing.checkSignature(b, head: head, verifier: verifier, cache: verifiedRoots)
        return BatchRecipientEnvelope(
            storage: b,
            header: BatchHeader(checked: b[0..<L.headerBytes]),
            index: index,
            recipient: PublicKey(validated: recipient),
            messageID: messageID
        )
    }

    /// The same for a value in memory the caller owns (a librdkafka payload); the bytes are copied.
    ///
    /// - Throws: ``EnvelopeError`` with one of ``EnvelopeError/Code/batchVerificationCodes``.
    public static func verify(
        _ bytes: UnsafeRawBufferPointer,
        limits: BatchLimits = BatchLimits(),
        using verifier: Ed25519Verifier = .libsodiumOnly,
        verifiedRoots: BatchSignatureCache? = nil
    ) throws(EnvelopeError) -> BatchRecipientEnvelope {
        try verify(Array(bytes), limits: limits, using: verifier, verifiedRoots: verifiedRoots)
    }

    /// Decrypts the body for the recipient. The record is already verified (it cannot exist otherwise).
    ///
    /// Shared: the content key is unwrapped with `crypto_box_beforenm(ephemeral_public, recipient_x25519_sk)` and
    /// the index's nonce, then the payload decrypted; personalised: the sealed body opens as in envelope v1.
    ///
    /// - Throws: ``EnvelopeError`` with code ``EnvelopeError/Code/notAParty`` (the identity is not the
    ///   recipient) or ``EnvelopeError/Code/decryptionFailed``.
    public func open(with identity: Identity) throws(EnvelopeError) -> [UInt8] {
        guard identity.publicKey == recipient else {
            throw EnvelopeError(.notAParty, "the identity is not this record's recipient")
        }
        switch header.kind {
        case .personalised:
            return try storage.withUnsafeBytes { all in
                TextileBox.openResult(UnsafeRawBufferPointer(rebasing: all[itemRange]), with: identity)
            }.get()
        case .shared:
            return try BatchKeyWrap.openShared(
                payload: storage[payloadRange],
                wrappedKey: storage[itemRange],
                header: header,
                index: index,
                identity: identity
            )
        }
    }
}

extension BatchRecipientEnvelope: CustomStringConvertible {
    /// Metadata only, never ciphertexts.
    public var description: String {
        "BatchRecipientEnvelope(batch: \(header.batchID), kind: \(header.kind.name), index: \(index) of "
            + "\(header.recipientCount), id: \(messageID), sender: \(header.sender), recipient: \(recipient))"
    }
}
