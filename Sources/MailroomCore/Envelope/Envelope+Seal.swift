public import Foundation

extension Envelope {
    /// Encrypts `body` to the recipient and to the sender (sentbox copy), and signs the envelope.
    ///
    /// - Parameters:
    ///   - sender: the signing identity; it also gets a copy of the body sealed to its own key.
    ///   - recipient: who the message is for.
    ///   - body: the plaintext, at most ``EnvelopeLimits/maxBodyBytes``.
    ///   - id: the message id; default a new monotonic ULID for the current time (``MessageID/generate()``).
    ///   - createdAt: the creation time when `id` is nil (a random ULID for that millisecond is made). If both
    ///     are given they must agree to the millisecond: `created_at` is always the id's time.
    ///   - limits: the body size limit.
    /// - Throws: ``EnvelopeError`` with code ``EnvelopeError/Code/bodyTooLarge``, or
    ///   ``EnvelopeError/Code/invalidMessageID`` if `id` and `createdAt` disagree or the time is out of range.
    public static func seal(
        from sender: Identity,
        to recipient: PublicKey,
        body: [UInt8],
        id: MessageID? = nil,
        createdAt: Date? = nil,
        limits: EnvelopeLimits = EnvelopeLimits()
    ) throws(EnvelopeError) -> Envelope {
        let messageID: MessageID
        let requested = createdAt.map { Int64(($0.timeIntervalSince1970 * 1000).rounded(.down)) }
        if let id {
            if let requested, requested != id.milliseconds {
                throw EnvelopeError(
                    .invalidMessageID,
                    "createdAt \(requested) ms differs from the id's time \(id.milliseconds) ms"
                )
            }
            messageID = id
        } else if let requested {
            messageID = try MessageID(milliseconds: requested)
        } else {
            messageID = MessageID.generate()
        }
        return try seal(from: sender, to: recipient, body: body, id: messageID, limits: limits, deterministicSeeds: nil)
    }

    /// The sealing itself. `deterministicSeeds` (112 bytes: nonce and ephemeral seed for each copy) is for
    /// reproducible test vectors only.
    static func seal(
        from sender: Identity,
        to recipient: PublicKey,
        body: [UInt8],
        id: MessageID,
        limits: EnvelopeLimits,
        deterministicSeeds: [UInt8]?
    ) throws(EnvelopeError) -> Envelope {
        typealias L = EnvelopeLayout
        guard body.count <= limits.maxBodyBytes else {
            throw EnvelopeError(.bodyTooLarge, "a \(body.count)-byte body exceeds the limit of \(limits.maxBodyBytes)")
        }
        guard let recipientCurve = KeyCache.curvePublicKey(for: recipient.raw) else {
            throw EnvelopeError(.invalidRecipientKey, "the recipient key does not convert to X25519")
        }
        guard let senderCurve = KeyCache.curvePublicKey(for: sender.publicKey.raw) else {
            throw EnvelopeError(.invalidSenderKey, "the sender key does not convert to X25519")
        }
        let createdAt = id.milliseconds
        let ciphertextCount = body.count + SodiumBox.overhead
        let total = L.serializedCount(bodyCount: body.count)
        let recipientRange = L.headerBytes + L.lengthBytes..<L.headerBytes + L.lengthBytes + ciphertextCount
        let senderRange =
            recipientRange.upperBound + L.lengthBytes..<recipientRange.upperBound + L.lengthBytes
            + ciphertextCount
        var recipientDigest = Bytes32()
        var senderDigest = Bytes32()

        let storage = [UInt8](unsafeUninitializedCapacity: total) { buffer, initialized in
            let out = UnsafeMutableRawBufferPointer(buffer)
            let base = out.baseAddress!
            L.writeHeader(
                to: base,
                id: id,
                sender: sender.publicKey.raw,
                recipient: recipient.raw,
                createdAt: createdAt
            )
            base.storeBytes(
                of: UInt32(ciphertextCount).bigEndian,
                toByteOffset: L.headerBytes,
                as: UInt32.self
            )
            base.storeBytes(
                of: UInt32(ciphertextCount).bigEndian,
                toByteOffset: recipientRange.upperBound,
                as: UInt32.self
            )
            let recipientOut = UnsafeMutableRawBufferPointer(rebasing: out[recipientRange])
            let senderOut = UnsafeMutableRawBufferPointer(rebasing: out[senderRange])
            body.withUnsafeBytes { plain in
                if let seeds = deterministicSeeds {
                    seeds.withUnsafeBytes { seeds in
                        SodiumBox.seal(
                            plain,
                            to: recipientCurve,
                            into: recipientOut,
                            deterministicSeed: UnsafeRawBufferPointer(rebasing: seeds[0..<56])
                        )
                        SodiumBox.seal(
                            plain,
                            to: senderCurve,
                            into: senderOut,
                            deterministicSeed: UnsafeRawBufferPointer(rebasing: seeds[56..<112])
                        )
                    }
                } else {
                    SodiumBox.seal(plain, to: recipientCurve, into: recipientOut)
                    SodiumBox.seal(plain, to: senderCurve, into: senderOut)
                }
            }
            recipientDigest = SodiumHash.blake2b256(UnsafeRawBufferPointer(recipientOut))
            senderDigest = SodiumHash.blake2b256(UnsafeRawBufferPointer(senderOut))
            L.withSignedMessage(
                id: id,
                sender: sender.publicKey.raw,
                recipient: recipient.raw,
                createdAt: createdAt,
                recipientCiphertextHash: recipientDigest,
                senderCiphertextHash: senderDigest
            ) { message in
                sender.sign(message, into: base + senderRange.upperBound)
            }
            initialized = total
        }
        return Envelope(
            storage: storage,
            id: id,
            sender: sender.publicKey,
            recipient: recipient,
            createdAtMilliseconds: createdAt,
            recipientCiphertextRange: recipientRange,
            senderCiphertextRange: senderRange,
            recipientCiphertextDigest: recipientDigest,
            senderCiphertextDigest: senderDigest
        )
    }
}

extension Envelope {
    /// A new envelope with the same two sealed copies as `template` (sealed from `sender` to the same
    /// recipient), a new id and creation time, and a new signature.
    ///
    /// For benchmarks that must stamp `created_at` at the moment of sending at rates where encrypting every
    /// body would need more cores than the machine has (the encryption is the sending app's work, on its own
    /// machines in production). Never for real mail: two messages would share their ciphertexts.
    @_spi(Benchmarks)
    public static func resigning(
        _ template: Envelope,
        from sender: Identity,
        id: MessageID = .generate()
    )
        -> Envelope
    {
        typealias L = EnvelopeLayout
        precondition(template.sender == sender.publicKey, "the template was sealed by another sender")
        let createdAt = id.milliseconds
        let signatureOffset = template.senderCiphertextRange.upperBound
        var storage = template.storage
        storage.withUnsafeMutableBytes { out in
            let base = out.baseAddress!
            L.writeHeader(
                to: base,
                id: id,
                sender: sender.publicKey.raw,
                recipient: template.recipient.raw,
                createdAt: createdAt
            )
            L.withSignedMessage(
                id: id,
                sender: sender.publicKey.raw,
                recipient: template.recipient.raw,
                createdAt: createdAt,
                recipientCiphertextHash: template.recipientCiphertextDigest,
                senderCiphertextHash: template.senderCiphertextDigest
            ) { message in
                sender.sign(message, into: base + signatureOffset)
            }
        }
        return Envelope(
            storage: storage,
            id: id,
            sender: sender.publicKey,
            recipient: template.recipient,
            createdAtMilliseconds: createdAt,
            recipientCiphertextRange: template.recipientCiphertextRange,
            senderCiphertextRange: template.senderCiphertextRange,
            recipientCiphertextDigest: template.recipientCiphertextDigest,
            senderCiphertextDigest: template.senderCiphertextDigest
        )
    }
}
