import Foundation
import Hummingbird
import HummingbirdCore
import MailroomCore
import MailroomProducer
import MailroomQuery
import MailroomStore
import NIOCore

/// The `/v1/` routes: each acts on the caller's own mailbox, through the query library and the producer.
struct MailboxRoutes: Sendable {
    let client: MailroomClient
    let producer: MailroomProducer
    let configuration: APIConfiguration

    func register(on router: Router<APIRequestContext>, authenticator: RequestAuthenticator) {
        let v1 = router.group("v1").add(middleware: authenticator)
        v1.put("mailbox") { _, context in try await setupMailbox(context) }
        v1.get("mailbox") { _, context in try await mailbox(context) }
        v1.post("envelopes") { request, context in try await submit(request, context) }
        v1.get("inbox") { request, context in try await inbox(request, context) }
        v1.get("inbox/unread") { _, context in try await unread(context) }
        v1.post("inbox/:id/read") { _, context in try await markRead(context) }
        v1.delete("inbox/:id") { _, context in try await delete(context, inbox: true) }
        v1.get("sentbox") { request, context in try await sentbox(request, context) }
        v1.delete("sentbox/:id") { _, context in try await delete(context, inbox: false) }
        EventRoutes(
            client: client,
            streams: StreamLimiter(limit: configuration.maxStreamsPerKey),
            heartbeat: configuration.eventHeartbeat
        ).register(on: v1)
    }

    // MARK: Mailbox

    func setupMailbox(_ context: APIRequestContext) async throws -> Response {
        let mailbox = try await APIFailure.mapping { try await client.setupMailbox(try context.requireCaller()) }
        return .json(Self.json(mailbox))
    }

    func mailbox(_ context: APIRequestContext) async throws -> Response {
        let mailbox = try await APIFailure.mapping { try await client.mailbox(try context.requireCaller()) }
        return .json(Self.json(mailbox))
    }

    static func json(_ mailbox: Mailbox) -> String {
        JSONText.object([
            ("owner", JSONText.string(mailbox.owner.textileString)),
            ("created_at", JSONText.string(ISO8601DateFormatter().string(from: mailbox.createdAt))),
        ])
    }

    // MARK: Envelopes

    func submit(_ request: Request, _ context: APIRequestContext) async throws -> Response {
        let caller = try context.requireCaller()
        let type = request.headers[.contentType]?.split(separator: ";").first.map {
            $0.trimmingCharacters(in: .whitespaces).lowercased()
        }
        guard type == "application/octet-stream" else {
            throw APIError(
                .unsupportedMediaType,
                "unsupported_media_type",
                "send the envelope as application/octet-stream"
            )
        }
        // The caller may submit only what it signed: the check is cheap next to the signature check to come. The
        // sender key lies at bytes 17..<49 of an envelope (v1), 18..<50 of a batch value (v2: a recipient's
        // record or the sender's copy).
        let body = context.body
        let senderKey: Range<Int>? =
            switch body.first {
            case 1: 17..<49
            case 2: 18..<50
            default: nil
            }
        if let senderKey, body.count >= senderKey.upperBound, Array(body[senderKey]) != caller.bytes {
            throw APIError(
                .forbidden,
                "not_the_sender",
                "the envelope's sender is not the key that signed this request"
            )
        }
        let results = await producer.submitBulk([context.body])
        switch results.first {
        case .sent(let id, let partition, let offset):
            return .json(
                JSONText.object([
                    ("id", JSONText.string(id.description)), ("partition", "\(partition)"), ("offset", "\(offset)"),
                ]),
                status: .accepted
            )
        case .failed(let error):
            throw APIFailure.producer(error)
        case nil:
            throw APIError(.internalServerError, "internal_error", "no result for the envelope")
        }
    }

    // MARK: Pages

    func inbox(_ request: Request, _ context: APIRequestContext) async throws -> Response {
        let caller = try context.requireCaller()
        let page = try PageParameters(request.uri, configuration: configuration, allowStatus: true)
        let messages = try await APIFailure.mapping {
            try await client.listInbox(
                owner: caller,
                seek: page.seek,
                limit: page.limit,
                ascending: page.ascending,
                status: page.status
            )
        }
        return page.response(messages.map { $0.record })
    }

    func sentbox(_ request: Request, _ context: APIRequestContext) async throws -> Response {
        let caller = try context.requireCaller()
        let page = try PageParameters(request.uri, configuration: configuration, allowStatus: false)
        let messages = try await APIFailure.mapping {
            try await client.listSentbox(owner: caller, seek: page.seek, limit: page.limit, ascending: page.ascending)
        }
        return page.response(messages.map { $0.record })
    }

    func unread(_ context: APIRequestContext) async throws -> Response {
        let count = try await APIFailure.mapping { try await client.unreadCount(owner: try context.requireCaller()) }
        return .json(JSONText.object([("unread", "\(count)")]))
    }

    // MARK: One message

    func markRead(_ context: APIRequestContext) async throws -> Response {
        let caller = try context.requireCaller()
        let id = try Self.messageID(context)
        let message = try await APIFailure.mapping { try await client.readInboxMessage(owner: caller, id: id) }
        return .json(JSONText.object([("record", message.record.json())]))
    }

    func delete(_ context: APIRequestContext, inbox: Bool) async throws -> Response {
        let caller = try context.requireCaller()
        let id = try Self.messageID(context)
        try await APIFailure.mapping {
            if inbox {
                try await client.deleteInboxMessage(owner: caller, id: id)
            } else {
                try await client.deleteSentboxMessage(owner: caller, id: id)
            }
        }
        return Response(status: .noContent)
    }

    static func messageID(_ context: APIRequestContext) throws -> MessageID {
        guard let text = context.parameters.get("id"), let id = MessageID(text) else {
            throw APIError(.badRequest, "invalid_id", "the message id is not a ULID (26 Crockford base32 characters)")
        }
        return id
    }
}

/// `seek`, `limit`, `order` and (inbox) `status` of a page request, checked.
struct PageParameters {
    var seek: MessageID?
    var limit: Int
    var ascending: Bool
    var status: InboxStatus = .all

    init(_ uri: URI, configuration: APIConfiguration, allowStatus: Bool) throws {
        let query = uri.queryParameters
        let known: Set<Substring> = allowStatus ? ["seek", "limit", "order", "status"] : ["seek", "limit", "order"]
        if let unknown = query.first(where: { !known.contains($0.key) }) {
            throw APIError(.badRequest, "invalid_parameter", "unknown query parameter \(unknown.key)")
        }
        if let text = query["seek"] {
            guard let id = MessageID(String(text)) else {
                throw APIError(.badRequest, "invalid_seek", "seek is not a message id")
            }
            seek = id
        }
        limit = configuration.defaultPageSize
        if let text = query["limit"] {
            guard let value = Int(text), (1...configuration.maxPageSize).contains(value) else {
                throw APIError(.badRequest, "invalid_limit", "limit is 1 to \(configuration.maxPageSize)")
            }
            limit = value
        }
        switch query["order"].map(String.init) {
        case .none, .some("desc"): ascending = false
        case .some("asc"): ascending = true
        default: throw APIError(.badRequest, "invalid_order", "order is asc or desc")
        }
        if let text = query["status"] {
            guard let status = InboxStatus(rawValue: String(text)) else {
                throw APIError(.badRequest, "invalid_status", "status is all, read or unread")
            }
            self.status = status
        }
    }

    /// `{"records": [...], "next_seek": id or null}`: `next_seek` is set when the page is full.
    func response(_ records: [PortableRecord]) -> Response {
        var body = ByteBuffer()
        body.writeStaticString(#"{"records":"#)
        body.writeBytes(PortableRecord.jsonArray(records))
        body.writeStaticString(#","next_seek":"#)
        if records.count == limit, let last = records.last {
            body.writeString("\"\(last.id)\"")
        } else {
            body.writeStaticString("null")
        }
        body.writeStaticString("}")
        return Response(status: .ok, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: body))
    }
}
