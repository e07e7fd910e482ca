internal import CSodium

/// The operating system's CSPRNG through libsodium (`randombytes_buf`).
enum SodiumRandom {
    static func fill(_ buffer: UnsafeMutableRawBufferPointer) {
        Sodium.ensureInitialized()
        guard buffer.count > 0 else { return }
        randombytes_buf(buffer.baseAddress!, buffer.count)
    }

    static func bytes(_ count: Int) -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            fill(UnsafeMutableRawBufferPointer(buffer))
            initialized = count
        }
    }
}
