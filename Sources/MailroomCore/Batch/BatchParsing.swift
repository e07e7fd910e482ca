import MailroomEd25519

/// The checks every batch record value starts and ends with: the head (header, root, signature) and the
/// signature itself, with the signature cache.
enum BatchParsing {
    struct Head {
        var kind: BatchHeader.Kind
        var batchID: MessageID
        var sender: Bytes32
        var createdAt: Int64
        var recipientCount: Int
        var payloadHash: Bytes32
        var senderCopyHash: Bytes32
        var root: Bytes32
    }

    /// Steps 1–6 of docs/ENVELOPE.md's "Verifying a batch record": empty, version, length of the head and the
    /// part byte, kind and count, personalised zeros, batch time, part type.
    static func head(_ b: [UInt8], limits: BatchLimits, part: UInt8) throws(EnvelopeError) -> Head {
        typealias L = BatchLayout
        guard !b.isEmpty else { throw EnvelopeError(.truncated, "the value is empty") }
        guard b[0] == L.version else {
            throw EnvelopeError(.unsupportedVersion, "version \(b[0]); a batch record is version 2")
        }
        guard b.count > L.headBytes else {
            throw EnvelopeError(.truncated, "\(b.count) bytes; the head and part type take \(L.headBytes + 1)")
        }
        guard let kind = BatchHeader.Kind(rawValue: b[L.kindOffset]) else {
            throw EnvelopeError(.invalidBatch, "kind \(b[L.kindOffset]) is neither 1 (shared) nor 2 (personalised)")
        }
        let count = Int(b.bigEndianUInt32(at: L.recipientCountOffset))
        guard count > 0 else { throw EnvelopeError(.invalidBatch, "a batch has at least one recipient") }
        guard count <= limits.effectiveMaxRecipients else {
            throw EnvelopeError(
                .batchTooLarge,
                "\(count) recipients; the limit is \(limits.effectiveMaxRecipients)"
            )
        }
        let ephemeral = Bytes32(b[L.ephemeralPublicOffset..<L.ephemeralPublicOffset + 32])!
        let payloadHash = Bytes32(b[L.payloadHashOffset..<L.payloadHashOffset + 32])!
        if kind == .personalised {
            guard ephemeral == Bytes32(), payloadHash == Bytes32() else {
                throw EnvelopeError(
                    .invalidBatch,
                    "a personalised batch has an all-zero ephemeral key and payload hash"
                )
            }
        }
        let batchID = b.withUnsafeBytes { MessageID(copying: $0.baseAddress! + L.batchIDOffset) }
        let createdAt = Int64(bitPattern: b.bigEndianUInt64(at: L.createdAtOffset))
        guard createdAt == batchID.milliseconds else {
            throw EnvelopeError(
                .invalidMessageID,
                "created_at \(createdAt) differs from the batch id's time \(batchID.milliseconds)"
            )
        }
        guard b[L.partOffset] == part else {
            throw EnvelopeError(
                .invalidBatch,
                "part type \(b[L.partOffset]), expected \(part) (1 recipient record, 2 sender copy)"
            )
        }
        return Head(
            kind: kind,
            batchID: batchID,
            sender: Bytes32(b[L.senderOffset..<L.senderOffset + 32])!,
            createdAt: createdAt,
            recipientCount: count,
            payloadHash: payloadHash,
            senderCopyHash: Bytes32(b[L.senderCopyHashOffset..<L.senderCopyHashOffset + 32])!,
            root: Bytes32(b[L.rootOffset..<L.rootOffset + 32])!
        )
    }

    /// The last step: the signature over domain || header || root, unless `cache` remembers these exact bytes.
    static func checkSignature(
        _ b: [UInt8],
        head: Head,
        verifier: Ed25519Verifier,
        cache: BatchSignatureCache?
    ) throws(EnvelopeError) {
        typealias L = BatchLayout
        if let cache, cache.verified(headOf: b, root: head.root) { return }
        let message = L.signedMessage(header: b[0..<L.headerBytes], root: head.root)
        let verifies = b.withUnsafeBytes { all in
            message.withUnsafeBytes { msg in
                withUnsafeBytes(of: head.sender) { pk in
                    verifier.verify(
                        signature: UnsafeRawBufferPointer(
                            rebasing: all[L.signatureOffset..<L.signatureOffset + L.signatureBytes]
                        ),
                        message: msg,
                        publicKey: pk
                    )
                }
            }
        }
        guard verifies else {
            throw EnvelopeError(.badSignature, "the batch signature does not verify against the sender key")
        }
        cache?.insert(headOf: b, root: head.root)
    }

    /// The body-length check of a sealed box (v1's rule), with the batch limit.
    static func checkSealedLength(_ count: Int, limits: BatchLimits, which: String) throws(EnvelopeError) {
        if let error = EnvelopeLayout.checkCiphertextLength(
            count,
            limits: EnvelopeLimits(maxBodyBytes: limits.maxBodyBytes),
            which: which
        ) {
            throw error
        }
    }
}
