internal import CLibPQ
internal import Foundation

#if canImport(Glibc)
internal import Glibc
#elseif canImport(Darwin)
internal import Darwin
#endif

/// Owns one `PGconn *`. Two ways to use it, never both on one connection:
///
/// * blocking (``connect(url:connectTimeout:applicationName:)``, ``listen(channels:)``,
///   ``waitForNotifications(timeoutMilliseconds:)``): only from a dedicated thread, as ``PostgresListener`` does;
/// * non-blocking, after ``makeNonBlocking()``: ``sendQuery(_:)`` and friends, which never wait for the network,
///   driven by a ``PQConnectionDriver`` from the caller's thread and the ``PQEventLoop`` thread.
///
/// This folder holds every libpq call. (`@unchecked Sendable`: it moves between threads, but every use is
/// serialised — by its one thread, or by its driver's lock.)
final class PQConnectionHandle: @unchecked Sendable {
    private var conn: OpaquePointer?
    /// SQL text → name of the server-side prepared statement on this connection.
    private var preparedStatements: [String: String] = [:]

    private init(conn: OpaquePointer) {
        self.conn = conn
        // Notices (e.g. "relation already exists, skipping") go nowhere; they are not errors.
        PQsetNoticeProcessor(conn, { _, _ in }, nil)
    }

    deinit { close() }

    /// Connects, blocking the calling thread for at most the connect timeout.
    static func connect(
        url: String,
        connectTimeout: Int,
        applicationName: String,
        targetSessionAttributes: String? = nil
    ) throws(PostgresError) -> PQConnectionHandle {
        try validate(url: url)
        // Defaults first: values in the URL (expanded from `dbname`) override them.
        // TCP keepalives notice a silently dead server (a LISTEN session waits on its socket indefinitely
        // otherwise): probes after 30 s idle, every 10 s, given up after 3.
        var keywords = [
            "connect_timeout", "application_name", "client_encoding", "keepalives", "keepalives_idle",
            "keepalives_interval", "keepalives_count",
        ]
        var values = [String(connectTimeout), applicationName, "UTF8", "1", "30", "10", "3"]
        if let targetSessionAttributes {
            keywords.append("target_session_attrs")
            values.append(targetSessionAttributes)
        }
        keywords.append("dbname")
        values.append(url)
        let conn: OpaquePointer? = withCStrings(keywords) { keywordPointers in
            withCStrings(values) { valuePointers in
                PQconnectdbParams(keywordPointers, valuePointers, 1)
            }
        }
        guard let conn else {
            throw PostgresError(.connectionFailed, message: "libpq could not allocate a connection")
        }
        guard PQstatus(conn) == CONNECTION_OK else {
            let message = errorMessage(conn)
            PQfinish(conn)
            throw PostgresError(.connectionFailed, message: message)
        }
        return PQConnectionHandle(conn: conn)
    }

    /// Checks a connection string with libpq's own parser, so a malformed one fails fast with libpq's reason.
    static func validate(url: String) throws(PostgresError) {
        var errorPointer: UnsafeMutablePointer<CChar>?
        let options = PQconninfoParse(url, &errorPointer)
        if let options {
            PQconninfoFree(options)
            return
        }
        var reason = "unparseable connection string"
        if let errorPointer {
            reason = String(cString: errorPointer).trimmingTrailingNewlines()
            PQfreemem(errorPointer)
        }
        throw PostgresError(.invalidURL, message: "invalid database URL: \(redacting(url, in: reason))")
    }

    var isConnected: Bool {
        guard let conn else { return false }
        return PQstatus(conn) == CONNECTION_OK
    }

    /// A token that can cancel the statement running on this connection from another thread.
    func makeCancelToken() -> PQCancelToken? {
        guard let conn, let cancel = PQgetCancel(conn) else { return nil }
        return PQCancelToken(cancel)
    }

    func close() {
        if let conn {
            PQfinish(conn)
            self.conn = nil
            preparedStatements.removeAll()
        }
    }

    // MARK: Non-blocking statements (used by ``PQConnectionDriver``, under its lock)

    /// Puts the connection in non-blocking mode: sends never wait for the socket.
    func makeNonBlocking() throws(PostgresError) {
        guard let conn else { throw PostgresError(.connectionClosed, message: "connection is closed") }
        guard PQsetnonblocking(conn, 1) == 0 else { throw connectionError(conn) }
    }

    /// The socket libpq talks over, or -1 without a connection.
    var socket: Int32 {
        guard let conn else { return -1 }
        return PQsocket(conn)
    }

    /// What ``sendQuery(_:)`` put on the wire.
    enum Sent {
        /// The statement runs; its result follows.
        case statement
        /// The statement is being prepared first (once per connection); call ``sendQuery(_:)`` again after its
        /// result, then the statement itself runs.
        case preparation
    }

    /// Sends one parameterised statement without waiting: prepared once per connection (named statements
    /// reused afterwards), binary parameters and binary results. Call ``flush()`` next.
    func sendQuery(_ query: PostgresQuery) throws(PostgresError) -> Sent {
        guard let conn else { throw PostgresError(.connectionClosed, message: "connection is closed") }
        guard query.isReusable else {
            let types = query.binds.types.map { Oid($0.rawValue) }
            let sent = types.withUnsafeBufferPointer { typePointer in
                query.binds.withParameterPointers { values, lengths, formats in
                    PQsendQueryParams(
                        conn,
                        query.sql,
                        Int32(query.binds.count),
                        typePointer.baseAddress,
                        values,
                        lengths,
                        formats,
                        1
                    )
                }
            }
            guard sent == 1 else { throw connectionError(conn) }
            return .statement
        }
        if let name = preparedStatements[query.sql] {
            let sent = query.binds.withParameterPointers { values, lengths, formats in
                PQsendQueryPrepared(conn, name, Int32(query.binds.count), values, lengths, formats, 1)
            }
            guard sent == 1 else { throw connectionError(conn) }
            return .statement
        }
        let name = "mailroom_\(preparedStatements.count + 1)"
        let types = query.binds.types.map { Oid($0.rawValue) }
        let sent = types.withUnsafeBufferPointer { typePointer in
            PQsendPrepare(conn, name, query.sql, Int32(types.count), typePointer.baseAddress)
        }
        guard sent == 1 else { throw connectionError(conn) }
        pendingPreparation = (query.sql, name)
        return .preparation
    }

    /// The statement whose preparation was sent last, recorded once its result says it succeeded.
    private var pendingPreparation: (sql: String, name: String)?

    /// Records (or forgets) the preparation sent by ``sendQuery(_:)``.
    func preparationFinished(succeeded: Bool) {
        if succeeded, let pending = pendingPreparation { preparedStatements[pending.sql] = pending.name }
        pendingPreparation = nil
    }

    /// Sends SQL text that may hold several statements (the simple query protocol), without waiting.
    func sendScript(_ sql: String) throws(PostgresError) {
        guard let conn else { throw PostgresError(.connectionClosed, message: "connection is closed") }
        guard PQsendQuery(conn, sql) == 1 else { throw connectionError(conn) }
    }

    /// Writes what libpq still holds to the socket, as far as it takes it without waiting.
    /// - Returns: `true` when data is left: wait until the socket is writable (or readable) and call again.
    func flush() throws(PostgresError) -> Bool {
        guard let conn else { throw PostgresError(.connectionClosed, message: "connection is closed") }
        switch PQflush(conn) {
        case 0: return false
        case 1: return true
        default: throw connectionError(conn)
        }
    }

    /// Reads what arrived on the socket, without waiting.
    func consumeInput() throws(PostgresError) {
        guard let conn else { throw PostgresError(.connectionClosed, message: "connection is closed") }
        guard PQconsumeInput(conn) == 1 else { throw connectionError(conn) }
    }

    /// Whether ``nextResult()`` would have to wait for more input.
    var isBusy: Bool {
        guard let conn else { return false }
        return PQisBusy(conn) == 1
    }

    /// What the statement in progress produced next.
    enum Next {
        /// Rows, or the error it ended with.
        case result(Result<PostgresRows, PostgresError>)
        /// The server waits for `COPY … FROM STDIN` data: call ``putCopyData(_:)``.
        case copyIn
    }

    /// The next result of the statement in progress (call only when not ``isBusy``); `nil` once the statement
    /// is complete.
    func nextResult() -> Next? {
        guard let conn else { return nil }
        guard let result = PQgetResult(conn) else { return nil }
        if PQresultStatus(result) == PGRES_COPY_IN {
            PQclear(result)
            return .copyIn
        }
        return .result(Result { () throws(PostgresError) in try rows(taking: result, conn: conn) })
    }

    #if DEBUG
    /// Tests only: the next ``putCopyData(_:)`` fails as libpq does when it cannot queue the data (out of memory).
    var failNextCopyData = false
    #endif

    /// Queues a whole `COPY … FROM STDIN` stream and its end, without waiting. Call ``flush()`` next.
    func putCopyData(_ data: [UInt8]) throws(PostgresError) {
        guard let conn else { throw PostgresError(.connectionClosed, message: "connection is closed") }
        #if DEBUG
        if failNextCopyData {
            failNextCopyData = false
            throw PostgresError(.unexpectedResult, message: "could not queue the COPY data (injected by a test)")
        }
        #endif
        // libpq grows its output buffer to take the data; 0 means it could not (out of memory).
        let queued = data.withUnsafeBytes { bytes in
            PQputCopyData(conn, bytes.baseAddress?.assumingMemoryBound(to: CChar.self), Int32(bytes.count))
        }
        guard queued == 1, PQputCopyEnd(conn, nil) == 1 else { throw connectionError(conn) }
    }

    /// Ends a `COPY … FROM STDIN` with an error instead of data; the statement then fails with `reason`.
    func abortCopy(reason: String) throws(PostgresError) {
        guard let conn else { throw PostgresError(.connectionClosed, message: "connection is closed") }
        guard PQputCopyEnd(conn, reason) == 1 else { throw connectionError(conn) }
    }

    /// A ``PostgresError`` for a connection-level failure (``PostgresError/Code/connectionClosed`` once the session
    /// is gone).
    func currentError() -> PostgresError {
        guard let conn else { return PostgresError(.connectionClosed, message: "connection is closed") }
        return connectionError(conn)
    }

    // MARK: LISTEN / NOTIFY (used by ``PostgresListener`` on its own thread)

    /// Subscribes the session to each channel (`LISTEN "channel"`, the name quoted by libpq).
    func listen(channels: [String]) throws(PostgresError) {
        guard let conn else { throw PostgresError(.connectionClosed, message: "connection is closed") }
        for channel in channels {
            guard let quoted = PQescapeIdentifier(conn, channel, channel.utf8.count) else {
                throw connectionError(conn)
            }
            let sql = "LISTEN " + String(cString: quoted)
            PQfreemem(quoted)
            _ = try consume(PQexec(conn, sql), conn: conn)
        }
    }

    /// The server process serving this session (for `pg_stat_activity`), or 0 without a connection.
    var backendPID: Int32 {
        guard let conn else { return 0 }
        return PQbackendPID(conn)
    }

    /// Waits up to `timeoutMilliseconds` for the socket to become readable, then reads what arrived and returns
    /// the notifications it held. Blocks the calling thread: only for a dedicated listener thread.
    /// - Throws: ``PostgresError`` with code ``PostgresError/Code/connectionClosed`` when the session is gone.
    func waitForNotifications(timeoutMilliseconds: Int32) throws(PostgresError) -> [PostgresNotification] {
        guard let conn else { throw PostgresError(.connectionClosed, message: "connection is closed") }
        let socket = PQsocket(conn)
        guard socket >= 0 else { throw PostgresError(.connectionClosed, message: "connection has no socket") }
        var descriptor = pollfd(fd: socket, events: Int16(POLLIN), revents: 0)
        let ready = poll(&descriptor, 1, timeoutMilliseconds)
        if ready < 0 {
            if errno == EINTR { return [] }
            throw PostgresError(.connectionClosed, message: "poll failed (errno \(errno))")
        }
        if ready > 0 {
            guard PQconsumeInput(conn) == 1 else {
                throw PostgresError(.connectionClosed, message: Self.errorMessage(conn))
            }
        }
        if PQstatus(conn) != CONNECTION_OK {
            throw PostgresError(.connectionClosed, message: Self.errorMessage(conn))
        }
        var notifications: [PostgresNotification] = []
        while let notify = PQnotifies(conn) {
            let channel = notify.pointee.relname.map { String(cString: $0) } ?? ""
            let payload = notify.pointee.extra.map { String(cString: $0) } ?? ""
            notifications.append(
                PostgresNotification(channel: channel, payload: payload, backendPID: notify.pointee.be_pid)
            )
            PQfreemem(notify)
        }
        return notifications
    }

    /// Runs one parameterised statement and waits for its result, blocking the calling thread (binary results).
    func execute(_ query: PostgresQuery) throws(PostgresError) -> PostgresRows {
        guard let conn else { throw PostgresError(.connectionClosed, message: "connection is closed") }
        let types = query.binds.types.map { Oid($0.rawValue) }
        let result = types.withUnsafeBufferPointer { typePointer in
            query.binds.withParameterPointers { values, lengths, formats in
                PQexecParams(
                    conn,
                    query.sql,
                    Int32(query.binds.count),
                    typePointer.baseAddress,
                    values,
                    lengths,
                    formats,
                    1
                )
            }
        }
        return try consume(result, conn: conn)
    }

    /// Converts a result to ``PostgresRows`` or a ``PostgresError``, and frees it (blocking path).
    private func consume(_ result: OpaquePointer?, conn: OpaquePointer) throws(PostgresError) -> PostgresRows {
        guard let result else {
            throw connectionError(conn)
        }
        return try rows(taking: result, conn: conn)
    }

    /// Converts a result to ``PostgresRows`` (which then owns it: rows are read in place) or a ``PostgresError``
    /// (freeing it).
    private func rows(taking result: OpaquePointer, conn: OpaquePointer) throws(PostgresError) -> PostgresRows {
        switch PQresultStatus(result) {
        case PGRES_TUPLES_OK, PGRES_SINGLE_TUPLE:
            return PostgresRows(result: PQResult(taking: result))
        default:
            break
        }
        defer { PQclear(result) }
        switch PQresultStatus(result) {
        case PGRES_COMMAND_OK, PGRES_EMPTY_QUERY:
            return PostgresRows(affectedRows: Self.affectedRows(result))
        case PGRES_FATAL_ERROR, PGRES_NONFATAL_ERROR, PGRES_BAD_RESPONSE:
            if let state = PQresultErrorField(result, Int32(UInt8(ascii: "C"))) {
                let sqlState = String(cString: state)
                var message = "server error"
                if let primary = PQresultErrorField(result, Int32(UInt8(ascii: "M"))) {
                    message = String(cString: primary)
                }
                if sqlState == "57P01" || sqlState.hasPrefix("08") {
                    return try Self.fail(PostgresError(.connectionClosed, sqlState: sqlState, message: message))
                }
                throw PostgresError(.server, sqlState: sqlState, message: message)
            }
            throw connectionError(conn)
        default:
            throw PostgresError(
                .unexpectedResult,
                message: "unexpected result status \(PQresultStatus(result).rawValue)"
            )
        }
    }

    private static func fail(_ error: PostgresError) throws(PostgresError) -> PostgresRows { throw error }

    private func connectionError(_ conn: OpaquePointer) -> PostgresError {
        let message = Self.errorMessage(conn)
        if PQstatus(conn) != CONNECTION_OK {
            return PostgresError(.connectionClosed, message: message)
        }
        return PostgresError(.unexpectedResult, message: message)
    }

    private static func errorMessage(_ conn: OpaquePointer) -> String {
        guard let raw = PQerrorMessage(conn) else { return "unknown libpq error" }
        let text = String(cString: raw).trimmingTrailingNewlines()
        return text.isEmpty ? "unknown libpq error" : text
    }

    private static func affectedRows(_ result: OpaquePointer) -> Int {
        guard let raw = PQcmdTuples(result) else { return 0 }
        return Int(String(cString: raw)) ?? 0
    }
}

/// Cancels the statement in progress on a connection; safe to call from any thread (libpq's `PQcancel`).
/// (`@unchecked Sendable`: it holds a C pointer, which libpq documents as usable from any thread.)
final class PQCancelToken: @unchecked Sendable {
    private let cancel: OpaquePointer

    init(_ cancel: OpaquePointer) { self.cancel = cancel }

    deinit { PQfreeCancel(cancel) }

    func requestCancel() {
        var buffer = [CChar](repeating: 0, count: 256)
        _ = PQcancel(cancel, &buffer, Int32(buffer.count))
    }
}

extension PostgresBindings {
    /// Lays every parameter out in one buffer and passes libpq pointers into it.
    fileprivate func withParameterPointers<R>(
        _ body: (
            UnsafePointer<UnsafePointer<CChar>?>?, UnsafePointer<Int32>?, UnsafePointer<Int32>?
        ) -> R
    ) -> R {
        var flat: [UInt8] = []
        flat.reserveCapacity(values.reduce(0) { $0 + ($1?.count ?? 0) })
        var offsets: [Int] = []
        var lengths: [Int32] = []
        offsets.reserveCapacity(values.count)
        lengths.reserveCapacity(values.count)
        for value in values {
            offsets.append(flat.count)
            if let value {
                flat.append(contentsOf: value)
                lengths.append(Int32(value.count))
            } else {
                lengths.append(-1)
            }
        }
        // A zero-length buffer still needs a valid, non-NULL address for empty (non-NULL) values.
        flat.append(0)
        let formats = [Int32](repeating: 1, count: values.count)
        return flat.withUnsafeBufferPointer { base in
            let start = UnsafeRawPointer(base.baseAddress!).assumingMemoryBound(to: CChar.self)
            let pointers: [UnsafePointer<CChar>?] = (0..<values.count).map { index in
                lengths[index] < 0 ? nil : start + offsets[index]
            }
            return pointers.withUnsafeBufferPointer { pointerBuffer in
                lengths.withUnsafeBufferPointer { lengthBuffer in
                    formats.withUnsafeBufferPointer { formatBuffer in
                        body(pointerBuffer.baseAddress, lengthBuffer.baseAddress, formatBuffer.baseAddress)
                    }
                }
            }
        }
    }
}

/// Replaces the connection string, wherever libpq's message quotes it, by a form without its password.
func redacting(_ url: String, in message: String) -> String {
    guard !url.isEmpty, message.contains(url) else { return message }
    return message.split(separator: url, omittingEmptySubsequences: false).joined(separator: redactedURL(url))
}

/// `postgres://user:secret@host/db` → `postgres://user:***@host/db`; `password=secret` → `password=***`.
func redactedURL(_ url: String) -> String {
    var text = url
    if let scheme = text.range(of: "://"), let at = text[scheme.upperBound...].lastIndex(of: "@") {
        let userInfo = text[scheme.upperBound..<at]
        if let colon = userInfo.firstIndex(of: ":") {
            text.replaceSubrange(text.index(after: colon)..<at, with: "***")
        }
    }
    if let range = text.range(of: "password=") {
        let end = text[range.upperBound...].firstIndex { $0 == " " || $0 == "&" } ?? text.endIndex
        text.replaceSubrange(range.upperBound..<end, with: "***")
    }
    return text
}

/// Passes a NULL-terminated array of C strings.
private func withCStrings<R>(_ strings: [String], _ body: (UnsafePointer<UnsafePointer<CChar>?>) -> R) -> R {
    let duplicates = strings.map { strdup($0) }
    defer { for pointer in duplicates { free(pointer) } }
    let pointers: [UnsafePointer<CChar>?] = duplicates.map { UnsafePointer($0) } + [nil]
    return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
}

extension String {
    fileprivate func trimmingTrailingNewlines() -> String {
        var text = self
        while let last = text.last, last.isNewline || last == " " { text.removeLast() }
        return text
    }
}
