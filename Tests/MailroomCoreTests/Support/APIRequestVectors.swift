import Foundation

@testable import MailroomCore

/// The signed-request vector file (Vectors/api-requests.json), for API clients and servers in other languages.
struct APIRequestVectorFile: Codable, Equatable {
    struct Valid: Codable, Equatable {
        var name: String
        var private_key: String
        var method: String
        var target: String
        var body_hex: String
        var timestamp_ms: Int64
        var nonce: String
        var canonical_hex: String
        var headers: [String: String]
    }

    struct Invalid: Codable, Equatable {
        var name: String
        var method: String
        var target: String
        var body_hex: String
        var headers: [String: String]
        var now_ms: Int64
        var code: String
    }

    var about: String
    var max_clock_skew_ms: Int64
    var valid: [Valid]
    var invalid: [Invalid]
}

enum APIRequestVectorGenerator {
    static let skew: Int64 = 300_000
    static let time: Int64 = 1_767_225_600_000  // 2026-01-01T00:00:00Z

    static func headers(_ signature: RequestSignature) -> [String: String] {
        Dictionary(uniqueKeysWithValues: signature.headers.map { ($0.name, $0.value) })
    }

    static func generate() -> APIRequestVectorFile {
        let alice = TestKeys.alice
        let bob = TestKeys.bob
        let nonce16 = Base64URL.encode((0..<16).map { UInt8($0) })
        let nonce64 = Base64URL.encode((0..<64).map { UInt8(255 - $0) })
        let envelopeBytes = (0..<200).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        var valid: [APIRequestVectorFile.Valid] = []
        func add(_ name: String, _ who: Identity, _ method: String, _ target: String, _ body: [UInt8], _ nonce: String)
        {
            let signature = RequestSignature.sign(
                method: method,
                target: target,
                body: body,
                timestampMilliseconds: time,
                nonce: nonce,
                identity: who
            )
            valid.append(
                .init(
                    name: name,
                    private_key: who.exportTextileString(),
                    method: method,
                    target: target,
                    body_hex: hex(body),
                    timestamp_ms: time,
                    nonce: nonce,
                    canonical_hex: hex(
                        RequestSignature.canonical(
                            method: method,
                            target: target,
                            body: body,
                            timestamp: time,
                            nonce: nonce,
                            key: who.publicKey.textileString
                        )
                    ),
                    headers: headers(signature)
                )
            )
        }
        add("setup_mailbox", alice, "PUT", "/v1/mailbox", [], nonce16)
        add("inbox_page", bob, "GET", "/v1/inbox?limit=50&order=desc&status=unread", [], nonce16)
        add("submit_envelope", alice, "POST", "/v1/envelopes", envelopeBytes, nonce64)
        add("mark_read", bob, "POST", "/v1/inbox/01kdvdna007ftb0n4xx1d2fggy/read", [], nonce64)
        add("delete_sentbox", alice, "DELETE", "/v1/sentbox/01kdvdna007ftb0n4xx1d2fggy", [], nonce16)

        let base = valid[1]
        var invalid: [APIRequestVectorFile.Invalid] = []
        func refuse(
            _ name: String,
            _ code: String,
            headers edit: (inout [String: String]) -> Void,
            now: Int64 = time,
            method: String? = nil,
            target: String? = nil,
            body: String? = nil
        ) {
            var headers = base.headers
            edit(&headers)
            invalid.append(
                .init(
                    name: name,
                    method: method ?? base.method,
                    target: target ?? base.target,
                    body_hex: body ?? base.body_hex,
                    headers: headers,
                    now_ms: now,
                    code: code
                )
            )
        }
        for header in [
            RequestSignature.keyHeader, RequestSignature.timestampHeader, RequestSignature.nonceHeader,
            RequestSignature.signatureHeader,
        ] {
            refuse("no_\(header.lowercased().replacingOccurrences(of: "-", with: "_"))", "missing_auth") {
                $0[header] = nil
            }
        }
        refuse("key_not_a_key", "malformed_auth") { $0[RequestSignature.keyHeader] = "bbaareinotakey" }
        refuse("key_small_order", "malformed_auth") {
            $0[RequestSignature.keyHeader] = String(repeating: "0", count: 64)
        }
        refuse("timestamp_leading_zero", "malformed_auth") { $0[RequestSignature.timestampHeader] = "0\(time)" }
        refuse("timestamp_negative", "malformed_auth") { $0[RequestSignature.timestampHeader] = "-\(time)" }
        refuse("timestamp_seconds_with_fraction", "malformed_auth") {
            $0[RequestSignature.timestampHeader] = "1767225600.000"
        }
        refuse("nonce_15_bytes", "malformed_auth") {
            $0[RequestSignature.nonceHeader] = Base64URL.encode([UInt8](repeating: 1, count: 15))
        }
        refuse("nonce_padded", "malformed_auth") { $0[RequestSignature.nonceHeader] = nonce16 + "==" }
        refuse("signature_63_bytes", "malformed_auth") {
            $0[RequestSignature.signatureHeader] = Base64URL.encode(
                Array(Base64URL.decode($0[RequestSignature.signatureHeader]!)!.prefix(63))
            )
        }
        refuse("five_minutes_and_1_ms_late", "expired", headers: { _ in }, now: time + skew + 1)
        refuse("five_minutes_and_1_ms_early", "expired", headers: { _ in }, now: time - skew - 1)
        refuse("another_key", "bad_signature") { $0[RequestSignature.keyHeader] = alice.publicKey.textileString }
        refuse("same_key_in_hex", "bad_signature") { $0[RequestSignature.keyHeader] = bob.publicKey.hexString }
        refuse("timestamp_changed", "bad_signature") { $0[RequestSignature.timestampHeader] = String(time + 1) }
        refuse("nonce_changed", "bad_signature") { $0[RequestSignature.nonceHeader] = nonce64 }
        refuse("signature_flipped", "bad_signature") {
            var bytes = Base64URL.decode($0[RequestSignature.signatureHeader]!)!
            bytes[0] ^= 1
            $0[RequestSignature.signatureHeader] = Base64URL.encode(bytes)
        }
        refuse("method_changed", "bad_signature", headers: { _ in }, method: "DELETE")
        refuse(
            "target_changed",
            "bad_signature",
            headers: { _ in },
            target: "/v1/inbox?limit=50&order=desc&status=read"
        )
        refuse(
            "target_reordered",
            "bad_signature",
            headers: { _ in },
            target: "/v1/inbox?order=desc&limit=50&status=unread"
        )
        refuse("body_added", "bad_signature", headers: { _ in }, body: "00")
        refuse("envelope_signature_as_request", "bad_signature") {
            // Alice's signature of the envelope alice_to_bob_text (envelopes.json): another domain, refused.
            $0[RequestSignature.keyHeader] = alice.publicKey.textileString
            $0[RequestSignature.signatureHeader] = Base64URL.encode(
                unhex(
                    "94a3c83806fd9fbd9fe24a4c35aef88a14d1ec606181029965a59c95a69abffda681f0ba731fd1f1287a2299b9db7429be7f4c46024f45c920790f8bad068701"
                )
            )
        }
        return APIRequestVectorFile(
            about: """
                Mailroom API request signatures (docs/API.md, "Authentication"). valid: a request, the signer's private \
                key, the canonical bytes and the four headers (Ed25519 is deterministic, so a signer reproduces them); \
                a server accepts each at now = timestamp_ms. invalid: a request, its headers, the server's clock and \
                the code of the first check it fails (steps 1-4; replay needs state and has no vector).
                """,
            max_clock_skew_ms: skew,
            valid: valid,
            invalid: invalid
        )
    }

    static func encode(_ file: APIRequestVectorFile) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(file) + Data("\n".utf8)
    }

    static var sourcePath: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Vectors/api-requests.json")
    }
}
