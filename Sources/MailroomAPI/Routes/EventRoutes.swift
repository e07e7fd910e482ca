import Foundation
import HTTPTypes
import Hummingbird
import MailroomCore
import MailroomQuery
import NIOCore
import ServiceLifecycle
import Synchronization

/// `GET /v1/inbox/events` and `GET /v1/sentbox/events`: the caller's watch as Server-Sent Events.
///
/// Every event's `id:` is a cursor. A client that reconnects with `Last-Event-ID` (or `?cursor=`) gets every
/// change after that event — the new watch is opened first, then the changes since the cursor are replayed —
/// and perhaps a few events again (at least once; the ids tell repeats apart). The first event, `ready`, says
/// the stream is live and carries the cursor to resume from if nothing else arrives.
struct EventRoutes: Sendable {
    let client: MailroomClient
    let streams: StreamLimiter
    let heartbeat: Duration

    func register(on group: RouterGroup<APIRequestContext>) {
        group.get("inbox/events") { request, context in try await events(.inbox, request, context) }
        group.get("sentbox/events") { request, context in try await events(.sentbox, request, context) }
    }

    func events(_ box: MailboxEvent.Box, _ request: Request, _ context: APIRequestContext) async throws -> Response {
        let caller = try context.requireCaller()
        let since = try Self.resumeCursor(request)
        guard streams.acquire(caller.hexString) else {
            throw APIError(
                .tooManyRequests,
                "too_many_streams",
                "this key has \(streams.limit) event streams open already; close one first"
            )
        }
        let watch: MailboxWatch
        var replay: [MailboxEvent] = []
        do {
            watch = try await APIFailure.mapping {
                box == .inbox
                    ? try await client.watchInbox(owner: caller) : try await client.watchSentbox(owner: caller)
            }
            if let since {
                replay = try await APIFailure.mapping {
                    try await client.changes(box, owner: caller, since: since).events
                }
            }
        } catch {
            streams.release(caller.hexString)
            throw error
        }
        let streams = streams
        let heartbeat = heartbeat
        let replayed = replay
        let key = caller.hexString
        let body = ResponseBody { writer in
            defer { streams.release(key) }
            try await writer.write(ByteBuffer(string: "retry: 2000\n\n"))
            try await writer.write(
                ByteBuffer(string: Self.frame(id: since ?? watch.cursor, event: "ready", data: "{}"))
            )
            for event in replayed { try await writer.write(ByteBuffer(string: Self.frame(event))) }
            // The watch and a heartbeat comment merged: the heartbeat finds a client that went away. Graceful
            // shutdown (SIGTERM) ends the stream; the client reconnects elsewhere with its last id.
            let (merged, continuation) = AsyncStream<String>.makeStream(bufferingPolicy: .unbounded)
            try await withGracefulShutdownHandler {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        defer { continuation.finish() }
                        do {
                            for try await event in watch { continuation.yield(Self.frame(event)) }
                        } catch {}  // the watch ended (client shut down, consumer too slow): so does the stream
                    }
                    group.addTask {
                        while (try? await Task.sleep(for: heartbeat)) != nil { continuation.yield(": keep-alive\n\n") }
                    }
                    defer { group.cancelAll() }
                    for await frame in merged { try await writer.write(ByteBuffer(string: frame)) }
                }
            } onGracefulShutdown: {
                continuation.finish()
            }
            try await writer.finish(nil)
        }
        return Response(
            status: .ok,
            headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"],
            body: body
        )
    }

    /// `Last-Event-ID`, or the `cursor` query parameter: decimal digits; none means "from now".
    static func resumeCursor(_ request: Request) throws -> UInt64? {
        let query = request.uri.queryParameters
        if let unknown = query.first(where: { $0.key != "cursor" }) {
            throw APIError(.badRequest, "invalid_parameter", "unknown query parameter \(unknown.key)")
        }
        guard let text = request.headers[Self.lastEventID] ?? query["cursor"].map(String.init), !text.isEmpty else {
            return nil
        }
        guard text.utf8.count <= 20, text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), let cursor = UInt64(text)
        else {
            throw APIError(
                .badRequest,
                "invalid_cursor",
                "the resume cursor (Last-Event-ID) is an event id this server sent"
            )
        }
        return cursor
    }

    static let lastEventID = HTTPField.Name("Last-Event-ID")!

    static func frame(_ event: MailboxEvent) -> String {
        frame(
            id: event.cursor,
            event: event.kind.rawValue,
            data: JSONText.object([("ids", JSONText.array(event.messageIDs.map { JSONText.string($0.description) }))])
        )
    }

    static func frame(id: UInt64, event: String, data: String) -> String {
        "id: \(id)\nevent: \(event)\ndata: \(data)\n\n"
    }
}

/// Open event streams per key, at most ``limit`` each.
final class StreamLimiter: Sendable {
    private let open = Mutex([String: Int]())
    let limit: Int

    init(limit: Int) { self.limit = limit }

    func acquire(_ key: String) -> Bool {
        open.withLock { open in
            guard open[key, default: 0] < limit else { return false }
            open[key, default: 0] += 1
            return true
        }
    }

    func release(_ key: String) {
        open.withLock { open in
            let count = open[key, default: 0] - 1
            open[key] = count > 0 ? count : nil
        }
    }

    func count(_ key: String) -> Int { open.withLock { $0[key] ?? 0 } }
}
