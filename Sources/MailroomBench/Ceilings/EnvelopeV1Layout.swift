internal import CSodium

/// Envelope v1's byte layout, as docs/ENVELOPE.md specifies it, for the bare ceilings: they build and check
/// envelope-shaped work with libsodium alone, so that a figure compares Mailroom with the same bytes done by
/// hand.
///
///     version u8 | id 16 | sender 32 | recipient 32 | created_at i64 BE
///     | recipient_ct_len u32 BE | recipient_ct | sender_ct_len u32 BE | sender_ct | signature 64
enum EnvelopeV1Layout {
    static let version: UInt8 = 1
    static let idOffset = 1
    static let senderOffset = 17
    static let recipientOffset = 49
    static let createdAtOffset = 81
    /// version through created_at.
    static let headerBytes = 89
    /// The signed message's domain separation prefix: `mailroom/envelope/v1` and a NUL.
    static let domain: [UInt8] = Array("mailroom/envelope/v1".utf8) + [0]
    /// domain(21) || header(89) || BLAKE2b-256(recipient_ct)(32) || BLAKE2b-256(sender_ct)(32).
    static let signedMessageBytes = 21 + headerBytes + 32 + 32
    /// What a sealed box adds to a body.
    static let sealedOverhead = Int(crypto_box_sealbytes())

    /// Writes the 89-byte header at `pointer`.
    static func writeHeader(
        to pointer: UnsafeMutableRawPointer,
        id: [UInt8],
        sender: UnsafeRawPointer,
        recipient: UnsafeRawPointer,
        createdAt: Int64
    ) {
        pointer.storeBytes(of: version, as: UInt8.self)
        id.withUnsafeBytes { (pointer + idOffset).copyMemory(from: $0.baseAddress!, byteCount: 16) }
        (pointer + senderOffset).copyMemory(from: sender, byteCount: 32)
        (pointer + recipientOffset).copyMemory(from: recipient, byteCount: 32)
        pointer.storeBytes(of: createdAt.bigEndian, toByteOffset: createdAtOffset, as: Int64.self)
    }
}

/// libsodium takes `unsigned char *`; the ceilings work with raw pointers.
extension UnsafeRawPointer {
    @inline(__always) var u8: UnsafePointer<UInt8> { assumingMemoryBound(to: UInt8.self) }
}

extension UnsafeMutableRawPointer {
    @inline(__always) var u8: UnsafeMutablePointer<UInt8> { assumingMemoryBound(to: UInt8.self) }
}

extension UnsafeRawBufferPointer {
    /// The base address, or a valid dangling pointer for an empty buffer (libsodium accepts any pointer for length 0).
    @inline(__always) var u8: UnsafePointer<UInt8> {
        (baseAddress ?? UnsafeRawPointer(bitPattern: 1)!).assumingMemoryBound(to: UInt8.self)
    }
}

extension UnsafeMutableRawBufferPointer {
    @inline(__always) var u8: UnsafeMutablePointer<UInt8> {
        (baseAddress ?? UnsafeMutableRawPointer(bitPattern: 1)!).assumingMemoryBound(to: UInt8.self)
    }
}
