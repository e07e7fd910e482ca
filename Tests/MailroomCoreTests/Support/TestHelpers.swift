import Foundation
import Testing

@testable import MailroomCore

func hex(_ bytes: some Sequence<UInt8>) -> String { Hex.encode(bytes) }

func unhex(_ string: String) -> [UInt8] {
    guard let bytes = Hex.decode(string) else { fatalError("bad hex in test data") }
    return bytes
}

/// Loads a file from the test bundle's Vectors folder.
func vectorData(_ name: String) throws -> Data {
    guard let url = Bundle.module.url(forResource: name, withExtension: nil, subdirectory: "Vectors") else {
        throw CocoaError(.fileNoSuchFile)
    }
    return try Data(contentsOf: url)
}

/// Runs `body` and returns the EnvelopeError it throws, or nil if it returned.
/// (Closures infer `any Error`, so the helpers cast; any other error type counts as a test failure.)
func envelopeError<T>(_ body: () throws -> T) -> EnvelopeError? {
    do {
        _ = try body()
        return nil
    } catch let error as EnvelopeError {
        return error
    } catch {
        Issue.record("unexpected error type: \(error)")
        return nil
    }
}

func keyError<T>(_ body: () throws -> T) -> KeyError? {
    do {
        _ = try body()
        return nil
    } catch let error as KeyError {
        return error
    } catch {
        Issue.record("unexpected error type: \(error)")
        return nil
    }
}

/// Fixed identities for tests.
enum TestKeys {
    static let alice = try! Identity(seed: (0..<32).map { UInt8($0) })
    static let bob = try! Identity(seed: (0..<32).map { UInt8(0x20 + $0) })
    static let carol = try! Identity(seed: (0..<32).map { UInt8(0x40 + $0) })
}
