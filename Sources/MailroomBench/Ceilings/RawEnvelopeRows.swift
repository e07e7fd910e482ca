internal import CSodium
internal import Dispatch

/// Envelope-shaped work for bare libsodium, for `mailroom-bench pipeline`'s bare pipeline: what a hand-written
/// worker must do per envelope, and nothing else.
///
/// Each item has an envelope v1's parts in flat buffers: the signed message's fixed part (domain and header),
/// two random "ciphertexts" of the sealed size, and a real signature by one of `senders` keys. ``verify(_:scratch:)``
/// hashes both ciphertexts with BLAKE2b-256 into the signed message and checks the signature with
/// `crypto_sign_verify_detached`, as the worker must; the hashes are kept for the item's row.
///
/// `@unchecked Sendable`: it owns raw buffers; immutable once built but for the hash slots, which ``verify(_:scratch:)`` writes one item at a time (each item from one thread only).
final class RawEnvelopeRows: @unchecked Sendable {
    let count: Int
    /// Bytes of each ciphertext (the body plus the sealed box's overhead).
    let ciphertextBytes: Int
    /// Bytes of the signed message (``verify(_:scratch:)``'s scratch must hold this many).
    let messageBytes = EnvelopeV1Layout.signedMessageBytes
    private let prefixBytes = EnvelopeV1Layout.signedMessageBytes - 64
    private let prefixes: UnsafeMutableRawBufferPointer
    private let ciphertexts: UnsafeMutableRawBufferPointer
    private let signatures: UnsafeMutableRawBufferPointer
    private let hashes: UnsafeMutableRawBufferPointer
    /// Milliseconds since the Unix epoch, per item (the id's time).
    let createdAtMilliseconds: [Int64]

    /// Builds `count` items: ids in time order, recipients and senders drawn at random from fixed key sets.
    /// Signing runs on all cores (about 25 µs per item per core).
    init(count: Int, bodyBytes: Int, senders: Int, recipients: Int) {
        _ = sodium_init()
        self.count = count
        ciphertextBytes = bodyBytes + EnvelopeV1Layout.sealedOverhead
        prefixes = .allocate(byteCount: count * prefixBytes, alignment: 16)
        ciphertexts = .allocate(byteCount: count * 2 * ciphertextBytes, alignment: 16)
        signatures = .allocate(byteCount: count * 64, alignment: 16)
        hashes = .allocate(byteCount: count * 64, alignment: 16)
        hashes.initializeMemory(as: UInt8.self, repeating: 0)

        var senderPublic = [UInt8](repeating: 0, count: senders * 32)
        var senderSecret = [UInt8](repeating: 0, count: senders * 64)
        for index in 0..<senders {
            senderPublic.withUnsafeMutableBytes { pk in
                senderSecret.withUnsafeMutableBytes { sk in
                    _ = crypto_sign_keypair(pk.u8 + index * 32, sk.u8 + index * 64)
                }
            }
        }
        var recipientPublic = [UInt8](repeating: 0, count: recipients * 32)
        var unused = [UInt8](repeating: 0, count: 64)
        for index in 0..<recipients {
            recipientPublic.withUnsafeMutableBytes { pk in _ = crypto_sign_keypair(pk.u8 + index * 32, &unused) }
        }
        let start: Int64 = 1_790_000_000_000
        createdAtMilliseconds = (0..<count).map { start + Int64($0 / 10) }

        let keys = Keys(
            senders: senders,
            recipients: recipients,
            senderPublic: senderPublic,
            senderSecret: senderSecret,
            recipientPublic: recipientPublic
        )
        let slices = 64
        DispatchQueue.concurrentPerform(iterations: slices) { slice in
            for item in count * slice / slices..<count * (slice + 1) / slices { self.prepare(item, keys: keys) }
        }
    }

    /// Throwaway key sets for the bench (never used for anything else).
    private struct Keys: Sendable {
        var senders: Int
        var recipients: Int
        var senderPublic: [UInt8]
        var senderSecret: [UInt8]
        var recipientPublic: [UInt8]
    }

    /// Fills item `item`: a time-ordered id, random parties, random ciphertexts, and the sender's signature.
    private func prepare(_ item: Int, keys: Keys) {
        let sender = Int(randombytes_uniform(UInt32(keys.senders)))
        let recipient = Int(randombytes_uniform(UInt32(keys.recipients)))
        var id = [UInt8](repeating: 0, count: 16)
        let milliseconds = UInt64(createdAtMilliseconds[item])
        for byte in 0..<6 { id[byte] = UInt8(truncatingIfNeeded: milliseconds >> (40 - 8 * UInt64(byte))) }
        id.withUnsafeMutableBytes { randombytes_buf($0.baseAddress! + 6, 10) }
        let prefix = prefixes.baseAddress! + item * prefixBytes
        EnvelopeV1Layout.domain.withUnsafeBytes { prefix.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        keys.senderPublic.withUnsafeBytes { senderPublic in
            keys.recipientPublic.withUnsafeBytes { recipientPublic in
                EnvelopeV1Layout.writeHeader(
                    to: prefix + EnvelopeV1Layout.domain.count,
                    id: id,
                    sender: senderPublic.baseAddress! + sender * 32,
                    recipient: recipientPublic.baseAddress! + recipient * 32,
                    createdAt: createdAtMilliseconds[item]
                )
            }
        }
        let pair = ciphertexts.baseAddress! + item * 2 * ciphertextBytes
        randombytes_buf(pair, 2 * ciphertextBytes)
        var message = [UInt8](repeating: 0, count: messageBytes)
        message.withUnsafeMutableBytes { message in
            message.baseAddress!.copyMemory(from: prefix, byteCount: prefixBytes)
            _ = crypto_generichash(message.u8 + prefixBytes, 32, pair.u8, UInt64(ciphertextBytes), nil, 0)
            _ = crypto_generichash(
                message.u8 + prefixBytes + 32,
                32,
                (pair + ciphertextBytes).u8,
                UInt64(ciphertextBytes),
                nil,
                0
            )
            keys.senderSecret.withUnsafeBytes { secret in
                _ = crypto_sign_detached(
                    (signatures.baseAddress! + item * 64).u8,
                    nil,
                    message.u8,
                    UInt64(message.count),
                    (secret.baseAddress! + sender * 64).u8
                )
            }
        }
    }

    deinit {
        prefixes.deallocate()
        ciphertexts.deallocate()
        signatures.deallocate()
        hashes.deallocate()
    }

    /// Hashes item `index`'s two ciphertexts into its signed message (built in `scratch`) and checks the signature.
    func verify(_ index: Int, scratch: UnsafeMutableRawBufferPointer) -> Bool {
        let message = scratch.baseAddress!
        message.copyMemory(from: prefixes.baseAddress! + index * prefixBytes, byteCount: prefixBytes)
        let pair = ciphertexts.baseAddress! + index * 2 * ciphertextBytes
        _ = crypto_generichash((message + prefixBytes).u8, 32, pair.u8, UInt64(ciphertextBytes), nil, 0)
        _ = crypto_generichash(
            (message + prefixBytes + 32).u8,
            32,
            (pair + ciphertextBytes).u8,
            UInt64(ciphertextBytes),
            nil,
            0
        )
        (hashes.baseAddress! + index * 64).copyMemory(from: message + prefixBytes, byteCount: 64)
        return crypto_sign_verify_detached(
            (signatures.baseAddress! + index * 64).u8,
            message.u8,
            UInt64(messageBytes),
            (message + EnvelopeV1Layout.domain.count + EnvelopeV1Layout.senderOffset).u8
        ) == 0
    }

    /// Item `index`'s row fields, as the bare pipeline's writer copies them: recipient, id, sender (32, 16, 32
    /// bytes), the two ciphertexts, their hashes (written by ``verify(_:scratch:)``) and the signature.
    func withRow<R>(
        _ index: Int,
        _ body: (
            _ recipient: UnsafeRawBufferPointer, _ id: UnsafeRawBufferPointer, _ sender: UnsafeRawBufferPointer,
            _ recipientCiphertext: UnsafeRawBufferPointer, _ senderCiphertext: UnsafeRawBufferPointer,
            _ hashes: UnsafeRawBufferPointer, _ signature: UnsafeRawBufferPointer
        ) -> R
    ) -> R {
        let header = UnsafeRawPointer(prefixes.baseAddress! + index * prefixBytes + EnvelopeV1Layout.domain.count)
        let pair = UnsafeRawPointer(ciphertexts.baseAddress! + index * 2 * ciphertextBytes)
        return body(
            UnsafeRawBufferPointer(start: header + EnvelopeV1Layout.recipientOffset, count: 32),
            UnsafeRawBufferPointer(start: header + EnvelopeV1Layout.idOffset, count: 16),
            UnsafeRawBufferPointer(start: header + EnvelopeV1Layout.senderOffset, count: 32),
            UnsafeRawBufferPointer(start: pair, count: ciphertextBytes),
            UnsafeRawBufferPointer(start: pair + ciphertextBytes, count: ciphertextBytes),
            UnsafeRawBufferPointer(start: hashes.baseAddress! + index * 64, count: 64),
            UnsafeRawBufferPointer(start: signatures.baseAddress! + index * 64, count: 64)
        )
    }
}
