/// Thirty-two bytes held inline (no heap allocation): public keys, X25519 keys and BLAKE2b-256 digests.
///
/// The four words are the bytes in memory order, so `withUnsafeBytes(of:)` yields the 32 bytes as they appear
/// on the wire. Hashing and equality work on the words; ordering compares bytes lexicographically.
struct Bytes32: Hashable, Sendable {
    var w0: UInt64 = 0
    var w1: UInt64 = 0
    var w2: UInt64 = 0
    var w3: UInt64 = 0

    static let byteCount = 32

    init() {}

    /// Copies 32 bytes from `pointer` (no alignment required).
    init(copying pointer: UnsafeRawPointer) {
        self = pointer.loadUnaligned(as: Bytes32.self)
    }

    /// Copies exactly 32 bytes from a collection; returns nil if it holds a different count.
    init?(_ bytes: some Collection<UInt8>) {
        guard bytes.count == Bytes32.byteCount else { return nil }
        // Contiguous storage (an array, a buffer) is one 32-byte load; the generic element-by-element copy
        // below is unspecialised across modules and costs far more (it showed in query-library profiles).
        if let value = bytes.withContiguousStorageIfAvailable({ Bytes32(copying: UnsafeRawPointer($0.baseAddress!)) }) {
            self = value
            return
        }
        var value = Bytes32()
        withUnsafeMutableBytes(of: &value) { buffer in
            _ = buffer.initializeMemory(as: UInt8.self, from: bytes)
        }
        self = value
    }

    var bytes: [UInt8] {
        withUnsafeBytes(of: self) { Array($0) }
    }

    func withBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try withUnsafeBytes(of: self, body)
    }

    /// Lexicographic comparison of the bytes.
    static func lexicographicallyPrecedes(_ lhs: Bytes32, _ rhs: Bytes32) -> Bool {
        // `.bigEndian` of a word loaded in memory order is a number whose numeric order is the bytes' order,
        // on little- and big-endian machines alike.
        let l = (lhs.w0.bigEndian, lhs.w1.bigEndian, lhs.w2.bigEndian, lhs.w3.bigEndian)
        let r = (rhs.w0.bigEndian, rhs.w1.bigEndian, rhs.w2.bigEndian, rhs.w3.bigEndian)
        return l < r
    }
}
