extension MessageRecord {
    /// The binary form's constants (docs/ENVELOPE.md, "Binary form").
    enum Binary {
        static let magic: [UInt8] = Array("mrec".utf8)
        static let recordVersion: UInt8 = 1
        static let envelopeVersion: UInt8 = 1
        /// magic, record version, kind, envelope version, id, sender, recipient, created_at, ciphertext_len.
        static let headerBytes = 4 + 1 + 1 + 1 + 16 + 32 + 32 + 8 + 4
        /// The fixed bytes after the ciphertext: other hash, signature, metadata flags.
        static let trailerBytes = 32 + 64 + 1
        static let readAtFlag: UInt8 = 0x01
    }

    /// The record's binary form.
    ///
    /// - Throws: ``EnvelopeError`` with code `invalid_field_length` if the hash is not 32 bytes or the signature
    ///   not 64 (the binary form has no room for other lengths; the JSON form can carry them), or
    ///   `invalid_ciphertext_length` for a copy of 2^32 bytes or more.
    public func binary() throws(EnvelopeError) -> [UInt8] {
        guard otherCiphertextHash.count == 32 else {
            throw EnvelopeError(.invalidFieldLength, "a ciphertext hash is 32 bytes, got \(otherCiphertextHash.count)")
        }
        guard signature.count == EnvelopeLayout.signatureBytes else {
            throw EnvelopeError(.invalidFieldLength, "a signature is 64 bytes, got \(signature.count)")
        }
        guard ciphertext.count <= Int(UInt32.max) else {
            throw EnvelopeError(.invalidCiphertextLength, "a copy of \(ciphertext.count) bytes does not fit a record")
        }
        var out: [UInt8] = []
        out.reserveCapacity(Binary.headerBytes + ciphertext.count + Binary.trailerBytes + 8)
        out += Binary.magic
        out.append(Binary.recordVersion)
        out.append(kind.rawValue)
        out.append(Binary.envelopeVersion)
        out += id.bytes
        out += sender.bytes
        out += recipient.bytes
        out.appendBigEndian(UInt64(bitPattern: createdAtMilliseconds))
        out.appendBigEndian(UInt32(ciphertext.count))
        out += ciphertext
        out += otherCiphertextHash
        out += signature
        if let readAt = readAtMilliseconds {
            out.append(Binary.readAtFlag)
            out.appendBigEndian(UInt64(bitPattern: readAt))
        } else {
            out.append(0)
        }
        return out
    }

    /// Parses the binary form strictly: structure first, then both keys.
    ///
    /// - Throws: ``EnvelopeError`` with code `invalid_record`, `unsupported_record_version`,
    ///   `invalid_sender_key` or `invalid_recipient_key`.
    public init(binary bytes: [UInt8]) throws(EnvelopeError) {
        var reader = ByteReader(bytes)
        guard reader.remaining >= Binary.magic.count, Array(reader.take(Binary.magic.count)) == Binary.magic else {
            throw EnvelopeError(.invalidRecord, "not a record: the first 4 bytes are not 'mrec'")
        }
        guard let version = reader.byte() else {
            throw EnvelopeError(.invalidRecord, "the record ends before its version")
        }
        guard version == Binary.recordVersion else {
            throw EnvelopeError(.unsupportedRecordVersion, "record version \(version), this build reads version 1")
        }
        guard bytes.count >= Binary.headerBytes + Binary.trailerBytes else {
            throw EnvelopeError(
                .invalidRecord,
                "\(bytes.count) bytes; a record is at least \(Binary.headerBytes + Binary.trailerBytes)"
            )
        }
        let kindByte = reader.byte()!
        guard let kind = Kind(rawValue: kindByte) else {
            throw EnvelopeError(.invalidRecord, "kind \(kindByte) is neither 1 (inbox) nor 2 (sentbox)")
        }
        let envelopeVersion = reader.byte()!
        guard envelopeVersion == Binary.envelopeVersion else {
            throw EnvelopeError(.invalidRecord, "envelope version \(envelopeVersion), records carry version 1")
        }
        let id = try! MessageID(bytes: reader.take(16))
        let senderBytes = reader.take(32)
        let recipientBytes = reader.take(32)
        let createdAt = Int64(bitPattern: reader.uint64()!)
        let count = Int(reader.uint32()!)
        guard reader.remaining >= count + Binary.trailerBytes else {
            throw EnvelopeError(.invalidRecord, "a \(count)-byte ciphertext runs past the end of the record")
        }
        let ciphertext = Array(reader.take(count))
        let otherHash = Array(reader.take(32))
        let signature = Array(reader.take(64))
        let flags = reader.byte()!
        guard flags & ~Binary.readAtFlag == 0 else {
            throw EnvelopeError(.invalidRecord, "unknown metadata flags \(flags)")
        }
        var readAt: Int64?
        if flags & Binary.readAtFlag != 0 {
            guard let value = reader.uint64() else {
                throw EnvelopeError(.invalidRecord, "the record ends inside read_at")
            }
            readAt = Int64(bitPattern: value)
        }
        guard reader.remaining == 0 else {
            throw EnvelopeError(.invalidRecord, "\(reader.remaining) bytes follow the record")
        }
        let (sender, recipient) = try Self.parties(senderBytes, recipientBytes)
        self.init(
            kind: kind,
            id: id,
            sender: sender,
            recipient: recipient,
            createdAtMilliseconds: createdAt,
            ciphertext: ciphertext,
            otherCiphertextHash: otherHash,
            signature: signature,
            readAtMilliseconds: readAt
        )
    }

    /// Both keys, validated in the order the spec gives: sender, then recipient.
    static func parties(
        _ sender: some Collection<UInt8>,
        _ recipient: some Collection<UInt8>
    ) throws(EnvelopeError)
        -> (PublicKey, PublicKey)
    {
        guard let senderKey = try? PublicKey(bytes: sender) else {
            throw EnvelopeError(.invalidSenderKey, "the sender key is not a valid Ed25519 point")
        }
        guard let recipientKey = try? PublicKey(bytes: recipient) else {
            throw EnvelopeError(.invalidRecipientKey, "the recipient key is not a valid Ed25519 point")
        }
        return (senderKey, recipientKey)
    }
}

/// Reads big-endian fields off a byte array; every read is bounds-checked.
struct ByteReader {
    private let bytes: [UInt8]
    private var offset = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    var remaining: Int { bytes.count - offset }

    /// The next `count` bytes; the caller has checked ``remaining``.
    mutating func take(_ count: Int) -> ArraySlice<UInt8> {
        precondition(count <= remaining)
        defer { offset += count }
        return bytes[offset..<offset + count]
    }

    mutating func byte() -> UInt8? {
        guard remaining >= 1 else { return nil }
        return take(1).first
    }

    mutating func uint32() -> UInt32? {
        guard remaining >= 4 else { return nil }
        return take(4).reduce(0) { $0 << 8 | UInt32($1) }
    }

    mutating func uint64() -> UInt64? {
        guard remaining >= 8 else { return nil }
        return take(8).reduce(0) { $0 << 8 | UInt64($1) }
    }
}

extension [UInt8] {
    mutating func appendBigEndian<T: FixedWidthInteger>(_ value: T) {
        Swift.withUnsafeBytes(of: value.bigEndian) { append(contentsOf: $0) }
    }
}
