extension MessageRecord {
    /// The `format` member of the JSON form.
    public static let jsonFormat = "mailroom.record.v1"

    /// The record's JSON form: compact, members in the order docs/ENVELOPE.md gives, binary fields in unpadded
    /// base64url, keys as Textile strings, the id in lowercase. Every writer produces the same text.
    public func json() -> String {
        let readAt = readAtMilliseconds.map { String($0) } ?? "null"
        // Every value is a number, `null`, or drawn from an alphabet that needs no JSON escaping.
        return "{\"format\":\"\(Self.jsonFormat)\",\"kind\":\"\(kind.name)\",\"envelope_version\":1,"
            + "\"id\":\"\(id)\",\"sender\":\"\(sender.textileString)\",\"recipient\":\"\(recipient.textileString)\","
            + "\"created_at_ms\":\(createdAtMilliseconds),\"ciphertext\":\"\(Base64URL.encode(ciphertext))\","
            + "\"other_ciphertext_hash\":\"\(Base64URL.encode(otherCiphertextHash))\","
            + "\"signature\":\"\(Base64URL.encode(signature))\",\"metadata\":{\"read_at_ms\":\(readAt)}}"
    }

    /// Parses the JSON form strictly: exactly the specified members with their types, then both keys.
    ///
    /// - Throws: ``EnvelopeError`` with code `invalid_record`, `unsupported_record_version`,
    ///   `invalid_sender_key` or `invalid_recipient_key`.
    public init(json text: String) throws(EnvelopeError) {
        try self.init(json: Array(text.utf8))
    }

    /// Parses the JSON form from UTF-8 bytes. See ``init(json:)-(String)``.
    public init(json bytes: [UInt8]) throws(EnvelopeError) {
        let value: StrictJSON
        do {
            value = try StrictJSON.parse(bytes)
        } catch {
            throw EnvelopeError(.invalidRecord, "not JSON: \(error.detail)")
        }
        guard case .object(let object) = value else {
            throw EnvelopeError(.invalidRecord, "a record is a JSON object")
        }
        var members = JSONMembers(object)
        let format = try members.string("format")
        if format != Self.jsonFormat {
            if Self.isOtherRecordVersion(format) {
                throw EnvelopeError(.unsupportedRecordVersion, "record format \(format), this build reads v1")
            }
            throw EnvelopeError(.invalidRecord, "format is not \(Self.jsonFormat)")
        }
        let kindName = try members.string("kind")
        guard let kind = Kind.allCases.first(where: { $0.name == kindName }) else {
            throw EnvelopeError(.invalidRecord, "kind is neither inbox nor sentbox")
        }
        guard try members.integer("envelope_version") == 1 else {
            throw EnvelopeError(.invalidRecord, "envelope_version is not 1")
        }
        guard let id = MessageID(try members.string("id")) else {
            throw EnvelopeError(.invalidRecord, "id is not a ULID")
        }
        let senderText = try members.string("sender")
        let recipientText = try members.string("recipient")
        let createdAt = try members.integer("created_at_ms")
        let ciphertext = try members.base64URL("ciphertext")
        let otherHash = try members.base64URL("other_ciphertext_hash")
        let signature = try members.base64URL("signature")
        var metadata = JSONMembers(try members.object("metadata"), path: "metadata.")
        let readAt = try metadata.optionalInteger("read_at_ms")
        try metadata.finish()
        try members.finish()
        guard let sender = try? PublicKey(string: senderText) else {
            throw EnvelopeError(.invalidSenderKey, "the sender is not a valid public key")
        }
        guard let recipient = try? PublicKey(string: recipientText) else {
            throw EnvelopeError(.invalidRecipientKey, "the recipient is not a valid public key")
        }
        self.init(
            kind: kind, id: id, sender: sender, recipient: recipient, createdAtMilliseconds: createdAt,
            ciphertext: ciphertext, otherCiphertextHash: otherHash, signature: signature, readAtMilliseconds: readAt)
    }
}

extension MessageRecord {
    /// `mailroom.record.vN` with N written in decimal without a leading zero (at most 9 digits), N ≠ 1.
    static func isOtherRecordVersion(_ format: String) -> Bool {
        let prefix = "mailroom.record.v"
        guard format.hasPrefix(prefix) else { return false }
        let digits = Array(format.utf8.dropFirst(prefix.utf8.count))
        guard (1...9).contains(digits.count), digits.allSatisfy({ (0x30...0x39).contains($0) }), digits[0] != 0x30 else {
            return false
        }
        return digits != [0x31]
    }
}

extension PublicKey {
    /// Reads a public key written either as a Textile key string (`bbaarei…`) or as 64 hex digits, as records,
    /// the CLI and the API accept them.
    ///
    /// - Throws: ``KeyError`` for a string that is neither, or not a valid point.
    public init(string text: String) throws(KeyError) {
        if text.utf8.count == 64, Hex.decode(text) != nil {
            try self.init(hexString: text)
        } else {
            try self.init(textileString: text)
        }
    }
}

/// Takes members off a JSON object by name and type; ``finish()`` refuses any member not taken.
private struct JSONMembers {
    private var object: [String: StrictJSON]
    private let path: String

    init(_ object: [String: StrictJSON], path: String = "") {
        self.object = object
        self.path = path
    }

    private mutating func take(_ name: String) throws(EnvelopeError) -> StrictJSON {
        guard let value = object.removeValue(forKey: name) else {
            throw EnvelopeError(.invalidRecord, "member \(path)\(name) is missing")
        }
        return value
    }

    mutating func string(_ name: String) throws(EnvelopeError) -> String {
        guard case .string(let value) = try take(name) else {
            throw EnvelopeError(.invalidRecord, "member \(path)\(name) is not a string")
        }
        return value
    }

    mutating func object(_ name: String) throws(EnvelopeError) -> [String: StrictJSON] {
        guard case .object(let value) = try take(name) else {
            throw EnvelopeError(.invalidRecord, "member \(path)\(name) is not an object")
        }
        return value
    }

    mutating func integer(_ name: String) throws(EnvelopeError) -> Int64 {
        guard case .integer(let value) = try take(name) else {
            throw EnvelopeError(.invalidRecord, "member \(path)\(name) is not an integer")
        }
        return value
    }

    mutating func optionalInteger(_ name: String) throws(EnvelopeError) -> Int64? {
        switch try take(name) {
        case .null: return nil
        case .integer(let value): return value
        default: throw EnvelopeError(.invalidRecord, "member \(path)\(name) is neither an integer nor null")
        }
    }

    mutating func base64URL(_ name: String) throws(EnvelopeError) -> [UInt8] {
        guard let bytes = Base64URL.decode(try string(name)) else {
            throw EnvelopeError(.invalidRecord, "member \(path)\(name) is not unpadded base64url")
        }
        return bytes
    }

    /// A member name from outside, safe to print: ASCII letters, digits and `_-.` kept, the rest as `?`, at
    /// most 64 characters.
    static func printable(_ name: String) -> String {
        let kept = name.unicodeScalars.prefix(64).map { scalar -> Character in
            scalar.isASCII && (scalar.properties.isAlphabetic || ("0"..."9").contains(scalar) || "_-.".unicodeScalars.contains(scalar))
                ? Character(scalar) : "?"
        }
        return String(kept) + (name.unicodeScalars.count > 64 ? "…" : "")
    }

    func finish() throws(EnvelopeError) {
        if let extra = object.keys.sorted().first {
            throw EnvelopeError(.invalidRecord, "unknown member \(path)\(Self.printable(extra))")
        }
    }

}
