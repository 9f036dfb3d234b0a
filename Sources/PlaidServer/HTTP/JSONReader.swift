import Foundation

/// A JSON value as the API reads it. An array whose elements are all numbers is kept packed
/// (`numbers`): request bodies are mostly vectors, tens of thousands of numbers each, and
/// Foundation's `JSONDecoder` spent as long decoding one query's vectors (8.7 ms for 32 × 384)
/// as the search took to run it.
enum JSONValue: Sendable {
    case null
    case bool(Bool)
    /// `integer` when the literal has no fraction or exponent and fits 64 bits.
    case number(Double, integer: Int64?)
    case string(String)
    case numbers([Double])
    /// An array of arrays that each hold `width` (at least 1) numbers, packed into one run, row
    /// after row: vectors cost their numbers and nothing per row.
    case rows(flat: [Double], width: Int)
    case array([JSONValue])
    /// Members in body order; a key appears once.
    case object([(key: String, value: JSONValue)])

    /// What a client would call this kind of value, for error messages.
    var kind: String {
        switch self {
        case .null: return "null"
        case .bool: return "a boolean"
        case .number: return "a number"
        case .string: return "a string"
        case .numbers, .rows, .array: return "an array"
        case .object: return "an object"
        }
    }
}

/// A strict RFC 8259 parser into `JSONValue`. Errors say what was expected and where (the byte
/// offset, line and column), in one sentence.
///
/// Cost contract: time is linear in the body, and the values kept are charged an estimate of
/// their memory; a body whose values would take more than `memoryMultiple` times its own size
/// (tiny arrays of varying lengths, say) is refused with a 413 as soon as it does, so memory
/// never grows past a small multiple of `--max-body-mib`.
struct JSONReader {
    private let bytes: [UInt8]
    private var position = 0
    private static let maximumDepth = 64
    static let memoryMultiple = 6
    /// What the values parsed so far are estimated to take, and the most they may.
    private var charged = 0
    private let budget: Int

    // Estimates of what each kind of value costs beyond its numbers and string bytes.
    private static let containerCost = 64   // an array's header and allocation
    private static let slotCost = MemoryLayout<JSONValue>.stride
    private static let memberCost = MemoryLayout<(key: String, value: JSONValue)>.stride

    /// Parses the whole body; anything after the value but whitespace is an error.
    static func parse(_ data: some Collection<UInt8>) throws -> JSONValue {
        var copy: [UInt8] = []
        copy.reserveCapacity(data.count + 1)
        copy.append(contentsOf: data)
        copy.append(0)   // NUL-terminated for strtod
        var reader = JSONReader(bytes: copy, budget: memoryMultiple * copy.count + (1 << 20))
        reader.skipWhitespace()
        let value = try reader.value(depth: 0)
        reader.skipWhitespace()
        guard reader.position == reader.bytes.count - 1 else { throw reader.error("expected the end of the body") }
        return value
    }

    private init(bytes: [UInt8], budget: Int) { self.bytes = bytes; self.budget = budget }

    private mutating func charge(_ bytes: Int) throws {
        charged += bytes
        guard charged <= budget else {
            throw APIError.tooLarge("the body's JSON values would take more than \(JSONReader.memoryMultiple) times its size in memory (arrays of a few numbers each, of varying lengths); send vectors as rows of equal length")
        }
    }

    private var current: UInt8 { bytes[position] }
    private var atEnd: Bool { position >= bytes.count - 1 }

    private func error(_ expected: String) -> APIError {
        var line = 1, column = 1
        for b in bytes[..<min(position, bytes.count - 1)] {
            if b == UInt8(ascii: "\n") { line += 1; column = 1 } else { column += 1 }
        }
        let found = atEnd ? "the end of the body" : "'\(Character(Unicode.Scalar(current)))'"
        return .badRequest("the body is not valid JSON: \(expected) at line \(line), column \(column), found \(found)")
    }

    private mutating func skipWhitespace() {
        while !atEnd {
            switch current {
            case 0x20, 0x0A, 0x0D, 0x09: position += 1
            default: return
            }
        }
    }

    private mutating func expect(_ literal: String, _ value: JSONValue) throws -> JSONValue {
        for b in literal.utf8 {
            guard !atEnd, current == b else { throw error("expected \(literal)") }
            position += 1
        }
        return value
    }

    private mutating func value(depth: Int) throws -> JSONValue {
        guard !atEnd else { throw error("expected a value") }
        switch current {
        case UInt8(ascii: "{"): return try object(depth: depth + 1)
        case UInt8(ascii: "["): return try array(depth: depth + 1)
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): return try expect("true", .bool(true))
        case UInt8(ascii: "f"): return try expect("false", .bool(false))
        case UInt8(ascii: "n"): return try expect("null", .null)
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            let (number, integer) = try number()
            return .number(number, integer: integer)
        default: throw error("expected a value (a string, number, object, array, true, false or null)")
        }
    }

    private mutating func object(depth: Int) throws -> JSONValue {
        guard depth <= JSONReader.maximumDepth else { throw error("expected at most \(JSONReader.maximumDepth) levels of nesting") }
        position += 1
        var members: [(key: String, value: JSONValue)] = []
        var keys = Set<String>()
        skipWhitespace()
        if !atEnd, current == UInt8(ascii: "}") { position += 1; try charge(JSONReader.containerCost); return .object(members) }
        while true {
            skipWhitespace()
            guard !atEnd, current == UInt8(ascii: "\"") else { throw error("expected a field name in double quotes") }
            let key = try string()
            guard keys.insert(key).inserted else { throw APIError.badRequest("the body names the field \"\(key)\" twice in one object") }
            skipWhitespace()
            guard !atEnd, current == UInt8(ascii: ":") else { throw error("expected ':' after a field name") }
            position += 1
            skipWhitespace()
            members.append((key, try value(depth: depth)))
            skipWhitespace()
            guard !atEnd else { throw error("expected ',' or '}'") }
            if current == UInt8(ascii: ",") { position += 1; continue }
            guard current == UInt8(ascii: "}") else { throw error("expected ',' or '}'") }
            position += 1
            try charge(JSONReader.containerCost + members.count * JSONReader.memberCost)
            return .object(members)
        }
    }

    private mutating func array(depth: Int) throws -> JSONValue {
        guard depth <= JSONReader.maximumDepth else { throw error("expected at most \(JSONReader.maximumDepth) levels of nesting") }
        position += 1
        // Packed while every element is a number (`numbers`), or while every element is an
        // array of the first one's count of numbers (`rows`: `numbers` holds them row after
        // row); unpacked into `values` at the first element that breaks the pattern.
        var numbers: [Double] = []
        var width = 0   // > 0: rows of this many numbers
        var values: [JSONValue]?
        skipWhitespace()
        if !atEnd, current == UInt8(ascii: "]") { position += 1; try charge(JSONReader.containerCost); return .numbers([]) }
        var first = true
        while true {
            skipWhitespace()
            guard !atEnd else { throw error("expected a value") }
            if values == nil, width == 0, current == UInt8(ascii: "-") || (current >= UInt8(ascii: "0") && current <= UInt8(ascii: "9")) {
                numbers.append(try number().value)
                try charge(8)
            } else if values == nil, width > 0 || first, current == UInt8(ascii: "[") {
                let element = try value(depth: depth)
                if case .numbers(let row) = element, !row.isEmpty, width == 0 || row.count == width {
                    width = row.count
                    numbers += row
                    try charge(-JSONReader.containerCost)   // the row's numbers were charged, its array is gone
                } else {
                    values = try unpacked(numbers, width: width)
                    values!.append(element)
                }
            } else {
                if values == nil { values = try unpacked(numbers, width: width) }
                values!.append(try value(depth: depth))
            }
            first = false
            skipWhitespace()
            guard !atEnd else { throw error("expected ',' or ']'") }
            if current == UInt8(ascii: ",") { position += 1; continue }
            guard current == UInt8(ascii: "]") else { throw error("expected ',' or ']'") }
            position += 1
            if let values {
                try charge(JSONReader.containerCost + values.count * JSONReader.slotCost)
                return .array(values)
            }
            try charge(JSONReader.containerCost)
            return width > 0 ? .rows(flat: numbers, width: width) : .numbers(numbers)
        }
    }

    /// The elements packed so far, one value each (charged as such).
    private mutating func unpacked(_ numbers: [Double], width: Int) throws -> [JSONValue] {
        guard width > 0 else { return numbers.map { .number($0, integer: Int64(exactly: $0)) } }
        let rows = numbers.count / width
        try charge(rows * JSONReader.containerCost)
        return (0..<rows).map { .numbers(Array(numbers[($0 * width)..<(($0 + 1) * width)])) }
    }

    private mutating func number() throws -> (value: Double, integer: Int64?) {
        let start = position
        // The digits are gathered as they are checked: most vector components ("0.0123456")
        // take Clinger's exact path below instead of strtod.
        var mantissa: UInt64 = 0, significantDigits = 0, fractionDigits = 0
        func digits(fraction: Bool) -> Int {
            let first = position
            while !atEnd, current >= UInt8(ascii: "0"), current <= UInt8(ascii: "9") {
                if significantDigits < 19 {
                    mantissa = mantissa &* 10 &+ UInt64(current - UInt8(ascii: "0"))
                    if mantissa > 0 { significantDigits += 1 }
                    if fraction { fractionDigits += 1 }
                } else if !fraction {
                    significantDigits += 1   // too many digits: strtod decides
                }
                position += 1
            }
            return position - first
        }
        let negative = current == UInt8(ascii: "-")
        if negative { position += 1 }
        guard !atEnd, current >= UInt8(ascii: "0"), current <= UInt8(ascii: "9") else { throw error("expected a digit") }
        if current == UInt8(ascii: "0") { position += 1 } else { _ = digits(fraction: false) }
        var isInteger = true
        if !atEnd, current == UInt8(ascii: ".") {
            position += 1
            isInteger = false
            guard digits(fraction: true) > 0 else { throw error("expected a digit after the decimal point") }
        }
        var exponent = 0, exponentDigits = 0
        if !atEnd, current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
            position += 1
            isInteger = false
            var exponentNegative = false
            if !atEnd, current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { exponentNegative = current == UInt8(ascii: "-"); position += 1 }
            while !atEnd, current >= UInt8(ascii: "0"), current <= UInt8(ascii: "9") {
                if exponent < 100_000 { exponent = exponent * 10 + Int(current - UInt8(ascii: "0")) }
                exponentDigits += 1
                position += 1
            }
            guard exponentDigits > 0 else { throw error("expected a digit in the exponent") }
            if exponentNegative { exponent = -exponent }
        }
        let value: Double
        let scale = exponent - fractionDigits
        if significantDigits <= 15, mantissa < 1 << 53, abs(scale) <= 22 {
            // Clinger's fast path: the mantissa and 10^|scale| are exact doubles, so one
            // multiplication or division rounds correctly, as strtod would.
            let magnitude = scale >= 0 ? Double(mantissa) * JSONReader.powersOfTen[scale] : Double(mantissa) / JSONReader.powersOfTen[-scale]
            value = negative ? -magnitude : magnitude
        } else {
            value = bytes.withUnsafeBufferPointer { buffer in
                buffer.baseAddress!.withMemoryRebound(to: CChar.self, capacity: buffer.count) { strtod($0 + start, nil) }
            }
        }
        guard value.isFinite else {
            let literal = String(decoding: bytes[start..<position], as: UTF8.self)
            throw APIError.badRequest("the number \(literal) in the body is out of range; send finite numbers")
        }
        let integer = isInteger ? Int64(String(decoding: bytes[start..<position], as: UTF8.self)) : nil
        return (value, integer)
    }

    /// 10^0 … 10^22, each exact in a double.
    private static let powersOfTen: [Double] = (0...22).map { n in (0..<n).reduce(1.0) { value, _ in value * 10 } }

    private mutating func string() throws -> String {
        position += 1
        let start = position
        // The common case: no escapes, so the bytes are the string.
        while !atEnd, current != UInt8(ascii: "\""), current != UInt8(ascii: "\\"), current >= 0x20 { position += 1 }
        if !atEnd, current == UInt8(ascii: "\"") {
            guard let text = String(validating: bytes[start..<position], as: UTF8.self) else { throw error("expected UTF-8 text") }
            if position - start > 15 { try charge(JSONReader.containerCost + position - start) }   // longer ones are allocated
            position += 1
            return text
        }
        var scalars = Array(bytes[start..<position])
        while true {
            guard !atEnd else { throw error("expected '\"' to close the string") }
            let b = current
            if b == UInt8(ascii: "\"") { position += 1; break }
            guard b >= 0x20 else { throw error("expected an escaped control character (\\n, \\t, \\u…)") }
            if b != UInt8(ascii: "\\") { scalars.append(b); position += 1; continue }
            position += 1
            guard !atEnd else { throw error("expected an escape") }
            let escape = current
            position += 1
            switch escape {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): scalars.append(escape)
            case UInt8(ascii: "b"): scalars.append(0x08)
            case UInt8(ascii: "f"): scalars.append(0x0C)
            case UInt8(ascii: "n"): scalars.append(0x0A)
            case UInt8(ascii: "r"): scalars.append(0x0D)
            case UInt8(ascii: "t"): scalars.append(0x09)
            case UInt8(ascii: "u"):
                var code = try hex4()
                if (0xD800..<0xDC00).contains(code) {
                    guard position + 1 < bytes.count - 1, bytes[position] == UInt8(ascii: "\\"), bytes[position + 1] == UInt8(ascii: "u") else {
                        throw error("expected the low half of a surrogate pair")
                    }
                    position += 2
                    let low = try hex4()
                    guard (0xDC00..<0xE000).contains(low) else { throw error("expected the low half of a surrogate pair") }
                    code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                }
                guard let scalar = Unicode.Scalar(code) else { throw error("expected a Unicode scalar") }
                scalars += Array(String(Character(scalar)).utf8)
            default:
                position -= 1
                throw error("expected an escape (\\\", \\\\, \\/, \\b, \\f, \\n, \\r, \\t or \\u)")
            }
        }
        guard let text = String(validating: scalars, as: UTF8.self) else { throw error("expected UTF-8 text") }
        if scalars.count > 15 { try charge(JSONReader.containerCost + scalars.count) }
        return text
    }

    private mutating func hex4() throws -> UInt32 {
        var code: UInt32 = 0
        for _ in 0..<4 {
            guard !atEnd, let digit = Character(Unicode.Scalar(current)).hexDigitValue else { throw error("expected four hex digits") }
            code = code << 4 | UInt32(digit)
            position += 1
        }
        return code
    }
}
