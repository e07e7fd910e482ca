import Foundation

/// A mailbox entry in portable form, whichever envelope format it came in: a single message's record (record
/// format v1, ``MessageRecord``) or a batch's (record format v2, ``BatchMessageRecord``).
public enum PortableRecord: Sendable, Hashable {
    case single(MessageRecord)
    /// A batch entry, with the id it is listed under (the recipient's message id, or the batch id in a sentbox).
    case batch(BatchMessageRecord, id: MessageID)

    /// The id the entry is listed under.
    public var id: MessageID {
        switch self {
        case .single(let record): record.id
        case .batch(_, let id): id
        }
    }

    /// The JSON form: a single message's as ``MessageRecord/json()``; a batch entry's as
    /// `{"format":"mailroom.record.v2","kind":…,"id":…,"record":…}`, `record` being the binary form
    /// (``BatchMessageRecord/binary()``) in unpadded base64url (docs/ENVELOPE.md, "Portable batch records").
    public func json() -> String {
        var out: [UInt8] = []
        appendJSON(to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// `[` the JSON form of each record, comma-separated `]`, as UTF-8.
    public static func jsonArray(_ records: [PortableRecord]) -> [UInt8] {
        let singles = records.compactMap { record -> MessageRecord? in
            if case .single(let single) = record { single } else { nil }
        }
        if singles.count == records.count { return MessageRecord.jsonArray(singles) }
        var out: [UInt8] = [UInt8(ascii: "[")]
        for (index, record) in records.enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            record.appendJSON(to: &out)
        }
        out.append(UInt8(ascii: "]"))
        return out
    }

    /// The `format` member of a batch entry's JSON form.
    public static let batchJSONFormat = "mailroom.record.v2"

    private func appendJSON(to out: inout [UInt8]) {
        switch self {
        case .single(let record):
            out += record.json().utf8
        case .batch(let record, let id):
            out += #"{"format":"mailroom.record.v2","kind":""#.utf8
            out += record.kind.name.utf8
            out += #"","id":""#.utf8
            out += id.description.utf8
            out += #"","record":""#.utf8
            Base64URL.append(record.binary(), to: &out)
            out += #""}"#.utf8
        }
    }
}

extension PortableRecord {
    /// Reads a record in any of its forms: binary (`mrec`, record format 1 or 2) or JSON (a single message's
    /// object, or a batch entry's `mailroom.record.v2` wrapper; the first line of JSON Lines). Structure only:
    /// verify before trusting it.
    ///
    /// - Throws: ``EnvelopeError`` with code `invalid_record` or `unsupported_record_version`, or what the v1
    ///   JSON reader throws.
    public init(parsing bytes: [UInt8]) throws(EnvelopeError) {
        if bytes.starts(with: BatchMessageRecord.magic) {
            if bytes.count > 4, bytes[4] == BatchMessageRecord.recordVersion {
                let record = try BatchMessageRecord(binary: bytes)
                self = .batch(record, id: try Self.listedID(record))
            } else {
                self = .single(try MessageRecord(binary: bytes))
            }
            return
        }
        let line = Array(bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: true).first ?? [])
        guard line.contains(subsequence: Array(#""format":"mailroom.record.v2""#.utf8)) else {
            self = .single(try MessageRecord(json: line))
            return
        }
        guard let object = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any],
            Set(object.keys) == ["format", "kind", "id", "record"],
            object["format"] as? String == Self.batchJSONFormat,
            let kind = object["kind"] as? String, let id = object["id"] as? String,
            let text = object["record"] as? String, let binary = Base64URL.decode(text)
        else {
            throw EnvelopeError(.invalidRecord, "not a batch entry's JSON form: format, kind, id and record")
        }
        let record = try BatchMessageRecord(binary: binary)
        guard record.kind.name == kind else {
            throw EnvelopeError(.invalidRecord, "kind \(kind) but the record is an \(record.kind.name) record")
        }
        let listed = try Self.listedID(record)
        guard listed.description == id else {
            throw EnvelopeError(.invalidRecord, "id \(id) but the record holds \(listed)")
        }
        self = .batch(record, id: listed)
    }

    /// The id a batch entry is listed under, read from its value: the recipient's message id (inbox), or the batch
    /// id (sentbox).
    static func listedID(_ record: BatchMessageRecord) throws(EnvelopeError) -> MessageID {
        let offset = record.kind == .inbox ? BatchLayout.messageIDOffset : BatchLayout.batchIDOffset
        guard record.value.count >= offset + 16 else {
            throw EnvelopeError(.invalidRecord, "the record's value ends before its id")
        }
        return record.value.withUnsafeBytes { MessageID(copying: $0.baseAddress! + offset) }
    }
}

extension Array where Element == UInt8 {
    fileprivate func contains(subsequence: [UInt8]) -> Bool {
        guard subsequence.count <= count else { return false }
        return (0...(count - subsequence.count)).contains {
            self[$0..<$0 + subsequence.count].elementsEqual(subsequence)
        }
    }
}
