/// Multibase base32 as Textile (and libp2p) writes keys: prefix `b`, RFC 4648 lowercase alphabet, no padding.
enum Multibase {
    private static let alphabet = Array("abcdefghijklmnopqrstuvwxyz234567".utf8)

    static func encodeBase32(_ bytes: some Collection<UInt8>) -> String {
        var out: [UInt8] = [UInt8(ascii: "b")]
        out.reserveCapacity(1 + (bytes.count * 8 + 4) / 5)
        var buffer: UInt32 = 0
        var bits = 0
        for byte in bytes {
            buffer = (buffer << 8) | UInt32(byte)
            bits += 8
            while bits >= 5 {
                bits -= 5
                out.append(alphabet[Int((buffer >> UInt32(bits)) & 31)])
            }
        }
        if bits > 0 {
            out.append(alphabet[Int((buffer << UInt32(5 - bits)) & 31)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Decodes a `b`-prefixed base32 string strictly: lowercase only, no padding, a length that some byte count
    /// produces, and zero leftover bits (so every byte string has exactly one encoding).
    static func decodeBase32(_ string: String) throws(KeyError) -> [UInt8] {
        let utf8 = string.utf8
        guard let first = utf8.first, first == UInt8(ascii: "b") else {
            throw KeyError(.invalidMultibasePrefix, "expected a multibase base32 string starting with 'b'")
        }
        let symbols = utf8.count - 1
        // 5 bits per symbol; a trailing group of 1, 3 or 6 symbols cannot come from whole bytes.
        guard [0, 2, 4, 5, 7].contains(symbols % 8) else {
            throw KeyError(.invalidBase32, "\(symbols) base32 symbols is not a length any byte string encodes to")
        }
        var out: [UInt8] = []
        out.reserveCapacity(symbols * 5 / 8)
        var buffer: UInt32 = 0
        var bits = 0
        var position = 0
        for c in utf8.dropFirst() {
            position += 1
            let value: UInt8
            switch c {
            case UInt8(ascii: "a")...UInt8(ascii: "z"): value = c - UInt8(ascii: "a")
            case UInt8(ascii: "2")...UInt8(ascii: "7"): value = c - UInt8(ascii: "2") + 26
            default:
                throw KeyError(
                    .invalidBase32,
                    "character at position \(position) is outside the lowercase base32 alphabet (a-z, 2-7)"
                )
            }
            buffer = (buffer << 5) | UInt32(value)
            bits += 5
            if bits >= 8 {
                bits -= 8
                out.append(UInt8(truncatingIfNeeded: buffer >> UInt32(bits)))
            }
        }
        if bits > 0 && buffer & ((1 << UInt32(bits)) - 1) != 0 {
            throw KeyError(.invalidBase32, "non-zero padding bits at the end of the base32 string")
        }
        return out
    }
}
