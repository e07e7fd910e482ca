/// Batches whose signature has been checked, so that a worker checks each batch's signature once and every other
/// record of the batch with hashes only (its leaf and Merkle path against the root).
///
/// An entry is keyed by BLAKE2b-256 of the signed message (domain, header, root) followed by the signature: a
/// record hits only when its header, root and signature are byte for byte those that verified, so a forged header
/// or signature next to a known root is checked in full (and refused). Only successes are cached; bounded, with
/// FIFO eviction. Thread-safe: share one instance between the threads of a worker.
public final class BatchSignatureCache: Sendable {
    /// The default capacity: 4,096 batches.
    public static let defaultCapacity = 4096

    private let entries: BoundedCache<Bytes32, Bool>

    /// - Parameter capacity: the most batches remembered; at least 1.
    public init(capacity: Int = BatchSignatureCache.defaultCapacity) {
        entries = BoundedCache(capacity: Swift.max(capacity, 1))
    }

    /// Batches remembered.
    public var count: Int { entries.count }

    static func key(signedMessage: [UInt8], signature: ArraySlice<UInt8>) -> Bytes32 {
        SodiumHash.blake2b256(signedMessage + signature)
    }

    func contains(_ key: Bytes32) -> Bool { entries[key] != nil }

    func insert(_ key: Bytes32) { entries.insert(true, for: key) }
}
