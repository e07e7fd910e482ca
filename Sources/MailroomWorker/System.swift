import Foundation

/// Facts about the host, in one place.
enum System {
    static var hostName: String { ProcessInfo.processInfo.hostName }
    static var processID: Int32 { ProcessInfo.processInfo.processIdentifier }

    /// Resident set size of this process in bytes, from /proc (Linux), or nil elsewhere.
    static var residentBytes: Int? {
        guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return nil }
        let fields = text.split(separator: " ")
        guard fields.count > 1, let pages = Int(fields[1]) else { return nil }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }
}
