import Foundation
import MailroomCLISupport

/// Where a command reads bytes: a file, or standard input for `-` or no file.
enum ByteInput {
    static func read(_ path: String?) throws -> [UInt8] {
        guard let path, path != "-" else { return Array(FileHandle.standardInput.readDataToEndOfFile()) }
        guard let data = FileManager.default.contents(atPath: path) else { throw CLIError("cannot read \(path)") }
        return Array(data)
    }

    /// Writes bytes to a new file (`O_CREAT|O_EXCL`, mode 0644: an existing file is never replaced), or to
    /// standard output for `-`.
    static func writeNew(_ bytes: [UInt8], to path: String) throws {
        if path == "-" {
            FileHandle.standardOutput.write(Data(bytes))
            return
        }
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            let reason =
                errno == EEXIST ? "it exists (remove it or choose another path)" : String(cString: strerror(errno))
            throw CLIError("cannot write \(path): \(reason)")
        }
        let handle = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
        do {
            try handle.write(contentsOf: Data(bytes))
            try handle.synchronize()
        } catch {
            unlink(path)
            throw CLIError("cannot write \(path): \(error.localizedDescription)")
        }
    }
}
