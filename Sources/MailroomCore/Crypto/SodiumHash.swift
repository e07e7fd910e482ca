internal import CSodium

/// BLAKE2b-256 (`crypto_generichash` with a 32-byte output and no key): the ciphertext hash in signed envelopes.
enum SodiumHash {
    static func blake2b256(_ input: UnsafeRawBufferPointer) -> Bytes32 {
        Sodium.ensureInitialized()
        var digest = Bytes32()
        withUnsafeMutableBytes(of: &digest) { out in
            _ = crypto_generichash(out.u8, 32, input.u8, UInt64(input.count), nil, 0)
        }
        return digest
    }

    static func blake2b256(_ input: [UInt8]) -> Bytes32 {
        input.withUnsafeBytes { blake2b256($0) }
    }
}
