extension Identity {
    /// Reads a Textile private key string: multibase base32 of the libp2p protobuf Ed25519 private key
    /// (`bbaareq…`, data = seed || public key), or the legacy 96-byte form seed || public || public (`bbaarey…`).
    ///
    /// The embedded public key must equal the one derived from the seed.
    /// - Throws: ``KeyError`` saying what is wrong: ``KeyError/Code/invalidMultibasePrefix``,
    ///   ``KeyError/Code/invalidBase32``, ``KeyError/Code/invalidProtobuf``, ``KeyError/Code/unsupportedKeyType``,
    ///   ``KeyError/Code/invalidKeyLength`` or ``KeyError/Code/mismatchedPublicKey``.
    public init(textileString: String) throws(KeyError) {
        var message = try Multibase.decodeBase32(textileString)
        defer { message.withUnsafeMutableBytes { SodiumSign.zero($0) } }
        let data = try LibP2PKey.decodeEd25519(message)
        guard data.count == 64 || data.count == 96 else {
            throw KeyError(
                .invalidKeyLength,
                "an Ed25519 private key holds 64 bytes of data (or 96 in the legacy form), this one \(data.count)"
            )
        }
        let start = data.lowerBound
        let identity = message.withUnsafeBytes { all in
            Identity(seed: UnsafeRawBufferPointer(rebasing: all[start..<start + 32]))
        }
        let derived = identity.publicKey.raw
        let halves = data.count == 64 ? [start + 32] : [start + 32, start + 64]
        for offset in halves {
            let matches = message.withUnsafeBytes { all in
                withUnsafeBytes(of: derived) { d in
                    SodiumSign.constantTimeEquals(UnsafeRawBufferPointer(rebasing: all[offset..<offset + 32]), d)
                }
            }
            guard matches else {
                throw KeyError(
                    .mismatchedPublicKey,
                    "the public key embedded in the private key does not match the one derived from its seed"
                )
            }
        }
        self = identity
    }

    /// The Textile private key string (`bbaareq…`, 64-byte form seed || public key).
    ///
    /// This string **is the secret key**: store it as such, never log it.
    public func exportTextileString() -> String {
        secretKey.withUnsafeBytes { secret in
            var message = LibP2PKey.encodeEd25519(secret)
            defer { message.withUnsafeMutableBytes { SodiumSign.zero($0) } }
            return Multibase.encodeBase32(message)
        }
    }
}
