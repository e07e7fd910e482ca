internal import CSodium

/// Heap storage for secret bytes (Ed25519 secret keys, X25519 secret keys).
///
/// The bytes are zeroed with `sodium_memzero` when the last reference goes away, compared only in constant time
/// with `sodium_memcmp`, and never printed: `description`, `debugDescription` and the mirror show the length only.
/// The storage is immutable after initialisation, which is what makes it safe to share between threads.
final class SecureBytes: @unchecked Sendable {
    let count: Int
    private let pointer: UnsafeMutableRawPointer

    /// Allocates `count` zeroed bytes and lets `initializer` fill them.
    init(count: Int, initializer: (UnsafeMutableRawBufferPointer) -> Void) {
        self.count = count
        pointer = UnsafeMutableRawPointer.allocate(byteCount: Swift.max(count, 1), alignment: 16)
        pointer.initializeMemory(as: UInt8.self, repeating: 0, count: count)
        initializer(UnsafeMutableRawBufferPointer(start: pointer, count: count))
    }

    deinit {
        sodium_memzero(pointer, count)
        pointer.deallocate()
    }

    /// Gives read access to the secret bytes for the duration of `body`. Do not let the pointer escape.
    func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try body(UnsafeRawBufferPointer(start: pointer, count: count))
    }

    /// Constant-time comparison (`sodium_memcmp`); lengths are public and compared first.
    func constantTimeEquals(_ other: SecureBytes) -> Bool {
        guard count == other.count else { return false }
        return sodium_memcmp(pointer, other.pointer, count) == 0
    }
}

extension SecureBytes: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    var description: String { "SecureBytes(\(count) bytes, redacted)" }
    var debugDescription: String { description }
    var customMirror: Mirror { Mirror(self, children: ["count": count], displayStyle: .class) }
}
