import Foundation
import Testing

@testable import MailroomCore

@Suite("Message ids (ULID)")
struct MessageIDTests {
    @Test("Text form round-trips, is 26 lowercase Crockford characters, and accepts uppercase")
    func text() throws {
        for _ in 0..<100 {
            let id = MessageID.generate()
            let text = id.description
            #expect(text.count == 26)
            #expect(text == text.lowercased())
            #expect(try MessageID(string: text) == id)
            #expect(try MessageID(string: text.uppercased()) == id)
            #expect(try MessageID(bytes: id.bytes) == id)
            #expect(MessageID(text) == id)
        }
        // A time prefix of 01ARYZ6S41 is 1469918176385 ms (the ULID spec's example).
        let example = try MessageID(string: "01ARYZ6S41TSV4RRFFQ69G5FAV")
        #expect(example.milliseconds == 1_469_918_176_385)
        #expect(example.description == "01aryz6s41tsv4rrffq69g5fav")
    }

    @Test("Malformed ids are rejected with invalid_message_id")
    func malformed() {
        for text in [
            "", "01arz3ndektsv4rrffq69g5fa", "01arz3ndektsv4rrffq69g5fau", "81arz3ndektsv4rrffq69g5fav",
            "01arz3ndektsv4rrffq69g5fav0", "01arz3ndektsv4rrffq69g5f-v",
        ] {
            #expect(envelopeError { try MessageID(string: text) }?.code == .invalidMessageID, "\(text)")
        }
        #expect(envelopeError { try MessageID(bytes: [1, 2, 3]) }?.code == .invalidMessageID)
        #expect(envelopeError { try MessageID(milliseconds: -1) }?.code == .invalidMessageID)
        #expect(envelopeError { try MessageID(milliseconds: MessageID.maxMilliseconds + 1) }?.code == .invalidMessageID)
    }

    @Test("Generated ids are monotonic within the process and carry the current time")
    func monotonic() throws {
        let before = Int64(Date().timeIntervalSince1970 * 1000)
        let ids = (0..<10_000).map { _ in MessageID.generate() }
        let after = Int64(Date().timeIntervalSince1970 * 1000)
        for (a, b) in zip(ids, ids.dropFirst()) {
            #expect(a < b)
        }
        #expect(ids.first!.milliseconds >= before - 1)
        #expect(ids.last!.milliseconds <= after + 1)
        // Byte order is time order.
        let early = try MessageID(milliseconds: 1000)
        let late = try MessageID(milliseconds: 1001)
        #expect(early < late)
        #expect(early.bytes.lexicographicallyPrecedes(late.bytes))
        #expect(late.date == Date(timeIntervalSince1970: 1.001))
    }
}
