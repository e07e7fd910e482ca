/// Thirty-two bytes held inline: a public key, a point's encoding, a scalar. The four words are the bytes in memory
/// order, so `withUnsafeBytes(of:)` yields the bytes as they appear on the wire; hashing and equality use the words.
///
/// MailroomCore has its own `Bytes32`; this module keeps a copy of the few lines it needs so that it depends on
/// nothing of Mailroom's.
package struct Encoded32: Hashable, Sendable {
    var w0: UInt64 = 0
    var w1: UInt64 = 0
    var w2: UInt64 = 0
    var w3: UInt64 = 0

    package init() {}

    /// Copies 32 bytes from `pointer` (no alignment required).
    package init(copying pointer: UnsafeRawPointer) {
        self = pointer.loadUnaligned(as: Encoded32.self)
    }

    /// Copies exactly 32 bytes; nil for any other count.
    package init?(_ bytes: [UInt8]) {
        guard bytes.count == 32 else { return nil }
        self = bytes.withUnsafeBytes { Encoded32(copying: $0.baseAddress!) }
    }

    package var bytes: [UInt8] { withUnsafeBytes(of: self) { Array($0) } }
}
