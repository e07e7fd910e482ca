// ed25519-differential: the precomputed-key tables (MailroomEd25519's PrecomputedKey) against libsodium's
// crypto_sign_verify_detached on random and edge inputs; any disagreement fails the run. Build it optimised (the
// tables' arithmetic is about 45 times slower in a debug build):
//
//     swift build -c release --product ed25519-differential
//     .build/release/ed25519-differential [--checks N] [--seed S] [--threads T]
//
// Each check is one (key, message, signature) compared both ways: the table's verdict must be libsodium's, or the
// table must decline (S not below L, where libsodium decides). Keys are libsodium's (prime order) or have a
// small-order component added (mixed order, which libsodium accepts); per key, the inputs are valid signatures,
// bit flips in R, S and the message, other keys' signatures, S in {0, 1, L - 1, L, L + 1, 2^252 - 1, 2^252,
// 2^255 - 1, S + L}, R of small order (every encoding libsodium lists, both sign bits) including R = the identity
// with the S that makes the equation hold, R of mixed order (rB + T, both signs) with matching S, non-canonical
// R (y = p ... p + 18, both signs), and random bytes. Keys libsodium refuses (small order, non-canonical) are
// checked to never get a table. One verifier (recheck rate 1) also takes the valid inputs and a sixteenth of the
// others, to run its admission and safety-net paths on many threads: its verdicts must be libsodium's, with no
// disagreement.
//
// Inputs are a function of --seed and the key's number only, so a run repeats exactly whatever the thread count.
// Prints the seed, then `N checks, D disagreements`; exits 1 on any disagreement.

import CSodium
import Dispatch
import Foundation
import Logging
import MailroomEd25519
import Synchronization

// MARK: Arguments.

struct Options {
    var checks = 1_000_000
    var seed = UInt64.random(in: 0...UInt64.max)
    var threads = ProcessInfo.processInfo.activeProcessorCount

    static func usage() -> Never {
        FileHandle.standardError.write(
            Data("usage: ed25519-differential [--checks N] [--seed S] [--threads T]\n".utf8)
        )
        exit(2)
    }

    init(_ arguments: [String]) {
        var arguments = arguments[...]
        while let argument = arguments.popFirst() {
            guard let value = arguments.popFirst() else { Self.usage() }
            switch argument {
            case "--checks":
                guard let number = Int(value), number >= 0 else { Self.usage() }
                checks = number
            case "--seed":
                guard let number = UInt64(value) else { Self.usage() }
                seed = number
            case "--threads":
                guard let number = Int(value), number >= 1 else { Self.usage() }
                threads = number
            default: Self.usage()
            }
        }
    }
}

// MARK: Randomness and byte helpers.

struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func bytes(_ count: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: (count + 7) / 8 * 8)
        out.withUnsafeMutableBytes { raw in
            for offset in stride(from: 0, to: raw.count, by: 8) {
                raw.storeBytes(of: next(), toByteOffset: offset, as: UInt64.self)
            }
        }
        return Array(out.prefix(count))
    }
}

func hex(_ bytes: [UInt8]) -> String {
    let digits = Array("0123456789abcdef".utf8)
    return String(decoding: bytes.flatMap { [digits[Int($0 >> 4)], digits[Int($0 & 15)]] }, as: UTF8.self)
}

func unhex(_ text: String) -> [UInt8] {
    var bytes: [UInt8] = []
    var index = text.startIndex
    while index < text.endIndex {
        let next = text.index(index, offsetBy: 2)
        bytes.append(UInt8(text[index..<next], radix: 16)!)
        index = next
    }
    return bytes
}

/// Little-endian 32-byte integers.
func scalar(_ words: [UInt64]) -> [UInt8] {
    words.flatMap { word in (0..<8).map { UInt8(truncatingIfNeeded: word >> (8 * $0)) } }
}

let zero = [UInt8](repeating: 0, count: 32)

func add(_ a: [UInt8], _ b: [UInt8]) -> [UInt8] {  // a + b mod 2^256
    var out = [UInt8](repeating: 0, count: 32)
    var carry = 0
    for index in 0..<32 {
        let sum = Int(a[index]) + Int(b[index]) + carry
        out[index] = UInt8(sum & 0xff)
        carry = sum >> 8
    }
    return out
}

/// S values at and around the edges: 0, 1, L - 1, L, L + 1, 2^252 - 1, 2^252, 2^255 - 1, 2^256 - 1.
let edgeScalars: [[UInt8]] = {
    var one = zero
    one[0] = 1
    var lMinusOne = PrecomputedKey.groupOrder
    lMinusOne[0] -= 1
    var lPlusOne = PrecomputedKey.groupOrder
    lPlusOne[0] += 1
    let twoTo252 = scalar([0, 0, 0, 1 << 60])
    let twoTo252MinusOne = scalar([.max, .max, .max, (1 << 60) - 1])
    let twoTo255MinusOne = scalar([.max, .max, .max, .max >> 1])
    let all = [UInt8](repeating: 0xff, count: 32)
    return [
        zero, one, lMinusOne, PrecomputedKey.groupOrder, lPlusOne, twoTo252MinusOne, twoTo252, twoTo255MinusOne, all,
    ]
}()

// MARK: libsodium.

func sodiumVerifies(_ signature: [UInt8], _ message: [UInt8], _ key: [UInt8]) -> Bool {
    crypto_sign_verify_detached(signature, message, UInt64(message.count), key) == 0
}

func reduce64(_ wide: [UInt8]) -> [UInt8] {
    var out = zero
    crypto_core_ed25519_scalar_reduce(&out, wide)
    return out
}

func randomScalar(_ random: inout SplitMix64) -> [UInt8] { reduce64(random.bytes(64)) }

func scalarMul(_ a: [UInt8], _ b: [UInt8]) -> [UInt8] {
    var out = zero
    crypto_core_ed25519_scalar_mul(&out, a, b)
    return out
}

func scalarAdd(_ a: [UInt8], _ b: [UInt8]) -> [UInt8] {
    var out = zero
    crypto_core_ed25519_scalar_add(&out, a, b)
    return out
}

/// [s]B for a nonzero scalar below L.
func basePoint(times s: [UInt8]) -> [UInt8] {
    var out = zero
    precondition(crypto_scalarmult_ed25519_base_noclamp(&out, s) == 0)
    return out
}

func pointAdd(_ p: [UInt8], _ q: [UInt8]) -> [UInt8] {
    var out = zero
    precondition(crypto_core_ed25519_add(&out, p, q) == 0)
    return out
}

/// h = SHA-512(R || A || M) mod L.
func challenge(_ r: [UInt8], _ key: [UInt8], _ message: [UInt8]) -> [UInt8] {
    var digest = [UInt8](repeating: 0, count: 64)
    let input = r + key + message
    _ = crypto_hash_sha512(&digest, input, UInt64(input.count))
    return reduce64(digest)
}

// MARK: Points of small order.

/// libsodium 1.0.18's list of small-order encodings (ge25519_has_small_order, which ignores the sign bit): y = 0,
/// 1, the two y of order 8, p - 1, and the non-canonical p and p + 1.
let smallOrderY: [[UInt8]] = [
    zero, [1] + [UInt8](repeating: 0, count: 31),
    unhex("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05"),
    unhex("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a"),
    [0xec] + [UInt8](repeating: 0xff, count: 30) + [0x7f], [0xed] + [UInt8](repeating: 0xff, count: 30) + [0x7f],
    [0xee] + [UInt8](repeating: 0xff, count: 30) + [0x7f],
]
func withSign(_ encoding: [UInt8], _ negative: Bool) -> [UInt8] {
    var out = encoding
    out[31] = negative ? out[31] | 0x80 : out[31] & 0x7f
    return out
}
/// Every small-order encoding with both sign bits (14).
let smallOrderR: [[UInt8]] = smallOrderY.flatMap { [withSign($0, false), withSign($0, true)] }
/// The seven points of order 2, 4 and 8, canonically encoded (the torsion subgroup but the identity).
let torsion: [[UInt8]] = [
    smallOrderY[4], withSign(smallOrderY[0], false), withSign(smallOrderY[0], true),
    withSign(smallOrderY[2], false), withSign(smallOrderY[2], true), withSign(smallOrderY[3], false),
    withSign(smallOrderY[3], true),
]
/// Non-canonical encodings: y = p + k for k in 0...18, both sign bits (38).
let nonCanonicalR: [[UInt8]] = (0...18).flatMap { k -> [[UInt8]] in
    let y = [UInt8(0xed + k)] + [UInt8](repeating: 0xff, count: 30) + [0x7f]
    return [withSign(y, false), withSign(y, true)]
}

// MARK: One key's inputs.

struct Key {
    var publicKey: [UInt8]
    /// The secret scalar a; the key is aB, plus `torsionPart` if any.
    var a: [UInt8]
    var torsionPart: [UInt8]?

    init(_ random: inout SplitMix64, mixed: Bool) {
        a = randomScalar(&random)
        if a == zero { a[0] = 1 }
        let prime = basePoint(times: a)
        if mixed {
            let t = torsion[Int.random(in: 0..<torsion.count, using: &random)]
            torsionPart = t
            publicKey = pointAdd(prime, t)
        } else {
            torsionPart = nil
            publicKey = prime
        }
    }

    /// R = rB (+ `extra`), S = r + h a: valid for a prime-order key; for a mixed-order key (or an `extra`), valid
    /// exactly when the torsion parts cancel.
    func sign(_ message: [UInt8], _ random: inout SplitMix64, extra: [UInt8]? = nil) -> [UInt8] {
        var r = randomScalar(&random)
        if r == zero { r[0] = 1 }
        let rPoint = extra.map { pointAdd(basePoint(times: r), $0) } ?? basePoint(times: r)
        let h = challenge(rPoint, publicKey, message)
        return rPoint + scalarAdd(r, scalarMul(h, a))
    }
}

/// The inputs for one key: `count` (signature, message) pairs, from every category in turn.
func inputs(for key: Key, other: Key, count: Int, _ random: inout SplitMix64) -> [([UInt8], [UInt8])] {
    var out: [([UInt8], [UInt8])] = []
    out.reserveCapacity(count)
    var category = Int.random(in: 0..<12, using: &random)
    while out.count < count {
        category = (category + 1) % 12
        let message = random.bytes(Int.random(in: 0...200, using: &random))
        var validSignature: [UInt8]?
        func valid() -> [UInt8] {  // made when a category needs it
            if let validSignature { return validSignature }
            let signature = key.sign(message, &random)
            validSignature = signature
            return signature
        }
        switch category {
        case 0, 1:  // valid (for a prime-order key)
            out.append((valid(), message))
        case 2:  // one bit flipped in R, S or the message
            var signature = valid()
            var damaged = message
            let bit = Int.random(in: 0..<(512 + 8 * message.count), using: &random)
            if bit < 512 {
                signature[bit / 8] ^= 1 << UInt8(bit % 8)
            } else {
                damaged[(bit - 512) / 8] ^= 1 << UInt8(bit % 8)
            }
            out.append((signature, damaged))
        case 3:  // another key's signature over the same message
            out.append((other.sign(message, &random), message))
        case 4:  // S at the edges, with a valid signature's R; and S + L
            let s = edgeScalars[Int.random(in: 0..<edgeScalars.count, using: &random)]
            out.append((Array(valid()[0..<32]) + s, message))
            out.append((Array(valid()[0..<32]) + add(Array(valid()[32...]), PrecomputedKey.groupOrder), message))
        case 5:  // R of small order (every encoding, both signs), random S below L or an edge S
            let r = smallOrderR[Int.random(in: 0..<smallOrderR.count, using: &random)]
            let s =
                Bool.random(using: &random)
                ? randomScalar(&random) : edgeScalars[Int.random(in: 0..<edgeScalars.count, using: &random)]
            out.append((r + s, message))
        case 6:  // R of small order with S = h a: [S]B - [h]A = -[h]T (the identity for a prime-order key)
            let r = smallOrderR[Int.random(in: 0..<smallOrderR.count, using: &random)]
            out.append((r + scalarMul(challenge(r, key.publicKey, message), key.a), message))
        case 7:  // R of mixed order (rB + T, and its negation), S = r + h a: valid when T cancels the key's part
            let t = torsion[Int.random(in: 0..<torsion.count, using: &random)]
            let signature = key.sign(message, &random, extra: t)
            out.append((signature, message))
            var negated = signature
            negated[31] ^= 0x80
            out.append((negated, message))
        case 8:  // non-canonical R with a random S, and with S = h a
            let r = nonCanonicalR[Int.random(in: 0..<nonCanonicalR.count, using: &random)]
            out.append((r + randomScalar(&random), message))
            out.append((r + scalarMul(challenge(r, key.publicKey, message), key.a), message))
        case 9:  // random bytes, and random bytes with S below 2^252
            var signature = random.bytes(64)
            out.append((signature, message))
            signature[63] &= 0x0f
            out.append((signature, message))
        case 10:  // S = 0 with R the identity, and a valid signature's R with S = 0, 1 or L - 1
            out.append((smallOrderR[2] + zero, message))
            out.append((Array(valid()[0..<32]) + edgeScalars[Int.random(in: 0...2, using: &random)], message))
        default:  // the valid signature with its R's sign bit flipped (-R)
            var signature = valid()
            signature[31] ^= 0x80
            out.append((signature, message))
        }
    }
    return Array(out.prefix(count))
}

// MARK: The run.

/// Counters and the first disagreements, shared by the threads.
final class Tally: Sendable {
    struct Counts {
        var checks = 0
        var accepted = 0
        var declined = 0
        var disagreements = 0
        var reports: [String] = []
    }

    let counts = Mutex(Counts())

    func add(checks: Int, accepted: Int, declined: Int, disagreements: [String]) {
        counts.withLock { counts in
            counts.checks += checks
            counts.accepted += accepted
            counts.declined += declined
            counts.disagreements += disagreements.count
            counts.reports += disagreements.prefix(max(0, 10 - counts.reports.count))
        }
    }
}

@main
enum Ed25519Differential {
    static let perKey = 50

    static func main() {
        guard sodium_init() >= 0 else { fatalError("libsodium failed to initialise") }
        let options = Options(Array(CommandLine.arguments.dropFirst()))
        let checks = options.checks
        let seed = options.seed
        let keyCount = (checks + perKey - 1) / perKey
        let nextKey = Atomic<Int>(0)
        let tally = Tally()
        // Tables for 64 keys, every acceptance re-checked: the verifier's own verdicts must be libsodium's.
        var logger = Logger(label: "ed25519-differential")
        logger.logLevel = .warning  // a disagreement is logged at critical level; "tables on" is not news here
        let verifier = Ed25519Verifier(
            configuration: .init(precomputedKeyLimit: 64, recheckSampleRate: 1),
            logger: logger
        )
        print("ed25519-differential: seed \(seed), \(checks) checks on \(options.threads) threads")
        let started = ContinuousClock.now

        DispatchQueue.concurrentPerform(iterations: options.threads) { _ in
            while case let keyIndex = nextKey.wrappingAdd(1, ordering: .relaxed).oldValue, keyIndex < keyCount {
                let count = min(perKey, checks - keyIndex * perKey)
                let (accepted, declined, disagreements) = checkKey(
                    keyIndex,
                    seed: seed,
                    count: count,
                    verifier: verifier
                )
                tally.add(checks: count, accepted: accepted, declined: declined, disagreements: disagreements)
            }
        }

        // Keys libsodium refuses (small order, both signs; non-canonical y) never get a table: libsodium refuses
        // every signature by them, and the verifier builds tables only for keys it accepted twice.
        var random = SplitMix64(state: seed)
        let refusedKeys = smallOrderR + nonCanonicalR
        let builtBefore = verifier.statistics.tablesBuilt
        for key in refusedKeys {
            for _ in 0..<3 {
                let message = random.bytes(16)
                let signature = basePoint(times: randomScalar(&random)) + randomScalar(&random)
                if verifier.verify(signature: signature, message: message, publicKey: key) {
                    tally.add(checks: 0, accepted: 0, declined: 0, disagreements: ["accepted for key \(hex(key))"])
                }
            }
        }
        if verifier.statistics.tablesBuilt != builtBefore {
            tally.add(checks: 0, accepted: 0, declined: 0, disagreements: ["a table for a key libsodium refuses"])
        }

        let elapsed = ContinuousClock.now - started
        let result = tally.counts.withLock { $0 }
        let statistics = verifier.statistics
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        print(
            "ed25519-differential: \(result.checks) checks (\(result.accepted) valid, \(result.declined) with S >= L "
                + "left to libsodium) on \(keyCount) keys, \(refusedKeys.count) refused keys; verifier: "
                + "\(statistics.fromTables) from tables, \(statistics.byLibsodium) by libsodium, "
                + "\(statistics.tablesBuilt) tables built; " + String(format: "%.1f s", seconds)
        )
        for report in result.reports { print("  disagreement: \(report)") }
        let total = result.disagreements + statistics.disagreements
        print("\(result.checks) checks, \(total) disagreements (seed \(seed))")
        exit(total == 0 && !statistics.switchedOff && result.checks == checks ? 0 : 1)
    }

    /// One key's inputs through its table and libsodium (and every sixteenth through the verifier): the
    /// libsodium acceptances, the table's declines, and the disagreements.
    static func checkKey(
        _ keyIndex: Int,
        seed: UInt64,
        count: Int,
        verifier: Ed25519Verifier
    ) -> (accepted: Int, declined: Int, disagreements: [String]) {
        var random = SplitMix64(state: seed ^ (UInt64(keyIndex) &* 0xD1B5_4A32_D192_ED03))
        let key = Key(&random, mixed: keyIndex % 4 == 3)
        let other = Key(&random, mixed: false)
        guard let table = PrecomputedKey(uncheckedKey: Encoded32(key.publicKey)!) else {
            return (0, 0, ["no table for key \(hex(key.publicKey))"])
        }
        var accepted = 0
        var declined = 0
        var disagreements: [String] = []
        for (index, (signature, message)) in inputs(for: key, other: other, count: count, &random).enumerated() {
            let expected = sodiumVerifies(signature, message, key.publicKey)
            let verdict = signature.withUnsafeBytes { s in
                message.withUnsafeBytes { table.check(signature: s.baseAddress!, message: $0) }
            }
            if expected { accepted += 1 }
            if verdict == nil { declined += 1 }
            // The table may decline only where S is not below L, and libsodium then refuses.
            let canonical = signature.withUnsafeBytes { PrecomputedKey.isBelowGroupOrder($0.baseAddress! + 32) }
            let agrees = canonical ? verdict == expected : verdict == nil && !expected
            func input() -> String { "key \(hex(key.publicKey)) signature \(hex(signature)) message \(hex(message))" }
            if !agrees {
                disagreements.append("table \(verdict.map(String.init) ?? "nil"), libsodium \(expected): \(input())")
            }
            // Valid signatures (so that keys get tables there) and a sixteenth of the rest.
            if expected || index % 16 == 0,
                verifier.verify(signature: signature, message: message, publicKey: key.publicKey) != expected
            {
                disagreements.append("verifier: \(input())")
            }
        }
        return (accepted, declined, disagreements)
    }
}
