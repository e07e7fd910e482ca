extension PublicKey {
    /// Reads a Textile public key string: multibase base32 (`b…`) of the libp2p protobuf Ed25519 public key.
    ///
    /// Such strings start with `bbaarei`.
    /// - Throws: ``KeyError`` saying what is wrong: ``KeyError/Code/invalidMultibasePrefix``,
    ///   ``KeyError/Code/invalidBase32``, ``KeyError/Code/invalidProtobuf``, ``KeyError/Code/unsupportedKeyType``,
    ///   ``KeyError/Code/invalidKeyLength`` or ``KeyError/Code/invalidPoint``.
    public init(textileString: String) throws(KeyError) {
        let message = try Multibase.decodeBase32(textileString)
        let data = try LibP2PKey.decodeEd25519(message)
        guard data.count == 32 else {
            throw KeyError(.invalidKeyLength, "an Ed25519 public key holds 32 bytes of data, this one \(data.count)")
        }
        try self.init(bytes: message[data])
    }

    /// The Textile key string: multibase base32 of the libp2p protobuf Ed25519 public key (`bbaarei…`).
    public var textileString: String {
        Multibase.encodeBase32(LibP2PKey.encodeEd25519(raw.bytes))
    }
}
