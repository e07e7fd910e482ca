import Foundation

/// CPU seconds (utime + stime from `/proc`; same host only) of named processes, and of a group of server
/// processes counted per pid, at one moment. Two snapshots give what was used in between.
struct ProcessCPU {
    var at = ContinuousClock.now
    /// Per name (a process that is gone or not given has no entry).
    var seconds: [String: Double] = [:]
    /// The database server's processes, per pid.
    var server: [Int32: Double] = [:]

    init(_ processes: [String: Int32?], server pids: [Int32] = []) {
        for (name, pid) in processes {
            if let pid, let cpu = Self.seconds(pid: pid) { seconds[name] = cpu }
        }
        for pid in pids { server[pid] = Self.seconds(pid: pid) }
    }

    /// Per name, the share of one core used since `earlier`, in percent.
    func percent(since earlier: ProcessCPU) -> [String: Double] {
        let wall = max(0.001, (at - earlier.at).seconds)
        return used(since: earlier).mapValues { ($0 / wall * 100).rounded() }
    }

    /// Per name, CPU seconds used since `earlier`; with server processes, theirs as "database": one that
    /// appeared since (an autovacuum worker) counts whole, one that has gone since is left out.
    func used(since earlier: ProcessCPU) -> [String: Double] {
        var used: [String: Double] = [:]
        for (name, value) in seconds {
            if let before = earlier.seconds[name] { used[name] = value - before }
        }
        if !server.isEmpty {
            used["database"] = server.reduce(0) { $0 + $1.value - (earlier.server[$1.key] ?? 0) }
        }
        return used
    }

    /// utime + stime of a process.
    static func seconds(pid: Int32) -> Double? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }
}
