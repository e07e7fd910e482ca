public import MailroomEd25519

/// Proof that an HTTP request to Mailroom's API comes from the holder of a key: an Ed25519 signature over a
/// canonical form of the request, under its own domain prefix (docs/API.md, "Authentication").
///
/// A device signs with ``sign(method:target:body:timestampMilliseconds:nonce:identity:)`` and sends the four
/// ``headers``; the server parses them with ``init(key:timestamp:nonce:signature:)`` and checks
/// ``verify(method:target:body:using:)``. The clock window and the nonce cache against replay are the server's.
public struct RequestSignature: Sendable, Hashable {
    /// `mailroom/api/v1` and a zero byte: no envelope signature (`mailroom/envelope/v1\0…`) can pass as one.
    public static let domain: [UInt8] = Array("mailroom/api/v1".utf8) + [0]
    /// The header names, in the order the canonical form lists their values.
    public static let keyHeader = "Mailroom-Key"
    public static let timestampHeader = "Mailroom-Timestamp"
    public static let nonceHeader = "Mailroom-Nonce"
    public static let signatureHeader = "Mailroom-Signature"
    /// A nonce is base64url of 16 to 64 bytes.
    public static let nonceBytes = 16...64

    /// The key the request acts for.
    public let key: PublicKey
    /// The `Mailroom-Key` value as sent (it is signed as sent).
    public let keyText: String
    /// Unix milliseconds on the signer's clock.
    public let timestampMilliseconds: Int64
    /// The `Mailroom-Nonce` value as sent.
    public let nonce: String
    /// The 64-byte signature.
    public let signature: [UInt8]

    /// Why a request's authentication was refused: a stable code for the 401 response.
    public struct Failure: Error, Sendable, Hashable, CustomStringConvertible {
        /// `missing_auth`, `malformed_auth`, `expired`, `bad_signature` or `replayed`.
        public let code: String
        /// What is wrong; never a signature, a nonce or a body.
        public let detail: String

        public init(_ code: String, _ detail: String) {
            self.code = code
            self.detail = detail
        }

        public var description: String { "\(code): \(detail)" }

        public static func missing(_ header: String) -> Failure { Failure("missing_auth", "no \(header) header") }
    }

    /// Parses the four header values strictly.
    ///
    /// - Throws: ``Failure`` `malformed_auth`: a key that is not a Textile key string or 64 hex digits of an
    ///   acceptable key, a timestamp that is not 1–15 decimal digits without a leading zero, a nonce that is not unpadded base64url of
    ///   16–64 bytes, a signature that is not unpadded base64url of 64 bytes.
    public init(key: String, timestamp: String, nonce: String, signature: String) throws(Failure) {
        guard let parsed = try? PublicKey(string: key) else {
            throw Failure("malformed_auth", "\(Self.keyHeader) is not a valid public key")
        }
        let digits = Array(timestamp.utf8)
        guard (1...15).contains(digits.count), digits.allSatisfy({ (0x30...0x39).contains($0) }),
            digits.count == 1 || digits[0] != 0x30, let time = Int64(timestamp)
        else {
            throw Failure("malformed_auth", "\(Self.timestampHeader) is not Unix milliseconds")
        }
        guard let nonceBytes = Base64URL.decode(nonce), Self.nonceBytes.contains(nonceBytes.count) else {
            throw Failure("malformed_auth", "\(Self.nonceHeader) is not base64url of 16 to 64 bytes")
        }
        guard let signatureBytes = Base64URL.decode(signature), signatureBytes.count == 64 else {
            throw Failure("malformed_auth", "\(Self.signatureHeader) is not base64url of 64 bytes")
        }
        self.key = parsed
        self.keyText = key
        self.timestampMilliseconds = time
        self.nonce = nonce
        self.signature = signatureBytes
    }

    /// Signs a request as `identity`.
    ///
    /// - Parameters:
    ///   - method: the HTTP method, e.g. `GET` (sent and signed in uppercase).
    ///   - target: the request target exactly as sent: path and query, e.g. `/v1/inbox?limit=50`.
    ///   - body: the request body (empty for none).
    ///   - nonce: unpadded base64url of 16–64 random bytes; default 16 fresh random bytes.
    public static func sign(
        method: String,
        target: String,
        body: [UInt8],
        timestampMilliseconds: Int64,
        nonce: String? = nil,
        identity: Identity
    ) -> RequestSignature {
        let nonce = nonce ?? Base64URL.encode(SodiumRandom.bytes(16))
        let keyText = identity.publicKey.textileString
        let message = canonical(
            method: method,
            target: target,
            body: body,
            timestamp: timestampMilliseconds,
            nonce: nonce,
            key: keyText
        )
        var signature = [UInt8](repeating: 0, count: 64)
        message.withUnsafeBytes { message in
            signature.withUnsafeMutableBytes { identity.sign(message, into: $0.baseAddress!) }
        }
        return RequestSignature(
            key: identity.publicKey,
            keyText: keyText,
            timestampMilliseconds: timestampMilliseconds,
            nonce: nonce,
            signature: signature
        )
    }

    private init(key: PublicKey, keyText: String, timestampMilliseconds: Int64, nonce: String, signature: [UInt8]) {
        self.key = key
        self.keyText = keyText
        self.timestampMilliseconds = timestampMilliseconds
        self.nonce = nonce
        self.signature = signature
    }

    /// The four headers to send, name and value.
    public var headers: [(name: String, value: String)] {
        [
            (Self.keyHeader, keyText), (Self.timestampHeader, String(timestampMilliseconds)), (Self.nonceHeader, nonce),
            (Self.signatureHeader, Base64URL.encode(signature)),
        ]
    }

    /// Whether the signature covers this request (libsodium's verdict).
    ///
    /// - Parameter verifier: checks the signature: libsodium alone by default; a server passes its own
    ///   ``Ed25519Verifier``, with tables for keys that send many requests.
    /// - Throws: ``Failure`` `bad_signature`.
    public func verify(
        method: String,
        target: String,
        body: [UInt8],
        using verifier: Ed25519Verifier = .libsodiumOnly
    ) throws(Failure) {
        let message = Self.canonical(
            method: method,
            target: target,
            body: body,
            timestamp: timestampMilliseconds,
            nonce: nonce,
            key: keyText
        )
        let verifies = signature.withUnsafeBytes { sig in
            message.withUnsafeBytes { message in
                key.raw.withBytes { verifier.verify(signature: sig, message: message, publicKey: $0) }
            }
        }
        guard verifies else {
            throw Failure("bad_signature", "the signature does not cover this request for this key")
        }
    }

    /// Steps 1–4 of the server's check (docs/API.md, "Authentication"): the four headers present, well formed,
    /// the timestamp within `maxClockSkewMilliseconds` of `now`, the signature over this request. The replay check
    /// (step 5) is the caller's, once this returns.
    ///
    /// - Parameters:
    ///   - header: looks a header up by name (case-insensitively); nil when absent.
    ///   - verifier: checks the signature (``verify(method:target:body:using:)``).
    /// - Throws: ``Failure`` `missing_auth`, `malformed_auth`, `expired` or `bad_signature`, the first that applies.
    public static func check(
        method: String,
        target: String,
        body: () throws(Failure) -> [UInt8],
        header: (String) -> String?,
        nowMilliseconds: Int64,
        maxClockSkewMilliseconds: Int64,
        using verifier: Ed25519Verifier = .libsodiumOnly
    ) throws(Failure) -> RequestSignature {
        func value(_ name: String) throws(Failure) -> String {
            guard let value = header(name) else { throw .missing(name) }
            return value
        }
        let key = try value(keyHeader)
        let timestamp = try value(timestampHeader)
        let nonce = try value(nonceHeader)
        let signatureText = try value(signatureHeader)
        let signature = try RequestSignature(key: key, timestamp: timestamp, nonce: nonce, signature: signatureText)
        let (difference, overflow) = nowMilliseconds.subtractingReportingOverflow(signature.timestampMilliseconds)
        guard !overflow, difference.magnitude <= maxClockSkewMilliseconds.magnitude else {
            throw Failure(
                "expired",
                "the timestamp is more than \(maxClockSkewMilliseconds / 1000) s from the server's clock"
            )
        }
        try signature.verify(method: method, target: target, body: try body(), using: verifier)
        return signature
    }

    /// The signed bytes: the domain, then the method, target, body hash, timestamp, nonce and key, one per line.
    public static func canonical(
        method: String,
        target: String,
        body: [UInt8],
        timestamp: Int64,
        nonce: String,
        key: String
    ) -> [UInt8] {
        let hash = Hex.encode(SodiumHash.blake2b256(body).bytes)
        let text = [method.uppercased(), target, hash, String(timestamp), nonce, key].joined(separator: "\n")
        return domain + Array(text.utf8)
    }
}
