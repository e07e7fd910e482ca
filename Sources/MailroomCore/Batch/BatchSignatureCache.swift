internal import Synchronization

#if canImport(Glibc)
internal import Glibc
#elseif canImport(Darwin)
internal import Darwin
#endif

/// What a worker has already checked of batches, so that it checks each batch's signature once and every other
/// record of the batch with as few hashes as its bytes allow. Thread-safe: share one instance between the threads
/// of a worker. Each part is bounded; a miss only means the full check runs.
///
/// - **Signatures**: by root, up to four heads (header, root, signature) that verified. A record skips the
///   signature check only when its head is byte for byte one that verified, so a forged header or signature next
///   to a known root is checked in full (and refused). Only successes are remembered; several per root, so that
///   another valid head over the same root (anyone can sign a copy of a root with a key of their own) does not
///   push the batch's own head out.
/// - **Shared payloads**: by the header's `payload_hash`, payload bytes that hashed to it. A payload equal to
///   remembered bytes hashes to the same value, so the comparison stands in for the hash.
/// - **Interior nodes**: BLAKE2b-256(`0x01` ‖ left ‖ right) by (left, right), in a direct-mapped table. The
///   records of one batch share the upper part of their paths; the walk from leaf to root stays the same and
///   compares every hash of the record's path as before, only the hashing of a pair already hashed is skipped.
///
/// Each part answers what the hash or the check would: a verdict with the cache equals the verdict without.
public final class BatchSignatureCache: Sendable {
    /// The default capacity: 4,096 batches.
    public static let defaultCapacity = 4096
    /// Slots of the interior-node table, in ``nodeStripes`` stripes with a lock each (104 bytes a slot, 1.7 MiB
    /// in all). Direct-mapped: a batch of the format's largest size (10,000 recipients, 9,999 nodes) loses about
    /// a quarter of its nodes to collisions, which are hashed again.
    static let nodeSlots = 16_384
    static let nodeStripes = 16
    /// Heads remembered per root.
    static let headsPerRoot = 4
    /// Shared payloads remembered, and the largest remembered (bigger ones are hashed every time), so the part
    /// holds at most 4 MiB.
    static let payloadCapacity = 64
    static let largestRememberedPayload = 64 * 1024

    private let heads: BoundedCache<Bytes32, [[UInt8]]>
    private let payloads = BoundedCache<Bytes32, [UInt8]>(capacity: BatchSignatureCache.payloadCapacity)
    /// Direct-mapped by bits of the pair (hash outputs, so evenly spread): a lookup is one slot compared, and a
    /// new pair overwrites its slot. No bookkeeping, which a node memo needs to cost less than the hash it saves.
    private let nodes = (0..<BatchSignatureCache.nodeStripes).map { _ in NodeStripe() }

    private final class NodeStripe: Sendable {
        let slots = Mutex(
            [Node](repeating: Node(), count: BatchSignatureCache.nodeSlots / BatchSignatureCache.nodeStripes)
        )
    }

    private struct Node {
        var left = Bytes32()
        var right = Bytes32()
        var parent = Bytes32()
        var filled = false
    }

    /// - Parameter capacity: the most batches whose signature is remembered; at least 1.
    public init(capacity: Int = BatchSignatureCache.defaultCapacity) {
        heads = BoundedCache(capacity: Swift.max(capacity, 1))
    }

    /// Batches remembered.
    public var count: Int { heads.count }

    /// Whether the head (header ‖ root ‖ signature: the first ``BatchLayout/headBytes``) of `value`, a batch
    /// value at least that long, verified before.
    func verified(headOf value: [UInt8], root: Bytes32) -> Bool {
        guard let known = heads[root] else { return false }
        return value.withUnsafeBytes { all in
            let head = UnsafeRawBufferPointer(rebasing: all[0..<BatchLayout.headBytes])
            return known.contains { Self.same($0, head) }
        }
    }

    /// Remembers the head of `value`, whose signature verified (the oldest of its root's goes when the root has
    /// four).
    func insert(headOf value: [UInt8], root: Bytes32) {
        let head = Array(value[0..<BatchLayout.headBytes])
        var known = heads[root] ?? []
        guard !known.contains(head) else { return }
        if known.count == Self.headsPerRoot { known.removeFirst() }
        known.append(head)
        heads.insert(known, for: root)
    }

    /// Whether `payload` hashes to `hash`: remembered bytes compared, else hashed (and remembered if it does).
    func payload(_ payload: UnsafeRawBufferPointer, hashesTo hash: Bytes32) -> Bool {
        if let known = payloads[hash], Self.same(known, payload) { return true }
        guard SodiumHash.blake2b256(payload) == hash else { return false }
        if payload.count <= Self.largestRememberedPayload { payloads.insert(Array(payload), for: hash) }
        return true
    }

    /// ``BatchLayout/nodeHash(_:_:)``, remembered.
    func nodeHash(_ left: Bytes32, _ right: Bytes32) -> Bytes32 {
        let index = Int(truncatingIfNeeded: left.w0 ^ right.w1) & (Self.nodeSlots - 1)
        let stripe = nodes[index % Self.nodeStripes]
        let slot = index / Self.nodeStripes
        let known = stripe.slots.withLock { table -> Bytes32? in
            let node = table[slot]
            return node.filled && node.left == left && node.right == right ? node.parent : nil
        }
        if let known { return known }
        let hash = BatchLayout.nodeHash(left, right)
        stripe.slots.withLock { $0[slot] = Node(left: left, right: right, parent: hash, filled: true) }
        return hash
    }

    private static func same(_ known: [UInt8], _ bytes: UnsafeRawBufferPointer) -> Bool {
        known.count == bytes.count
            && known.withUnsafeBytes { memcmp($0.baseAddress!, bytes.baseAddress!, bytes.count) == 0 }
    }
}
