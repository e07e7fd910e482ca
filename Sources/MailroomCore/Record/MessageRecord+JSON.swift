extension MessageRecord {
    /// The `format` member of the JSON form.
    public static let jsonFormat = "mailroom.record.v1"

    /// The record's JSON form: compact, members in the order docs/ENVELOPE.md gives, binary fields in unpadded
    /// base64url, keys as Textile strings, the id in lowercase. Every writer produces the same text.
    public func json() -> String {
        var out: [UInt8] = []
        var keys: [PublicKey: [UInt8]] = [:]
        appendJSON(to: &out, keys: &keys)
        return String(decoding: out, as: UTF8.self)
    }

    /// `[` the JSON form of each record, comma-separated `]`, as UTF-8 in one buffer: the same text as joining
    /// ``json()``'s, written without intermediate strings, each distinct key's Textile string computed once.
    public static func jsonArray(_ records: some Sequence<MessageRecord>) -> [UInt8] {
        var out: [UInt8] = []
        var keys: [PublicKey: [UInt8]] = [:]
        out.append(UInt8(ascii: "["))
        for (index, record) in records.enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            if index == 0 {
                out.reserveCapacity(1 + 1_024 + (record.ciphertext.count * 4 / 3) * records.underestimatedCount)
            }
            record.appendJSON(to: &out, keys: &keys)
        }
        out.append(UInt8(ascii: "]"))
        return out
    }

    /// Appends the JSON form; `keys` caches Textile strings across records.
    private func appendJSON(to out: inout [UInt8], keys: inout [PublicKey: [UInt8]]) {
        func key(_ key: PublicKey) -> [UInt8] {
            if let text = keys[key] { return text }
            let text = Array(key.textileString.utf8)
            keys[key] = text
            return text
        }
        // Every value is a number, `null`, or drawn from an alphabet that needs no JSON escaping.
        out.append(contentsOf: kind == .inbox ? JSONPieces.inboxOpening : JSONPieces.sentboxOpening)
        out.append(contentsOf: id.description.utf8)
        out.append(contentsOf: JSONPieces.sender)
        out.append(contentsOf: key(sender))
        out.append(contentsOf: JSONPieces.recipient)
        out.append(contentsOf: key(recipient))
        out.append(contentsOf: JSONPieces.createdAt)
        JSONPieces.appendDecimal(createdAtMilliseconds, to: &out)
        out.append(contentsOf: JSONPieces.ciphertext)
        Base64URL.append(ciphertext, to: &out)
        out.append(contentsOf: JSONPieces.otherHash)
        Base64URL.append(otherCiphertextHash, to: &out)
        out.append(contentsOf: JSONPieces.signature)
        Base64URL.append(signature, to: &out)
        out.append(contentsOf: JSONPieces.readAt)
        if let readAtMilliseconds {
            JSONPieces.appendDecimal(readAtMilliseconds, to: &out)
        } else {
            out.append(contentsOf: JSONPieces.null)
        }
        out.append(contentsOf: JSONPieces.closing)
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
}

extension MessageRecord {
    /// `mailroom.record.vN` with N written in decimal without a leading zero (at most 9 digits), N ≠ 1.
    static func isOtherRecordVersion(_ format: String) -> Bool {
        let prefix = "mailroom.record.v"
        guard format.hasPrefix(prefix) else { return false }
        let digits = Array(format.utf8.dropFirst(prefix.utf8.count))
        guard (1...9).contains(digits.count), digits.allSatisfy({ (0x30...0x39).contains($0) }), digits[0] != 0x30
        else {
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
            scalar.isASCII
                && (scalar.properties.isAlphabetic || ("0"..."9").contains(scalar)
                    || "_-.".unicodeScalars.contains(scalar))
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

/// The constant text between a record's JSON values, as bytes once.
private enum JSONPieces {
    static let inboxOpening = opening(.inbox)
    static let sentboxOpening = opening(.sentbox)
    static let sender = Array(#"","sender":""#.utf8)
    static let recipient = Array(#"","recipient":""#.utf8)
    static let createdAt = Array(#"","created_at_ms":"#.utf8)
    static let ciphertext = Array(#","ciphertext":""#.utf8)
    static let otherHash = Array(#"","other_ciphertext_hash":""#.utf8)
    static let signature = Array(#"","signature":""#.utf8)
    static let readAt = Array(#"","metadata":{"read_at_ms":"#.utf8)
    static let null = Array("null".utf8)
    static let closing = Array("}}".utf8)

    static func opening(_ kind: MessageRecord.Kind) -> [UInt8] {
        Array(#"{"format":"\#(MessageRecord.jsonFormat)","kind":"\#(kind.name)","envelope_version":1,"id":""#.utf8)
    }

    /// Appends `value` in decimal (a leading `-` when negative), as `String(value)` would.
    static func appendDecimal(_ value: Int64, to out: inout [UInt8]) {
        if value < 0 { out.append(UInt8(ascii: "-")) }
        var magnitude = value.magnitude
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)  // 19 digits at most, kept on the stack
        var count = 0
        withUnsafeMutableBytes(of: &digits) { buffer in
            repeat {
                buffer[count] = UInt8(ascii: "0") + UInt8(magnitude % 10)
                magnitude /= 10
                count += 1
            } while magnitude > 0
            for index in stride(from: count - 1, through: 0, by: -1) { out.append(buffer[index]) }
        }
    }
}
