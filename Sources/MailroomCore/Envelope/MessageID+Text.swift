extension MessageID: CustomStringConvertible, LosslessStringConvertible {
    private static let alphabet = Array("0123456789abcdefghjkmnpqrstvwxyz".utf8)

    /// The 26-character lowercase Crockford base32 form, as Textile writes ULIDs.
    public var description: String {
        var out = [UInt8](repeating: 0, count: 26)
        for index in 0..<26 {
            let shift = UInt128(5 * (25 - index))
            out[index] = MessageID.alphabet[Int(truncatingIfNeeded: (value >> shift) & 31)]
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Reads the 26-character Crockford base32 form (either case); returns nil if it is not one.
    public init?(_ description: String) {
        try? self.init(string: description)
    }

    /// Reads the 26-character Crockford base32 form, accepting upper- and lowercase (but not I, L, O, U).
    ///
    /// - Throws: ``EnvelopeError`` with code ``EnvelopeError/Code/invalidMessageID``.
    public init(string: String) throws(EnvelopeError) {
        let utf8 = Array(string.utf8)
        guard utf8.count == 26 else {
            throw EnvelopeError(.invalidMessageID, "a ULID is 26 characters, got \(utf8.count)")
        }
        var value: UInt128 = 0
        for (position, c) in utf8.enumerated() {
            let lower = (c >= UInt8(ascii: "A") && c <= UInt8(ascii: "Z")) ? c + 32 : c
            guard let digit = MessageID.alphabet.firstIndex(of: lower) else {
                throw EnvelopeError(.invalidMessageID, "character \(position) is not Crockford base32")
            }
            if position == 0 && digit > 7 {
                throw EnvelopeError(.invalidMessageID, "the first character overflows 128 bits")
            }
            value = value << 5 | UInt128(digit)
        }
        self.init(value: value)
    }
}
