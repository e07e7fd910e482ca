/// The check ``Ed25519Verifier`` runs when it is created with tables on: known-good and known-bad signatures
/// through fresh tables and through libsodium, which must agree on every one.
///
/// The cases: RFC 8032's tests 1–3 (section 7.1: keys, messages and signatures of its own, so a wrong base point
/// table or challenge hash shows even if libsodium signed the same way), each also with a flipped bit in R, in S
/// and in the message, and with S + L (which the table must leave to libsodium); a libsodium-made key's
/// signatures, another key's signature, and a forgery with R the identity (small order) that matches
/// [S]B - [h]A, which libsodium refuses. Two table builds and about thirty checks: well under a millisecond in an
/// optimised build.
enum SelfTest {
    /// RFC 8032 section 7.1, tests 1–3: seed, public key, message, signature (hex).
    static let rfc8032: [(seed: String, publicKey: String, message: String, signature: String)] = [
        (
            "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bac"
                + "c61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
        ),
        (
            "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
            "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
            "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e"
                + "458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"
        ),
        (
            "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
            "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025", "af82",
            "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290"
                + "ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a"
        ),
    ]

    /// One signature to check against one key's table.
    struct Case {
        var name: String
        var signature: [UInt8]
        var message: [UInt8]
    }

    /// Runs every case; nil when the tables agree with libsodium on all, otherwise the first case that failed.
    /// `tableVerdict` is how the verifier asks a table (tests make it lie).
    static func run(
        tableVerdict: (PrecomputedKey, UnsafeRawPointer, UnsafeRawBufferPointer) -> Bool?
    ) -> String? {
        // B's table: the encoding of B, y = 4/5 with x even.
        guard PrecomputedKey.base.publicKey.bytes == [0x58] + [UInt8](repeating: 0x66, count: 31) else {
            return "the base point's table"
        }
        for (index, vector) in rfc8032.enumerated() {
            let publicKey = hexBytes(vector.publicKey)
            let (derived, _) = Libsodium.keyPair(seed: hexBytes(vector.seed))
            guard derived == publicKey else { return "RFC 8032 test \(index + 1): key derivation" }
            let cases = damaged(
                Case(
                    name: "RFC 8032 test \(index + 1)",
                    signature: hexBytes(vector.signature),
                    message: hexBytes(vector.message)
                )
            )
            if let failure = agree(publicKey: publicKey, cases: cases, tableVerdict: tableVerdict) { return failure }
        }
        let (publicKey, secretKey) = Libsodium.keyPair(seed: [UInt8](repeating: 0x4d, count: 32))
        let (_, otherSecretKey) = Libsodium.keyPair(seed: [UInt8](repeating: 0x52, count: 32))
        var cases: [Case] = []
        for (index, message) in [[], Array("mailroom self-test".utf8), (0..<200).map { UInt8($0 & 0xff) }].enumerated()
        {
            cases += damaged(
                Case(
                    name: "signed \(index)",
                    signature: Libsodium.sign(message, secretKey: secretKey),
                    message: message
                )
            )
            cases.append(
                Case(
                    name: "another key's signature \(index)",
                    signature: Libsodium.sign(message, secretKey: otherSecretKey),
                    message: message
                )
            )
        }
        // R = the identity, S = h a: [S]B - [h]A = [ha]B - [h]aB = the identity = R, which libsodium refuses.
        let message = Array("small-order R".utf8)
        let identity = [1] + [UInt8](repeating: 0, count: 31)
        let key = Encoded32(publicKey)!
        let h = identity.withUnsafeBytes { r in
            message.withUnsafeBytes { Libsodium.challenge(r: r.baseAddress!, publicKey: key, message: $0) }
        }
        let s = Libsodium.scalarProduct(h.bytes, Libsodium.secretScalar(secretKey: secretKey))
        cases.append(Case(name: "small-order R forgery", signature: identity + s, message: message))
        return agree(publicKey: publicKey, cases: cases, tableVerdict: tableVerdict)
    }

    /// The case, and the case with one bit flipped in R, in S (a low byte, so S stays below L), in the message
    /// (one byte longer if it is empty), and with S + L.
    static func damaged(_ good: Case) -> [Case] {
        var badR = good
        badR.name += ", bit flipped in R"
        badR.signature[5] ^= 0x10
        var badS = good
        badS.name += ", bit flipped in S"
        badS.signature[33] ^= 0x01
        var badMessage = good
        badMessage.name += ", bit flipped in the message"
        if badMessage.message.isEmpty { badMessage.message = [0] } else { badMessage.message[0] ^= 0x80 }
        var sPlusL = good
        sPlusL.name += ", S + L"
        var carry = 0
        for index in 0..<32 {
            let sum = Int(sPlusL.signature[32 + index]) + Int(PrecomputedKey.groupOrder[index]) + carry
            sPlusL.signature[32 + index] = UInt8(sum & 0xff)
            carry = sum >> 8
        }
        return [good, badR, badS, badMessage, sPlusL]
    }

    /// Whether a fresh table of the key and libsodium agree on every case: the same verdict where S is below L,
    /// no verdict from the table where it is not.
    static func agree(
        publicKey: [UInt8],
        cases: [Case],
        tableVerdict: (PrecomputedKey, UnsafeRawPointer, UnsafeRawBufferPointer) -> Bool?
    ) -> String? {
        guard let table = PrecomputedKey(uncheckedKey: Encoded32(publicKey)!) else { return "a table for a valid key" }
        for check in cases {
            let agrees = check.signature.withUnsafeBytes { signature in
                check.message.withUnsafeBytes { message in
                    let sodium = publicKey.withUnsafeBytes {
                        Libsodium.verify(
                            signature: signature.baseAddress!,
                            message: message,
                            publicKey: $0.baseAddress!
                        )
                    }
                    let canonical = PrecomputedKey.isBelowGroupOrder(signature.baseAddress! + 32)
                    let verdict = tableVerdict(table, signature.baseAddress!, message)
                    return canonical ? verdict == sodium : verdict == nil && !sodium
                }
            }
            if !agrees { return check.name }
        }
        return nil
    }

    static func hexBytes(_ hex: String) -> [UInt8] {
        var bytes: [UInt8] = []
        var iterator = hex.utf8.makeIterator()
        while let high = iterator.next(), let low = iterator.next() {
            bytes.append(UInt8(nibble(high) << 4 | nibble(low)))
        }
        return bytes
    }

    private static func nibble(_ character: UInt8) -> UInt8 {
        switch character {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): character - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): character - UInt8(ascii: "a") + 10
        default: preconditionFailure("not lowercase hex")
        }
    }
}
