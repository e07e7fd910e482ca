extension Envelope {
    /// Decrypts the body for `identity`: the recipient's copy if it is the recipient, the sentbox copy if it is
    /// the sender. The envelope is already verified (it cannot exist otherwise).
    ///
    /// - Throws: ``EnvelopeError`` with code ``EnvelopeError/Code/notAParty`` or
    ///   ``EnvelopeError/Code/decryptionFailed``.
    public func open(with identity: Identity) throws(EnvelopeError) -> [UInt8] {
        let range: Range<Int>
        if identity.publicKey == recipient {
            range = recipientCiphertextRange
        } else if identity.publicKey == sender {
            range = senderCiphertextRange
        } else {
            throw EnvelopeError(.notAParty, "the identity is neither the sender nor the recipient")
        }
        return try storage.withUnsafeBytes { all in
            TextileBox.openResult(UnsafeRawBufferPointer(rebasing: all[range]), with: identity)
        }.get()
    }

    /// What the worker writes to the recipient's inbox: enough to verify the signature without the sender copy.
    public var inboxCopy: InboxCopy {
        InboxCopy(
            id: id,
            sender: sender,
            recipient: recipient,
            createdAtMilliseconds: createdAtMilliseconds,
            recipientCiphertext: recipientCiphertext,
            senderCiphertextHash: senderCiphertextHash,
            signature: signature
        )
    }

    /// What the worker writes to the sender's sentbox: enough to verify the signature without the recipient copy.
    public var sentboxCopy: SentboxCopy {
        SentboxCopy(
            id: id,
            sender: sender,
            recipient: recipient,
            createdAtMilliseconds: createdAtMilliseconds,
            senderCiphertext: senderCiphertext,
            recipientCiphertextHash: recipientCiphertextHash,
            signature: signature
        )
    }
}
