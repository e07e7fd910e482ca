import Foundation
import Testing

@testable import MailroomCore

@Suite("API request signatures (Vectors/api-requests.json)")
struct APIRequestTests {
    func load() throws -> APIRequestVectorFile {
        try JSONDecoder().decode(APIRequestVectorFile.self, from: vectorData("api-requests.json"))
    }

    static func check(
        _ method: String,
        _ target: String,
        _ body: [UInt8],
        _ headers: [String: String],
        now: Int64
    )
        throws(RequestSignature.Failure) -> RequestSignature
    {
        try RequestSignature.check(
            method: method,
            target: target,
            body: { () throws(RequestSignature.Failure) in body },
            header: { name in headers.first { $0.key.lowercased() == name.lowercased() }?.value },
            nowMilliseconds: now,
            maxClockSkewMilliseconds: APIRequestVectorGenerator.skew
        )
    }

    @Test(
        "Regenerate the vector file (only with MAILROOM_REGENERATE_VECTORS=1)",
        .enabled(if: ProcessInfo.processInfo.environment["MAILROOM_REGENERATE_VECTORS"] == "1")
    )
    func regenerate() throws {
        try APIRequestVectorGenerator.encode(APIRequestVectorGenerator.generate()).write(
            to: APIRequestVectorGenerator.sourcePath
        )
    }

    @Test("The generator reproduces the committed file")
    func reproducible() throws {
        #expect(try APIRequestVectorGenerator.generate() == load())
    }

    @Test(
        "Valid requests: signing reproduces canonical bytes and headers; the check accepts them at the edges of the window"
    )
    func valid() throws {
        let file = try load()
        for vector in file.valid {
            let identity = try Identity(textileString: vector.private_key)
            let body = unhex(vector.body_hex)
            let signature = RequestSignature.sign(
                method: vector.method,
                target: vector.target,
                body: body,
                timestampMilliseconds: vector.timestamp_ms,
                nonce: vector.nonce,
                identity: identity
            )
            #expect(APIRequestVectorGenerator.headers(signature) == vector.headers, "\(vector.name)")
            #expect(
                hex(
                    RequestSignature.canonical(
                        method: vector.method,
                        target: vector.target,
                        body: body,
                        timestamp: vector.timestamp_ms,
                        nonce: vector.nonce,
                        key: identity.publicKey.textileString
                    )
                ) == vector.canonical_hex
            )
            for now in [
                vector.timestamp_ms, vector.timestamp_ms + file.max_clock_skew_ms,
                vector.timestamp_ms - file.max_clock_skew_ms,
            ] {
                let checked = try Self.check(vector.method, vector.target, body, vector.headers, now: now)
                #expect(checked.key == identity.publicKey)
            }
        }
    }

    @Test("Every invalid request fails with its code")
    func invalid() throws {
        let file = try load()
        #expect(Set(file.invalid.map(\.code)) == ["missing_auth", "malformed_auth", "expired", "bad_signature"])
        for vector in file.invalid {
            do {
                _ = try Self.check(
                    vector.method,
                    vector.target,
                    unhex(vector.body_hex),
                    vector.headers,
                    now: vector.now_ms
                )
                Issue.record("\(vector.name) was accepted")
            } catch {
                #expect(error.code == vector.code, "\(vector.name): \(error)")
            }
        }
    }

    @Test("A request signature is no envelope signature: the domains differ")
    func domains() {
        #expect(RequestSignature.domain != EnvelopeLayout.domain)
        #expect(!RequestSignature.domain.starts(with: Array("mailroom/envelope".utf8)))
    }
}
