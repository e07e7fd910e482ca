import MailroomEd25519

/// Byte offsets of envelope v1 and the construction of the message its signature covers (see docs/ENVELOPE.md).
///
///     version u8 | id 16 | sender 32 | recipient 32 | created_at i64 BE
///     | recipient_ct_len u32 BE | recipient_ct | sender_ct_len u32 BE | sender_ct | signature 64
enum EnvelopeLayout {
    static let version: UInt8 = 1

    static let idOffset = 1
    static let senderOffset = 17
    static let recipientOffset = 49
    static let createdAtOffset = 81
    /// version through created_at: the fixed header, also the start of the signed message.
    static let headerBytes = 89
    static let lengthBytes = 4
    static let signatureBytes = 64
    /// Everything but the two ciphertexts.
    static let fixedBytes = headerBytes + 2 * lengthBytes + signatureBytes

    /// Domain separation: the signed message starts with these 21 bytes, `mailroom/envelope/v1` and a NUL.
    static let domain: [UInt8] = Array("mailroom/envelope/v1".utf8) + [0]
    /// domain(21) || header(89) || BLAKE2b-256(recipient_ct)(32) || BLAKE2b-256(sender_ct)(32).
    static let signedMessageBytes = 21 + headerBytes + 32 + 32

    /// The serialized length of an envelope with a body of `bodyCount` bytes.
    static func serializedCount(bodyCount: Int) -> Int {
        fixedBytes + 2 * (bodyCount + SodiumBox.overhead)
    }

    /// Writes the 89-byte header at `pointer`.
    static func writeHeader(
        to pointer: UnsafeMutableRawPointer,
        id: MessageID,
        sender: Bytes32,
        recipient: Bytes32,
        createdAt: Int64
    ) {
        pointer.storeBytes(of: version, as: UInt8.self)
        id.write(to: pointer + idOffset)
        pointer.storeBytes(of: sender, toByteOffset: senderOffset, as: Bytes32.self)
        pointer.storeBytes(of: recipient, toByteOffset: recipientOffset, as: Bytes32.self)
        pointer.storeBytes(of: createdAt.bigEndian, toByteOffset: createdAtOffset, as: Int64.self)
    }

    /// Builds the signed message on the stack and hands it to `body`.
    static func withSignedMessage<R>(
        id: MessageID,
        sender: Bytes32,
        recipient: Bytes32,
        createdAt: Int64,
        recipientCiphertextHash: Bytes32,
        senderCiphertextHash: Bytes32,
        _ body: (UnsafeRawBufferPointer) -> R
    ) -> R {
        withUnsafeTemporaryAllocation(byteCount: signedMessageBytes, alignment: 8) { message in
            let base = message.baseAddress!
            domain.withUnsafeBytes { base.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
            let header = base + domain.count
            writeHeader(to: header, id: id, sender: sender, recipient: recipient, createdAt: createdAt)
            header.storeBytes(of: recipientCiphertextHash, toByteOffset: headerBytes, as: Bytes32.self)
            header.storeBytes(of: senderCiphertextHash, toByteOffset: headerBytes + 32, as: Bytes32.self)
            return body(UnsafeRawBufferPointer(message))
        }
    }

    /// Checks a ciphertext length against the box overhead and the body limit.
    static func checkCiphertextLength(_ count: Int, limits: EnvelopeLimits, which: String) -> EnvelopeError? {
        if count < SodiumBox.overhead {
            return EnvelopeError(
                .invalidCiphertextLength,
                "\(which) ciphertext is \(count) bytes, shorter than a sealed box (\(SodiumBox.overhead))"
            )
        }
        if count - SodiumBox.overhead > limits.maxBodyBytes {
            return EnvelopeError(
                .bodyTooLarge,
                "\(which) ciphertext holds a \(count - SodiumBox.overhead)-byte body, limit \(limits.maxBodyBytes)"
            )
        }
        return nil
    }

    /// The signature check shared by envelopes and rows (64 bytes at `signature`), by `verifier`.
    static func signatureVerifies(
        id: MessageID,
        sender: Bytes32,
        recipient: Bytes32,
        createdAt: Int64,
        recipientCiphertextHash: Bytes32,
        senderCiphertextHash: Bytes32,
        signature: UnsafeRawPointer,
        verifier: Ed25519Verifier
    ) -> Bool {
        withSignedMessage(
            id: id,
            sender: sender,
            recipient: recipient,
            createdAt: createdAt,
            recipientCiphertextHash: recipientCiphertextHash,
            senderCiphertextHash: senderCiphertextHash
        ) { message in
            withUnsafeBytes(of: sender) { key in
                verifier.verify(
                    signature: UnsafeRawBufferPointer(start: signature, count: 64),
                    message: message,
                    publicKey: key
                )
            }
        }
    }
}
