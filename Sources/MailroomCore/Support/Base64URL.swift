/// Base64url (RFC 4648 §5) without padding, strict: the portable record's JSON form.
enum Base64URL {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)
    private static let values: [Int8] = {
        var table = [Int8](repeating: -1, count: 256)
        for (index, c) in alphabet.enumerated() { table[Int(c)] = Int8(index) }
        return table
    }()

    static func encode(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        append(bytes, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// Appends the unpadded base64url of `bytes` to `out`.
    static func append(_ bytes: [UInt8], to out: inout [UInt8]) {
        let length = (bytes.count * 4 + 2) / 3
        let start = out.count
        out.append(contentsOf: repeatElement(0, count: length))
        alphabet.withUnsafeBufferPointer { alphabet in
            bytes.withUnsafeBufferPointer { input in
                out.withUnsafeMutableBufferPointer { output in
                    var o = start
                    var index = 0
                    func put(_ n: UInt32, _ shift: UInt32) {
                        output[o] = alphabet[Int((n >> shift) & 63)]
                        o += 1
                    }
                    while index + 3 <= input.count {
                        let n = UInt32(input[index]) << 16 | UInt32(input[index + 1]) << 8 | UInt32(input[index + 2])
                        put(n, 18)
                        put(n, 12)
                        put(n, 6)
                        put(n, 0)
                        index += 3
                    }
                    let rest = input.count - index
                    if rest == 1 {
                        let n = UInt32(input[index]) << 16
                        put(n, 18)
                        put(n, 12)
                    } else if rest == 2 {
                        let n = UInt32(input[index]) << 16 | UInt32(input[index + 1]) << 8
                        put(n, 18)
                        put(n, 12)
                        put(n, 6)
                    }
                }
            }
        }
    }

    /// Decodes unpadded base64url. Returns nil for padding, a character outside the alphabet, an impossible
    /// length (4k + 1) or unused low bits that are not zero, so every byte string has exactly one encoding.
    static func decode(_ text: String) -> [UInt8]? {
        let utf8 = Array(text.utf8)
        guard utf8.count % 4 != 1 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(utf8.count * 3 / 4)
        var accumulator: UInt32 = 0
        var bits = 0
        for c in utf8 {
            let value = values[Int(c)]
            guard value >= 0 else { return nil }
            accumulator = accumulator << 6 | UInt32(value)
            bits += 6
            if bits >= 8 {
                bits -= 8
                out.append(UInt8(truncatingIfNeeded: accumulator >> UInt32(bits)))
            }
        }
        // Leftover bits (2 or 4) must be zero.
        guard accumulator & ((1 << UInt32(bits)) - 1) == 0 else { return nil }
        return out
    }
}
