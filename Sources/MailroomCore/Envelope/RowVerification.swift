/// The signature check for a single mailbox row (``InboxCopy`` or ``SentboxCopy``): the row's own ciphertext is
/// hashed, the other copy's hash is taken from the row, and the envelope's signed message is rebuilt from both.
import MailroomEd25519

enum RowVerification {
    static func verify(
        id: MessageID,
        sender: PublicKey,
        recipient: PublicKey,
        createdAt: Int64,
        ownCiphertext: [UInt8],
        otherHash: [UInt8],
        ownIsRecipient: Bool,
        signature: [UInt8],
        limits: EnvelopeLimits,
        verifier: Ed25519Verifier
    ) throws(EnvelopeError) {
        guard createdAt == id.milliseconds else {
            throw EnvelopeError(
                .invalidMessageID,
                "created_at \(createdAt) differs from the id's time \(id.milliseconds)"
            )
        }
        if let error = EnvelopeLayout.checkCiphertextLength(
            ownCiphertext.count,
            limits: limits,
            which: ownIsRecipient ? "recipient" : "sender"
        ) {
            throw error
        }
        guard let other = Bytes32(otherHash) else {
            throw EnvelopeError(.invalidFieldLength, "a ciphertext hash is 32 bytes, got \(otherHash.count)")
        }
        guard signature.count == EnvelopeLayout.signatureBytes else {
            throw EnvelopeError(.invalidFieldLength, "a signature is 64 bytes, got \(signature.count)")
        }
        let own = SodiumHash.blake2b256(ownCiphertext)
        let verifies = signature.withUnsafeBytes { sig in
            EnvelopeLayout.signatureVerifies(
                id: id,
                sender: sender.raw,
                recipient: recipient.raw,
                createdAt: createdAt,
                recipientCiphertextHash: ownIsRecipient ? own : other,
                senderCiphertextHash: ownIsRecipient ? other : own,
                signature: sig.baseAddress!,
                verifier: verifier
            )
        }
        guard verifies else {
            throw EnvelopeError(.badSignature, "the signature does not verify against the sender key")
        }
    }
}
