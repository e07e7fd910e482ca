import Synchronization

/// Request counts by route, method and status, and a latency histogram by route, rendered as Prometheus text
/// at `GET /metrics`. Routes are the router's patterns (`/v1/inbox/:id/read`), never a path with an id in it.
public final class APIMetrics: Sendable {
    /// Upper bounds of the latency buckets, in seconds.
    static let bounds: [Double] = [
        0.0005, 0.001, 0.002, 0.003, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
    ]

    private struct Histogram {
        var counts = [UInt64](repeating: 0, count: APIMetrics.bounds.count)
        var count: UInt64 = 0
        var sum: Double = 0
    }

    private struct Key: Hashable {
        var route: String
        var method: String
        var status: Int
    }

    private struct State {
        var requests: [Key: UInt64] = [:]
        var latency: [String: Histogram] = [:]
        var refusals: [String: UInt64] = [:]
    }

    private let state = Mutex(State())

    public init() {}

    func record(route: String, method: String, status: Int, seconds: Double) {
        state.withLock { state in
            state.requests[Key(route: route, method: method, status: status), default: 0] += 1
            var histogram = state.latency[route] ?? Histogram()
            if let index = Self.bounds.firstIndex(where: { seconds <= $0 }) { histogram.counts[index] += 1 }
            histogram.count += 1
            histogram.sum += seconds
            state.latency[route] = histogram
        }
    }

    /// Counts a rate-limit refusal by what was limited (`address` or `key`).
    func refused(_ limit: String) {
        state.withLock { $0.refusals[limit, default: 0] += 1 }
    }

    /// The Prometheus text exposition (format 0.0.4).
    public func render() -> String {
        let state = state.withLock { $0 }
        var out = "# HELP mailroom_api_requests_total HTTP requests answered, by route pattern, method and status.\n"
        out += "# TYPE mailroom_api_requests_total counter\n"
        for (key, count) in state.requests.sorted(by: {
            ($0.key.route, $0.key.method, $0.key.status) < ($1.key.route, $1.key.method, $1.key.status)
        }) {
            out +=
                "mailroom_api_requests_total{route=\"\(key.route)\",method=\"\(key.method)\",status=\"\(key.status)\"} \(count)\n"
        }
        out += "# HELP mailroom_api_request_duration_seconds Time from routing to the response, by route pattern.\n"
        out += "# TYPE mailroom_api_request_duration_seconds histogram\n"
        for (route, histogram) in state.latency.sorted(by: { $0.key < $1.key }) {
            var cumulative: UInt64 = 0
            for (index, bound) in Self.bounds.enumerated() {
                cumulative += histogram.counts[index]
                out +=
                    "mailroom_api_request_duration_seconds_bucket{route=\"\(route)\",le=\"\(bound)\"} \(cumulative)\n"
            }
            out += "mailroom_api_request_duration_seconds_bucket{route=\"\(route)\",le=\"+Inf\"} \(histogram.count)\n"
            out += "mailroom_api_request_duration_seconds_sum{route=\"\(route)\"} \(histogram.sum)\n"
            out += "mailroom_api_request_duration_seconds_count{route=\"\(route)\"} \(histogram.count)\n"
        }
        out += "# HELP mailroom_api_rate_limited_total Requests refused with 429, by the limit that refused them.\n"
        out += "# TYPE mailroom_api_rate_limited_total counter\n"
        for limit in ["address", "key"] {
            out += "mailroom_api_rate_limited_total{limit=\"\(limit)\"} \(state.refusals[limit] ?? 0)\n"
        }
        return out
    }
}
