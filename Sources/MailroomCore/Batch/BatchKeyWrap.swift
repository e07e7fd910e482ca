/// The shared body of a batch: the content key that encrypts the payload once, wrapped to each recipient.
enum BatchKeyWrap {
    /// Unwraps the content key for `identity` (the recipient at `index`) and decrypts the payload.
    static func openShared(
        payload: ArraySlice<UInt8>,
        wrappedKey: ArraySlice<UInt8>,
        header: BatchHeader,
        index: Int,
        identity: Identity
    ) throws(EnvelopeError) -> [UInt8] {
        let nonce = BatchLayout.wrapNonce(batchID: header.batchID, index: index)
        var unwrapped = false
        let wrapped = Array(wrappedKey)
        // The key is unwrapped straight into its zeroed-on-release storage (immutable afterwards).
        let contentKey = SecureBytes(count: SodiumKeyWrap.contentKeyBytes) { key in
            withUnsafeTemporaryAllocation(byteCount: SodiumKeyWrap.sharedKeyBytes, alignment: 16) { shared in
                defer { SodiumSign.zero(shared) }
                let agreed = identity.curveSecretKey.withUnsafeBytes {
                    SodiumKeyWrap.sharedKey(publicKey: header.ephemeralPublicKey, secretKey: $0, into: shared)
                }
                guard agreed else { return }
                wrapped.withUnsafeBytes { wrapped in
                    nonce.withUnsafeBytes { nonce in
                        unwrapped = SodiumKeyWrap.unwrap(
                            wrapped,
                            nonce: nonce,
                            sharedKey: UnsafeRawBufferPointer(shared),
                            into: key
                        )
                    }
                }
            }
        }
        guard unwrapped else {
            throw EnvelopeError(.decryptionFailed, "the content key does not unwrap with this identity's key")
        }
        let sealed = Array(payload)
        let additionalData = header.batchID.bytes
        var opened = false
        var plain = [UInt8](unsafeUninitializedCapacity: sealed.count - SodiumKeyWrap.payloadOverhead) {
            buffer,
            initialized in
            contentKey.withUnsafeBytes { key in
                sealed.withUnsafeBytes { sealed in
                    additionalData.withUnsafeBytes { ad in
                        opened = SodiumKeyWrap.decrypt(
                            sealed,
                            additionalData: ad,
                            key: key,
                            into: UnsafeMutableRawBufferPointer(buffer)
                        )
                    }
                }
            }
            initialized = buffer.count
        }
        guard opened else {
            plain.withUnsafeMutableBytes { SodiumSign.zero($0) }
            throw EnvelopeError(.decryptionFailed, "the shared payload does not open with the content key")
        }
        return plain
    }
}
