import Foundation
import MailroomTestSupport
import Testing

/// `mailroom keygen` creates the key file in one step, private from the start, and never through a link.
@Suite("mailroom keygen writes the private key safely")
struct KeygenCommandTests {
    private func directory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("keygen-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    @Test func theKeyFileIsCreatedWithMode600() throws {
        let folder = try directory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("alice.key").path
        let result = try CLI.run(["keygen", "--out", path, "--json"], environment: [:])
        #expect(result.status == 0, "\(result.stderr)")
        var info = stat()
        #expect(stat(path, &info) == 0)
        #expect(info.st_mode & 0o777 == 0o600)
        let text = try String(contentsOfFile: path, encoding: .utf8)
        #expect(text.hasSuffix("\n") && text.count > 40)
    }

    @Test func anExistingFileIsNeverOverwritten() throws {
        let folder = try directory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("alice.key").path
        try Data("keep me\n".utf8).write(to: URL(fileURLWithPath: path))
        let result = try CLI.run(["keygen", "--out", path], environment: [:])
        #expect(result.status == 1)
        #expect(result.stderr.contains("already exists"), "\(result.stderr)")
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "keep me\n")
    }

    /// A link planted where the key is to go (even a dangling one) is refused, and nothing is created at its
    /// target.
    @Test func aSymbolicLinkIsNeverFollowedOrReplaced() throws {
        let folder = try directory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("alice.key").path
        let target = folder.appendingPathComponent("elsewhere").path
        try FileManager.default.createSymbolicLink(atPath: path, withDestinationPath: target)
        let result = try CLI.run(["keygen", "--out", path], environment: [:])
        #expect(result.status == 1)
        #expect(!FileManager.default.fileExists(atPath: target))
        #expect((try? FileManager.default.destinationOfSymbolicLink(atPath: path)) == target)
    }
}
