public import Foundation

/// The signed header of a batch envelope (format v2), shared by every record of the batch.
///
/// A value exists only for a batch that was sealed here or whose signature verified (it comes from
/// ``BatchEnvelope``, ``BatchRecipientEnvelope`` or ``BatchSenderCopy``). Layout: docs/ENVELOPE.md,
/// "Batch envelopes (format v2)".
public struct BatchHeader: Sendable, Hashable {
    /// How the body reaches the recipients.
    public enum Kind: UInt8, Sendable, Hashable, CaseIterable {
        /// One body encrypted once under a content key, the key wrapped to each recipient.
        case shared = 1
        /// A body per recipient, each sealed to its recipient as in envelope v1.
        case personalised = 2

        /// `shared` or `personalised`.
        public var name: String { self == .shared ? "shared" : "personalised" }
    }

    /// Shared or personalised.
    public let kind: Kind
    /// The batch id (a ULID); the sentbox entry's id.
    public let batchID: MessageID
    /// Who sealed and signed the batch.
    public let sender: PublicKey
    /// Creation time, Unix milliseconds; equal to the batch id's time and to every recipient message's.
    public let createdAtMilliseconds: Int64
    /// How many recipients (leaves) the batch has: 1 through ``BatchLimits/formatMaxRecipients``.
    public let recipientCount: Int
    let ephemeralPublicKey: Bytes32
    let payloadHash: Bytes32
    let senderCopyHash: Bytes32

    init(
        kind: Kind,
        batchID: MessageID,
        sender: PublicKey,
        recipientCount: Int,
        ephemeralPublicKey: Bytes32,
        payloadHash: Bytes32,
        senderCopyHash: Bytes32
    ) {
        self.kind = kind
        self.batchID = batchID
        self.sender = sender
        self.createdAtMilliseconds = batchID.milliseconds
        self.recipientCount = recipientCount
        self.ephemeralPublicKey = ephemeralPublicKey
        self.payloadHash = payloadHash
        self.senderCopyHash = senderCopyHash
    }

    /// Reads a header whose structure has been checked (``BatchParsing/head(_:limits:part:)``) and whose sender
    /// key has been validated.
    init(checked bytes: ArraySlice<UInt8>) {
        typealias L = BatchLayout
        let b = Array(bytes)
        kind = Kind(rawValue: b[L.kindOffset])!
        batchID = b.withUnsafeBytes { MessageID(copying: $0.baseAddress! + L.batchIDOffset) }
        sender = PublicKey(validated: Bytes32(b[L.senderOffset..<L.senderOffset + 32])!)
        createdAtMilliseconds = Int64(bitPattern: b.bigEndianUInt64(at: L.createdAtOffset))
        recipientCount = Int(b.bigEndianUInt32(at: L.recipientCountOffset))
        ephemeralPublicKey = Bytes32(b[L.ephemeralPublicOffset..<L.ephemeralPublicOffset + 32])!
        payloadHash = Bytes32(b[L.payloadHashOffset..<L.payloadHashOffset + 32])!
        senderCopyHash = Bytes32(b[L.senderCopyHashOffset..<L.senderCopyHashOffset + 32])!
    }

    /// The creation time as a `Date`.
    public var createdAt: Date { Date(timeIntervalSince1970: Double(createdAtMilliseconds) / 1000) }

    /// The batch's ephemeral X25519 public key (shared batches; 32 zero bytes in a personalised batch).
    public var ephemeralPublicKeyBytes: [UInt8] { ephemeralPublicKey.bytes }

    /// BLAKE2b-256 of the shared payload (shared batches; 32 zero bytes in a personalised batch). A store keeps
    /// one copy of the payload under this hash.
    public var payloadHashBytes: [UInt8] { payloadHash.bytes }

    /// BLAKE2b-256 of the sender's copy (the body sealed to the sender once, for the sentbox).
    public var senderCopyHashBytes: [UInt8] { senderCopyHash.bytes }

    /// The 158 header bytes, as signed.
    public func serialized() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(BatchLayout.headerBytes)
        out.append(BatchLayout.version)
        out.append(kind.rawValue)
        out += batchID.bytes
        out += sender.bytes
        out.appendBigEndian(UInt64(bitPattern: createdAtMilliseconds))
        out.appendBigEndian(UInt32(recipientCount))
        out += ephemeralPublicKey.bytes
        out += payloadHash.bytes
        out += senderCopyHash.bytes
        return out
    }
}

extension [UInt8] {
    func bigEndianUInt32(at offset: Int) -> UInt32 {
        self[offset..<offset + 4].reduce(0) { $0 << 8 | UInt32($1) }
    }

    func bigEndianUInt64(at offset: Int) -> UInt64 {
        self[offset..<offset + 8].reduce(0) { $0 << 8 | UInt64($1) }
    }
}
