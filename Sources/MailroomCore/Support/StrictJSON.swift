/// A strict JSON reader (RFC 8259) for the portable record's JSON form, which must give the same verdict in
/// every language: numbers keep whether they were written as integers, and duplicate member names are an error.
enum StrictJSON: Equatable {
    case null
    case bool(Bool)
    /// A number written without a fraction or exponent that fits in 64 bits.
    case integer(Int64)
    /// Any other number, kept as its text.
    case otherNumber(String)
    case string(String)
    case array([StrictJSON])
    case object([String: StrictJSON])

    struct Failure: Error {
        let detail: String
    }

    /// Parses one JSON value with nothing but whitespace around it.
    static func parse(_ bytes: [UInt8]) throws(Failure) -> StrictJSON {
        var parser = Parser(bytes: bytes)
        parser.skipWhitespace()
        let value = try parser.value(depth: 0)
        parser.skipWhitespace()
        guard parser.index == bytes.count else { throw Failure(detail: "text follows the JSON value") }
        return value
    }

    private struct Parser {
        let bytes: [UInt8]
        var index = 0

        mutating func skipWhitespace() {
            while index < bytes.count, [0x20, 0x09, 0x0a, 0x0d].contains(bytes[index]) { index += 1 }
        }

        func peek() -> UInt8? { index < bytes.count ? bytes[index] : nil }

        mutating func expect(_ literal: String) throws(Failure) {
            for c in literal.utf8 {
                guard peek() == c else { throw Failure(detail: "unexpected character at \(index)") }
                index += 1
            }
        }

        mutating func value(depth: Int) throws(Failure) -> StrictJSON {
            guard depth < 16 else { throw Failure(detail: "nested more than 16 deep") }
            switch peek() {
            case UInt8(ascii: "{"): return try object(depth: depth)
            case UInt8(ascii: "["): return try array(depth: depth)
            case UInt8(ascii: "\""): return .string(try string())
            case UInt8(ascii: "t"):
                try expect("true")
                return .bool(true)
            case UInt8(ascii: "f"):
                try expect("false")
                return .bool(false)
            case UInt8(ascii: "n"):
                try expect("null")
                return .null
            case .some(let c) where c == UInt8(ascii: "-") || (c >= 0x30 && c <= 0x39): return try number()
            default: throw Failure(detail: "unexpected character at \(index)")
            }
        }

        mutating func object(depth: Int) throws(Failure) -> StrictJSON {
            index += 1
            var members: [String: StrictJSON] = [:]
            // Names compare by their bytes (code points), not by Swift's canonical equivalence.
            var names: Set<[UInt8]> = []
            skipWhitespace()
            if peek() == UInt8(ascii: "}") {
                index += 1
                return .object(members)
            }
            while true {
                skipWhitespace()
                guard peek() == UInt8(ascii: "\"") else { throw Failure(detail: "expected a member name at \(index)") }
                let name = try string()
                guard names.insert(Array(name.utf8)).inserted else {
                    throw Failure(detail: "a member name appears twice")
                }
                skipWhitespace()
                try expect(":")
                skipWhitespace()
                let member = try value(depth: depth + 1)
                members[name] = member
                skipWhitespace()
                if peek() == UInt8(ascii: ",") {
                    index += 1
                    continue
                }
                try expect("}")
                return .object(members)
            }
        }

        mutating func array(depth: Int) throws(Failure) -> StrictJSON {
            index += 1
            var elements: [StrictJSON] = []
            skipWhitespace()
            if peek() == UInt8(ascii: "]") {
                index += 1
                return .array(elements)
            }
            while true {
                skipWhitespace()
                elements.append(try value(depth: depth + 1))
                skipWhitespace()
                if peek() == UInt8(ascii: ",") {
                    index += 1
                    continue
                }
                try expect("]")
                return .array(elements)
            }
        }

        mutating func string() throws(Failure) -> String {
            index += 1
            var out: [UInt8] = []
            while true {
                guard let c = peek() else { throw Failure(detail: "unterminated string") }
                index += 1
                switch c {
                case UInt8(ascii: "\""):
                    guard let text = String(validating: out, as: UTF8.self) else {
                        throw Failure(detail: "a string is not UTF-8")
                    }
                    return text
                case UInt8(ascii: "\\"):
                    guard let escape = peek() else { throw Failure(detail: "unterminated escape") }
                    index += 1
                    switch escape {
                    case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(escape)
                    case UInt8(ascii: "b"): out.append(0x08)
                    case UInt8(ascii: "f"): out.append(0x0c)
                    case UInt8(ascii: "n"): out.append(0x0a)
                    case UInt8(ascii: "r"): out.append(0x0d)
                    case UInt8(ascii: "t"): out.append(0x09)
                    case UInt8(ascii: "u"):
                        var scalar = try hex4()
                        if (0xd800..<0xdc00).contains(scalar) {
                            try expect("\\u")
                            let low = try hex4()
                            guard (0xdc00..<0xe000).contains(low) else { throw Failure(detail: "unpaired surrogate") }
                            scalar = 0x10000 + ((scalar - 0xd800) << 10) + (low - 0xdc00)
                        }
                        guard let unicode = Unicode.Scalar(scalar) else { throw Failure(detail: "unpaired surrogate") }
                        out += Array(String(Character(unicode)).utf8)
                    default: throw Failure(detail: "unknown escape")
                    }
                case 0..<0x20: throw Failure(detail: "control character in a string")
                default: out.append(c)
                }
            }
        }

        mutating func hex4() throws(Failure) -> UInt32 {
            guard index + 4 <= bytes.count else { throw Failure(detail: "short \\u escape") }
            var value: UInt32 = 0
            for _ in 0..<4 {
                let c = bytes[index]
                index += 1
                let digit: UInt32
                switch c {
                case 0x30...0x39: digit = UInt32(c - 0x30)
                case 0x61...0x66: digit = UInt32(c - 0x61 + 10)
                case 0x41...0x46: digit = UInt32(c - 0x41 + 10)
                default: throw Failure(detail: "bad \\u escape")
                }
                value = value << 4 | digit
            }
            return value
        }

        mutating func number() throws(Failure) -> StrictJSON {
            let start = index
            if peek() == UInt8(ascii: "-") { index += 1 }
            guard let first = peek(), first >= 0x30 && first <= 0x39 else { throw Failure(detail: "bad number") }
            index += 1
            if first != 0x30 { while let c = peek(), c >= 0x30 && c <= 0x39 { index += 1 } }
            var integral = true
            if peek() == UInt8(ascii: ".") {
                integral = false
                index += 1
                guard let c = peek(), c >= 0x30 && c <= 0x39 else { throw Failure(detail: "bad number") }
                while let c = peek(), c >= 0x30 && c <= 0x39 { index += 1 }
            }
            if peek() == UInt8(ascii: "e") || peek() == UInt8(ascii: "E") {
                integral = false
                index += 1
                if peek() == UInt8(ascii: "+") || peek() == UInt8(ascii: "-") { index += 1 }
                guard let c = peek(), c >= 0x30 && c <= 0x39 else { throw Failure(detail: "bad number") }
                while let c = peek(), c >= 0x30 && c <= 0x39 { index += 1 }
            }
            guard index - start <= 4300 else { throw Failure(detail: "a number of more than 4,300 characters") }
            let text = String(decoding: bytes[start..<index], as: UTF8.self)
            if integral, let value = Int64(text) { return .integer(value) }
            return .otherNumber(text)
        }
    }
}
