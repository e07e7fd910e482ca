/// libsodium takes `unsigned char *`; Mailroom works with raw pointers. These helpers do the rebinding in one place.
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
