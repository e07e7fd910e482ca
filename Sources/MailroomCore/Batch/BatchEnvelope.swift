/// A sealed batch (format v2): one sender, one signature over a Merkle root, and per recipient a message that
/// verifies alone (docs/ENVELOPE.md, "Batch envelopes (format v2)").
///
/// Made only by ``sealShared(from:to:body:senderBody:batchID:limits:)`` and
/// ``sealPersonalised(from:to:senderBody:batchID:limits:)``. A producer splits it into
/// ``recipientEnvelopes()`` (one Kafka record per recipient, keyed by the recipient) and one ``senderCopy`` (the
/// sentbox entry: the body sealed to the sender once and the list of recipients).
public struct BatchEnvelope: Sendable {
    struct Entry: Sendable {
        var recipient: PublicKey
        var messageID: MessageID
        var item: [UInt8]
        var itemHash: Bytes32
    }

    /// The signed header.
    public let header: BatchHeader
    let rootHash: Bytes32
    let signatureBytes: [UInt8]
    let payload: [UInt8]
    let entries: [Entry]
    let tree: BatchMerkleTree
    let senderCiphertext: [UInt8]

    /// The Merkle root the signature covers (32 bytes).
    public var root: [UInt8] { rootHash.bytes }
    /// The batch signature (64 bytes).
    public var signature: [UInt8] { signatureBytes }
    /// The recipients, in leaf order.
    public var recipients: [PublicKey] { entries.map(\.recipient) }
    /// Each recipient's message id, in leaf order.
    public var messageIDs: [MessageID] { entries.map(\.messageID) }
    /// How many recipients.
    public var recipientCount: Int { entries.count }
    /// The shared payload (nonce || ciphertext || tag), stored once; empty for a personalised batch.
    public var sharedPayload: [UInt8] { payload }

    /// The head every record shares: header, root, signature.
    var head: [UInt8] { header.serialized() + rootHash.bytes + signatureBytes }

    /// The record value for the recipient at `index` (0-based, leaf order); traps when `index` is out of range.
    public func recipientEnvelope(at index: Int) -> BatchRecipientEnvelope {
        precondition(index >= 0 && index < entries.count, "index \(index) is outside the batch")
        return recipientEnvelope(at: index, head: head)
    }

    /// Every recipient's record value, in leaf order.
    public func recipientEnvelopes() -> [BatchRecipientEnvelope] {
        let head = head
        return entries.indices.map { recipientEnvelope(at: $0, head: head) }
    }

    func recipientEnvelope(at index: Int, head: [UInt8]) -> BatchRecipientEnvelope {
        let entry = entries[index]
        let path = tree.path(for: index)
        var out: [UInt8] = []
        out.reserveCapacity(BatchLayout.itemOffset + entry.item.count + 1 + 32 * path.count + 4 + payload.count)
        out += head
        out.append(BatchLayout.recipientPart)
        out.appendBigEndian(UInt32(index))
        out += entry.recipient.bytes
        out += entry.messageID.bytes
        out.appendBigEndian(UInt64(bitPattern: header.createdAtMilliseconds))
        out.appendBigEndian(UInt32(entry.item.count))
        out += entry.item
        out.append(UInt8(path.count))
        for sibling in path { out += sibling.bytes }
        out.appendBigEndian(UInt32(payload.count))
        out += payload
        return BatchRecipientEnvelope(
            storage: out,
            header: header,
            index: index,
            recipient: entry.recipient,
            messageID: entry.messageID
        )
    }

    /// The sender's copy: the sentbox entry for the whole batch.
    public var senderCopy: BatchSenderCopy {
        var out = head
        out.reserveCapacity(
            BatchLayout.senderCopyOffset + senderCiphertext.count
                + BatchLayout.recipientListEntryBytes * entries.count
        )
        out.append(BatchLayout.senderPart)
        out.appendBigEndian(UInt32(senderCiphertext.count))
        out += senderCiphertext
        for entry in entries {
            out += entry.recipient.bytes
            out += entry.messageID.bytes
            out += entry.itemHash.bytes
        }
        return BatchSenderCopy(storage: out, header: header)
    }
}

extension BatchEnvelope {
    /// Seals one body to many recipients: encrypted once under a random content key, the key wrapped to each
    /// recipient from one ephemeral X25519 key, one signature over the Merkle root of the recipients' leaves.
    ///
    /// - Parameters:
    ///   - sender: the signing identity.
    ///   - recipients: 1 through ``BatchLimits/maxRecipients`` keys, in leaf order; a key may appear twice (each
    ///     occurrence is its own message).
    ///   - body: the plaintext, at most ``BatchLimits/maxBodyBytes``.
    ///   - senderBody: what the sender's copy holds; default `body`.
    ///   - batchID: the batch id; default a new monotonic ULID (``MessageID/generate()``). Every recipient's
    ///     message id gets its time and 80 fresh random bits.
    ///   - limits: body and recipient limits.
    /// - Throws: ``EnvelopeError``: `invalid_batch` (no recipients), `batch_too_large`, `body_too_large`.
    public static func sealShared(
        from sender: Identity,
        to recipients: [PublicKey],
        body: [UInt8],
        senderBody: [UInt8]? = nil,
        batchID: MessageID? = nil,
        limits: BatchLimits = BatchLimits()
    ) throws(EnvelopeError) -> BatchEnvelope {
        try BatchSealing.seal(
            kind: .shared,
            sender: sender,
            recipients: recipients,
            bodies: [body],
            senderBody: senderBody ?? body,
            batchID: batchID ?? .generate(),
            limits: limits,
            random: nil
        )
    }

    /// Seals a body per recipient, each sealed to its recipient as in envelope v1, with one signature over the
    /// Merkle root of the recipients' leaves.
    ///
    /// - Parameters:
    ///   - sender: the signing identity.
    ///   - recipients: 1 through ``BatchLimits/maxRecipients`` (key, body) pairs, in leaf order.
    ///   - senderBody: what the sender's copy holds (for example the template the bodies were made from); the
    ///     recipients' bodies are sealed to the recipients only.
    ///   - batchID: the batch id; default a new monotonic ULID.
    ///   - limits: body and recipient limits.
    /// - Throws: ``EnvelopeError``: `invalid_batch` (no recipients), `batch_too_large`, `body_too_large`.
    public static func sealPersonalised(
        from sender: Identity,
        to recipients: [(recipient: PublicKey, body: [UInt8])],
        senderBody: [UInt8],
        batchID: MessageID? = nil,
        limits: BatchLimits = BatchLimits()
    ) throws(EnvelopeError) -> BatchEnvelope {
        try BatchSealing.seal(
            kind: .personalised,
            sender: sender,
            recipients: recipients.map(\.recipient),
            bodies: recipients.map(\.body),
            senderBody: senderBody,
            batchID: batchID ?? .generate(),
            limits: limits,
            random: nil
        )
    }
}

extension BatchEnvelope: CustomStringConvertible {
    /// Metadata only.
    public var description: String {
        "BatchEnvelope(batch: \(header.batchID), kind: \(header.kind.name), sender: \(header.sender), "
            + "recipients: \(entries.count))"
    }
}

/// The sealing itself, with an optional deterministic source of randomness for test vectors.
enum BatchSealing {
    /// Randomness for test vectors only: returns `count` bytes. Consumed in this order: 10 bytes per recipient
    /// (message ids); then shared: content key 32, payload nonce 24, ephemeral seed 32; personalised: 56 per
    /// recipient (nonce and ephemeral seed); then 56 for the sender's copy.
    typealias Random = (Int) -> [UInt8]

    static func seal(
        kind: BatchHeader.Kind,
        sender: Identity,
        recipients: [PublicKey],
        bodies: [[UInt8]],
        senderBody: [UInt8],
        batchID: MessageID,
        limits: BatchLimits,
        random: Random?
    ) throws(EnvelopeError) -> BatchEnvelope {
        typealias L = BatchLayout
        guard !recipients.isEmpty else { throw EnvelopeError(.invalidBatch, "a batch has at least one recipient") }
        guard recipients.count <= limits.effectiveMaxRecipients else {
            throw EnvelopeError(
                .batchTooLarge,
                "\(recipients.count) recipients; the limit is \(limits.effectiveMaxRecipients)"
            )
        }
        for body in bodies + [senderBody] where body.count > limits.maxBodyBytes {
            throw EnvelopeError(.bodyTooLarge, "a \(body.count)-byte body exceeds the limit of \(limits.maxBodyBytes)")
        }
        let createdAt = batchID.milliseconds
        var messageIDs: [MessageID] = []
        messageIDs.reserveCapacity(recipients.count)
        for _ in recipients {
            if let random {
                let time = (0..<6).map { UInt8(truncatingIfNeeded: createdAt >> (8 * (5 - $0))) }
                messageIDs.append(try MessageID(bytes: time + random(10)))
            } else {
                messageIDs.append(try MessageID(milliseconds: createdAt))
            }
        }

        var items: [[UInt8]] = []
        items.reserveCapacity(recipients.count)
        var payload: [UInt8] = []
        var ephemeralPublic = Bytes32()
        switch kind {
        case .shared:
            (payload, ephemeralPublic, items) = sealShared(
                body: bodies[0],
                recipients: recipients,
                batchID: batchID,
                random: random
            )
        case .personalised:
            for (recipient, body) in zip(recipients, bodies) {
                items.append(sealBox(body, to: recipient, seed: random?(56)))
            }
        }
        let senderCiphertext = sealBox(senderBody, to: sender.publicKey, seed: random?(56))
        let payloadHash = kind == .shared ? SodiumHash.blake2b256(payload) : Bytes32()

        var entries: [BatchEnvelope.Entry] = []
        entries.reserveCapacity(recipients.count)
        var leafHashes: [Bytes32] = []
        leafHashes.reserveCapacity(recipients.count)
        for index in recipients.indices {
            let itemHash = SodiumHash.blake2b256(items[index])
            entries.append(
                .init(
                    recipient: recipients[index],
                    messageID: messageIDs[index],
                    item: items[index],
                    itemHash: itemHash
                )
            )
            leafHashes.append(
                L.leafHash(
                    L.leaf(
                        batchID: batchID,
                        index: index,
                        recipient: recipients[index].raw,
                        messageID: messageIDs[index],
                        createdAt: createdAt,
                        itemHash: itemHash,
                        payloadHash: payloadHash
                    )
                )
            )
        }
        let tree = BatchMerkleTree(leafHashes: leafHashes)
        let header = BatchHeader(
            kind: kind,
            batchID: batchID,
            sender: sender.publicKey,
            recipientCount: recipients.count,
            ephemeralPublicKey: ephemeralPublic,
            payloadHash: payloadHash,
            senderCopyHash: SodiumHash.blake2b256(senderCiphertext)
        )
        let message = L.signedMessage(header: header.serialized()[...], root: tree.root)
        var signature = [UInt8](repeating: 0, count: L.signatureBytes)
        message.withUnsafeBytes { message in
            signature.withUnsafeMutableBytes { sender.sign(message, into: $0.baseAddress!) }
        }
        return BatchEnvelope(
            header: header,
            rootHash: tree.root,
            signatureBytes: signature,
            payload: payload,
            entries: entries,
            tree: tree,
            senderCiphertext: senderCiphertext
        )
    }

    /// A Textile box (v1's body encryption), random or from a 56-byte seed.
    static func sealBox(_ body: [UInt8], to recipient: PublicKey, seed: [UInt8]?) -> [UInt8] {
        // A PublicKey is a validated point, so the conversion succeeds.
        let curve = KeyCache.curvePublicKey(for: recipient.raw)!
        return [UInt8](unsafeUninitializedCapacity: body.count + SodiumBox.overhead) { buffer, initialized in
            body.withUnsafeBytes { plain in
                if let seed {
                    seed.withUnsafeBytes {
                        SodiumBox.seal(
                            plain,
                            to: curve,
                            into: UnsafeMutableRawBufferPointer(buffer),
                            deterministicSeed: $0
                        )
                    }
                } else {
                    SodiumBox.seal(plain, to: curve, into: UnsafeMutableRawBufferPointer(buffer))
                }
            }
            initialized = body.count + SodiumBox.overhead
        }
    }

    /// The shared body: a content key, the payload encrypted once, the key wrapped to every recipient from one
    /// ephemeral X25519 key (`crypto_box_beforenm` per recipient, then `crypto_box_easy_afternm`).
    static func sealShared(
        body: [UInt8],
        recipients: [PublicKey],
        batchID: MessageID,
        random: Random?
    ) -> (payload: [UInt8], ephemeralPublic: Bytes32, wrappedKeys: [[UInt8]]) {
        typealias W = SodiumKeyWrap
        let contentKey = SecureBytes(count: W.contentKeyBytes) { key in
            if let random {
                _ = key.initializeMemory(as: UInt8.self, from: random(W.contentKeyBytes))
            } else {
                SodiumRandom.fill(key)
            }
        }
        let nonce = random?(W.aeadNonceBytes) ?? SodiumRandom.bytes(W.aeadNonceBytes)
        let additionalData = batchID.bytes
        let payload = [UInt8](unsafeUninitializedCapacity: body.count + W.payloadOverhead) { buffer, initialized in
            contentKey.withUnsafeBytes { key in
                body.withUnsafeBytes { plain in
                    nonce.withUnsafeBytes { nonce in
                        additionalData.withUnsafeBytes { ad in
                            W.encrypt(
                                plain,
                                additionalData: ad,
                                nonce: nonce,
                                key: key,
                                into: UnsafeMutableRawBufferPointer(buffer)
                            )
                        }
                    }
                }
            }
            initialized = body.count + W.payloadOverhead
        }
        var ephemeralPublic = Bytes32()
        var wrappedKeys: [[UInt8]] = []
        wrappedKeys.reserveCapacity(recipients.count)
        let ephemeralSeed = random?(32)
        withUnsafeTemporaryAllocation(byteCount: 32 + W.sharedKeyBytes, alignment: 16) { scratch in
            defer { SodiumSign.zero(scratch) }
            let ephemeralSecret = UnsafeMutableRawBufferPointer(rebasing: scratch[0..<32])
            let shared = UnsafeMutableRawBufferPointer(rebasing: scratch[32..<32 + W.sharedKeyBytes])
            if let ephemeralSeed {
                ephemeralSeed.withUnsafeBytes {
                    W.keyPair(publicKey: &ephemeralPublic, secretKey: ephemeralSecret, seed: $0)
                }
            } else {
                W.keyPair(publicKey: &ephemeralPublic, secretKey: ephemeralSecret)
            }
            var nonce = BatchLayout.wrapNonce(batchID: batchID, index: 0)
            contentKey.withUnsafeBytes { key in
                for (index, recipient) in recipients.enumerated() {
                    let curve = KeyCache.curvePublicKey(for: recipient.raw)!
                    // A validated Ed25519 point converts to an X25519 key of large order, which beforenm accepts.
                    let agreed = W.sharedKey(
                        publicKey: curve,
                        secretKey: UnsafeRawBufferPointer(ephemeralSecret),
                        into: shared
                    )
                    precondition(agreed, "crypto_box_beforenm refused a validated recipient key")
                    nonce.withUnsafeMutableBytes {
                        $0.storeBytes(of: UInt32(index).bigEndian, toByteOffset: 16, as: UInt32.self)
                    }
                    let wrapped = [UInt8](unsafeUninitializedCapacity: W.wrappedKeyBytes) { out, initialized in
                        nonce.withUnsafeBytes { nonce in
                            W.wrap(
                                contentKey: key,
                                nonce: nonce,
                                sharedKey: UnsafeRawBufferPointer(shared),
                                into: UnsafeMutableRawBufferPointer(out)
                            )
                        }
                        initialized = W.wrappedKeyBytes
                    }
                    wrappedKeys.append(wrapped)
                }
            }
        }
        return (payload, ephemeralPublic, wrappedKeys)
    }
}
