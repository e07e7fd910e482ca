public import MailroomEd25519

extension Envelope {
    /// Parses an envelope strictly and verifies its signature: the worker's one call per Kafka record.
    ///
    /// Checks run in this order, and the first failure is reported: version, header length, message id against
    /// `created_at`, each ciphertext length (box overhead, body limit, truncation), equal copy lengths, trailing
    /// bytes, sender key, recipient key, signature. Keys are validated through a bounded process-wide cache.
    /// The bytes are kept without copying.
    ///
    /// - Parameters:
    ///   - bytes: the Kafka message value.
    ///   - limits: the body size limit; default 64 KiB.
    ///   - verifier: checks the signature: libsodium alone by default; the worker passes its own
    ///     ``Ed25519Verifier``, with tables for repeat senders.
    /// - Returns: the verified envelope.
    /// - Throws: ``EnvelopeError`` with one of ``EnvelopeError/Code/verificationCodes``.
    public static func verify(
        _ bytes: [UInt8],
        limits: EnvelopeLimits = EnvelopeLimits(),
        using verifier: Ed25519Verifier = .libsodiumOnly
    ) throws(EnvelopeError)
        -> Envelope
    {
        let parsed = bytes.withUnsafeBytes { parseAndVerify($0, limits: limits, verifier: verifier) }
        return try Envelope(storage: bytes, parsed.get())
    }

    /// Parses and verifies an envelope in memory the caller owns (for example a librdkafka message payload);
    /// the bytes are copied only when they verify.
    ///
    /// - Throws: ``EnvelopeError`` with one of ``EnvelopeError/Code/verificationCodes``.
    public static func verify(
        _ bytes: UnsafeRawBufferPointer,
        limits: EnvelopeLimits = EnvelopeLimits(),
        using verifier: Ed25519Verifier = .libsodiumOnly
    ) throws(EnvelopeError) -> Envelope {
        let fields = try parseAndVerify(bytes, limits: limits, verifier: verifier).get()
        return Envelope(storage: Array(bytes), fields)
    }

    struct Fields {
        var id: MessageID
        var sender: Bytes32
        var recipient: Bytes32
        var createdAt: Int64
        var recipientRange: Range<Int>
        var senderRange: Range<Int>
        var recipientDigest: Bytes32
        var senderDigest: Bytes32
    }

    init(storage: [UInt8], _ fields: Fields) {
        self.init(
            storage: storage,
            id: fields.id,
            sender: PublicKey(validated: fields.sender),
            recipient: PublicKey(validated: fields.recipient),
            createdAtMilliseconds: fields.createdAt,
            recipientCiphertextRange: fields.recipientRange,
            senderCiphertextRange: fields.senderRange,
            recipientCiphertextDigest: fields.recipientDigest,
            senderCiphertextDigest: fields.senderDigest
        )
    }

    static func parseAndVerify(
        _ raw: UnsafeRawBufferPointer,
        limits: EnvelopeLimits,
        verifier: Ed25519Verifier
    ) -> Result<Fields, EnvelopeError> {
        typealias L = EnvelopeLayout
        let count = raw.count
        guard count >= 1 else {
            return .failure(EnvelopeError(.truncated, "empty envelope"))
        }
        let base = raw.baseAddress!
        let version = base.load(as: UInt8.self)
        guard version == L.version else {
            return .failure(EnvelopeError(.unsupportedVersion, "version \(version), this build reads version 1"))
        }
        guard count >= L.headerBytes + L.lengthBytes else {
            return .failure(
                EnvelopeError(.truncated, "\(count) bytes end inside the fixed header (\(L.headerBytes + 4) needed)")
            )
        }
        let id = MessageID(copying: base + L.idOffset)
        let createdAt = Int64(bigEndian: base.loadUnaligned(fromByteOffset: L.createdAtOffset, as: Int64.self))
        guard createdAt == id.milliseconds else {
            return .failure(
                EnvelopeError(
                    .invalidMessageID,
                    "created_at \(createdAt) differs from the id's time \(id.milliseconds)"
                )
            )
        }

        // Recipient copy.
        var offset = L.headerBytes
        let recipientCount = Int(UInt32(bigEndian: base.loadUnaligned(fromByteOffset: offset, as: UInt32.self)))
        offset += L.lengthBytes
        if let error = L.checkCiphertextLength(recipientCount, limits: limits, which: "recipient") {
            return .failure(error)
        }
        guard count - offset >= recipientCount + L.lengthBytes else {
            return .failure(
                EnvelopeError(.truncated, "recipient ciphertext of \(recipientCount) bytes runs past the end")
            )
        }
        let recipientRange = offset..<offset + recipientCount
        offset += recipientCount

        // Sender copy.
        let senderCount = Int(UInt32(bigEndian: base.loadUnaligned(fromByteOffset: offset, as: UInt32.self)))
        offset += L.lengthBytes
        if let error = L.checkCiphertextLength(senderCount, limits: limits, which: "sender") {
            return .failure(error)
        }
        guard senderCount == recipientCount else {
            return .failure(
                EnvelopeError(
                    .invalidCiphertextLength,
                    "sender ciphertext is \(senderCount) bytes, recipient ciphertext \(recipientCount): "
                        + "both seal the same body"
                )
            )
        }
        guard count - offset >= senderCount + L.signatureBytes else {
            return .failure(
                EnvelopeError(.truncated, "sender ciphertext and signature run past the end (\(count) bytes)")
            )
        }
        let senderRange = offset..<offset + senderCount
        offset += senderCount
        guard count - offset == L.signatureBytes else {
            return .failure(
                EnvelopeError(.trailingBytes, "\(count - offset - L.signatureBytes) bytes follow the signature")
            )
        }

        // Keys.
        let sender = Bytes32(copying: base + L.senderOffset)
        guard KeyCache.isValidPoint(sender) else {
            return .failure(EnvelopeError(.invalidSenderKey, "the sender key is not a valid Ed25519 point"))
        }
        let recipient = Bytes32(copying: base + L.recipientOffset)
        guard KeyCache.isValidPoint(recipient) else {
            return .failure(EnvelopeError(.invalidRecipientKey, "the recipient key is not a valid Ed25519 point"))
        }

        // Signature.
        let recipientDigest = SodiumHash.blake2b256(UnsafeRawBufferPointer(rebasing: raw[recipientRange]))
        let senderDigest = SodiumHash.blake2b256(UnsafeRawBufferPointer(rebasing: raw[senderRange]))
        let verifies = L.signatureVerifies(
            id: id,
            sender: sender,
            recipient: recipient,
            createdAt: createdAt,
            recipientCiphertextHash: recipientDigest,
            senderCiphertextHash: senderDigest,
            signature: base + offset,
            verifier: verifier
        )
        guard verifies else {
            return .failure(EnvelopeError(.badSignature, "the signature does not verify against the sender key"))
        }
        return .success(
            Fields(
                id: id,
                sender: sender,
                recipient: recipient,
                createdAt: createdAt,
                recipientRange: recipientRange,
                senderRange: senderRange,
                recipientDigest: recipientDigest,
                senderDigest: senderDigest
            )
        )
    }
}
