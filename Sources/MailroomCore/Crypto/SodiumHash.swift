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

/// SHA-256 (libsodium's `crypto_hash_sha256`), for modules that need a digest and no libsodium of their own (the
/// migrations' checksums).
public enum SHA256 {
    /// The 32-byte SHA-256 digest of `bytes`.
    public static func hash(_ bytes: [UInt8]) -> [UInt8] {
        Sodium.ensureInitialized()
        var digest = [UInt8](repeating: 0, count: Int(crypto_hash_sha256_BYTES))
        bytes.withUnsafeBufferPointer { input in
            _ = crypto_hash_sha256(&digest, input.baseAddress, UInt64(input.count))
        }
        return digest
    }
}
