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
