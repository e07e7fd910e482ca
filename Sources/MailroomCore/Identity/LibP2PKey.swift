/// The libp2p protobuf `PublicKey`/`PrivateKey` message that Textile key strings wrap:
/// `0x08 <varint KeyType> 0x12 <varint length> <data>`, with KeyType 1 = Ed25519.
enum LibP2PKey {
    static let ed25519KeyType: UInt64 = 1

    static func encodeEd25519(_ data: some Collection<UInt8>) -> [UInt8] {
        var out: [UInt8] = [0x08, 0x01, 0x12]
        var length = UInt64(data.count)
        while length >= 0x80 {
            out.append(UInt8(truncatingIfNeeded: length) | 0x80)
            length >>= 7
        }
        out.append(UInt8(length))
        out.append(contentsOf: data)
        return out
    }

    /// Returns where the key data of an Ed25519 key message lies. Strict: exactly these two fields, in this order,
    /// nothing after. Returns a range rather than a slice so that no second reference to a secret buffer exists
    /// (which would defeat zeroing it in place).
    static func decodeEd25519(_ bytes: [UInt8]) throws(KeyError) -> Range<Int> {
        var index = 0
        guard bytes.count >= 2, bytes[0] == 0x08 else {
            throw KeyError(.invalidProtobuf, "key message does not start with the key type field (0x08)")
        }
        index = 1
        let keyType = try readVarint(bytes, &index)
        guard keyType == ed25519KeyType else {
            throw KeyError(.unsupportedKeyType, "key type \(keyType) is not Ed25519 (1)")
        }
        guard index < bytes.count, bytes[index] == 0x12 else {
            throw KeyError(.invalidProtobuf, "key type is not followed by the data field (0x12)")
        }
        index += 1
        let length = try readVarint(bytes, &index)
        guard length == UInt64(bytes.count - index) else {
            throw KeyError(
                .invalidProtobuf,
                "data field declares \(length) bytes but \(bytes.count - index) follow"
            )
        }
        return index..<bytes.count
    }

    private static func readVarint(_ bytes: [UInt8], _ index: inout Int) throws(KeyError) -> UInt64 {
        var value: UInt64 = 0
        var shift: UInt64 = 0
        while index < bytes.count {
            let byte = bytes[index]
            index += 1
            value |= UInt64(byte & 0x7f) << shift
            if byte & 0x80 == 0 { return value }
            shift += 7
            if shift > 28 { break }
        }
        throw KeyError(.invalidProtobuf, "truncated or oversized varint in key message")
    }
}
