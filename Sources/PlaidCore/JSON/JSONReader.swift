/// plaid's one JSON reader, for the data it is given: text collections (JSONL), metadata files and
/// the server's request bodies. (Configuration files, the manifest and model folders are read with
/// `Codable`.)
///
/// Strict RFC 8259: one value, whitespace around it and nothing else; no byte order mark, no
/// comments, no trailing commas, no NaN; strings of valid UTF-8 whose escapes are the eight
/// RFC 8259 gives and `\u` with surrogates in pairs. Where RFC 8259 leaves the meaning open, the
/// reader refuses: a field named twice in one object, a lone surrogate (no Swift string holds
/// one), a number beyond a double's range. Errors are `JSONError`s naming the place.
///
/// Cost contract: time is linear in the text, and recursion is at most `Options.maximumDepth` deep.
/// The values kept are charged an estimate of their memory; with `Options.memoryMultiple`, a text
/// whose values would take more than that multiple of its size (tiny arrays of varying lengths,
/// say) is refused as soon as they would.
public struct JSONReader {
    /// What one text may cost, and how its arrays of numbers are kept.
    public struct Options: Sendable {
        /// The most levels of nested arrays and objects.
        public var maximumDepth: Int
        /// The most memory the values may take, as a multiple of the text's size (plus 1 MiB);
        /// nil: no bound but the machine's.
        public var memoryMultiple: Int?
        /// Whether arrays of numbers are kept packed (`JSONValue.numbers` and `.rows`), as
        /// doubles: vectors then cost their numbers alone, but an integer beyond 2^53 in such an
        /// array is rounded. Off, every number is a `.number` with its exact integer.
        public var packsNumbers: Bool

        public init(maximumDepth: Int = 512, memoryMultiple: Int? = nil, packsNumbers: Bool = false) {
            self.maximumDepth = maximumDepth
            self.memoryMultiple = memoryMultiple
            self.packsNumbers = packsNumbers
        }
    }

    let bytes: UnsafeBufferPointer<UInt8>
    var position = 0
    private let options: Options
    /// What the values read so far are estimated to take, and the most they may.
    private var charged = 0
    private let budget: Int

    // Estimates of what each kind of value costs beyond its numbers and string bytes.
    private static let containerCost = 64   // an array's header and allocation
    private static let slotCost = MemoryLayout<JSONValue>.stride
    private static let memberCost = MemoryLayout<(key: String, value: JSONValue)>.stride
    /// A name in the set that finds duplicates: a hash table is at most three quarters full.
    private static let nameCost = 2 * MemoryLayout<String>.stride

    init(_ bytes: UnsafeBufferPointer<UInt8>, options: Options) {
        self.bytes = bytes
        self.options = options
        budget = options.memoryMultiple.map { $0 * bytes.count + (1 << 20) } ?? .max
    }

    /// The one value of `text`; throws `JSONError`.
    public static func parse(_ text: some Collection<UInt8>, options: Options = Options()) throws -> JSONValue {
        try withContiguous(text) { bytes in
            var reader = JSONReader(bytes, options: options)
            reader.skipWhitespace()
            let value = try reader.value(depth: 0)
            try reader.expectEnd()
            return value
        }
    }

    /// The members of `text`'s one value, which must be an object (a line of a metadata file,
    /// say); throws `JSONError`.
    public static func parseObject(_ text: some Collection<UInt8>, options: Options = Options()) throws -> [(key: String, value: JSONValue)] {
        try withContiguous(text) { bytes in
            var reader = JSONReader(bytes, options: options)
            try reader.expectObject()
            guard case .object(let members) = try reader.value(depth: 0) else { preconditionFailure("an object reads as one") }
            try reader.expectEnd()
            return members
        }
    }

    private static func withContiguous<R>(_ text: some Collection<UInt8>, _ body: (UnsafeBufferPointer<UInt8>) throws -> R) throws -> R {
        if let result = try text.withContiguousStorageIfAvailable(body) { return result }
        return try Array(text).withUnsafeBufferPointer(body)
    }

    // MARK: - Values

    mutating func value(depth: Int) throws -> JSONValue {
        guard let byte = peek() else { throw error(.expected("a value")) }
        switch byte {
        case UInt8(ascii: "{"): return try object(depth: depth + 1)
        case UInt8(ascii: "["): return try array(depth: depth + 1)
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            let number = try number()
            return .number(number.value, integer: number.integer)
        default: throw error(.expected("a value (a string, number, object, array, true, false or null)"))
        }
    }

    private mutating func object(depth: Int) throws -> JSONValue {
        var members: [(key: String, value: JSONValue)] = []
        var names = MemberNames()
        if try openObject(depth: depth) {
            repeat {
                let name = try memberName(unique: &names)
                try append((name, try value(depth: depth)), to: &members, slotCost: Self.memberCost)
            } while try nextMember()
        }
        try charge(Self.containerCost)
        return .object(members)
    }

    private mutating func array(depth: Int) throws -> JSONValue {
        // Packed while every element is a number (`numbers`), or while every element is an
        // array of the first one's count of numbers (`rows`: `numbers` holds them row after
        // row); unpacked into `values` at the first element that breaks the pattern, or from
        // the start when numbers are not packed.
        var numbers: [Double] = []
        var width = 0   // > 0: rows of this many numbers
        var values: [JSONValue]? = options.packsNumbers ? nil : []
        var first = true
        if try open(depth: depth, closing: UInt8(ascii: "]")) {
            repeat {
                guard let byte = peek() else { throw error(.expected("a value")) }
                if values == nil, width == 0, byte == UInt8(ascii: "-") || isDigit(byte) {
                    numbers.append(try number().value)
                    try charge(8)
                } else if values == nil, width > 0 || first, byte == UInt8(ascii: "[") {
                    let element = try value(depth: depth)
                    if case .numbers(let row) = element, !row.isEmpty, width == 0 || row.count == width {
                        width = row.count
                        numbers += row
                        try charge(-Self.containerCost)   // the row's numbers were charged, its array is gone
                    } else {
                        values = try unpacked(numbers, width: width)
                        try append(element, to: &values!, slotCost: Self.slotCost)
                    }
                } else {
                    if values == nil { values = try unpacked(numbers, width: width) }
                    try append(try value(depth: depth), to: &values!, slotCost: Self.slotCost)
                }
                first = false
            } while try next(closing: UInt8(ascii: "]"), expected: "',' or ']'")
        }
        if let values {
            try charge(Self.containerCost)
            return .array(values)
        }
        try charge(Self.containerCost)
        return width > 0 ? .rows(flat: numbers, width: width) : .numbers(numbers)
    }

    /// The elements packed so far, one value each (charged as such).
    private mutating func unpacked(_ numbers: [Double], width: Int) throws -> [JSONValue] {
        guard width > 0 else {
            try charge(numbers.count * Self.slotCost)
            return numbers.map { .number($0, integer: Int64(exactly: $0)) }
        }
        let rows = numbers.count / width
        try charge(rows * (Self.containerCost + Self.slotCost))
        return (0..<rows).map { .numbers(Array(numbers[($0 * width)..<(($0 + 1) * width)])) }
    }

    /// Appends `element`, charging each growth of the array's storage as it happens: a container
    /// charged only when it closed let a body of millions of small values grow far past the
    /// budget before it was refused.
    private mutating func append<Element>(_ element: Element, to array: inout [Element], slotCost: Int) throws {
        let capacity = array.capacity
        if array.count == capacity { try affordGrowth(from: capacity, slotCost: slotCost) }
        array.append(element)
        if array.capacity > capacity { try charge((array.capacity - capacity) * slotCost) }
    }

    /// Fails when storage about to grow from `capacity` slots would pass the budget while both
    /// the old storage and the new (about twice as large) exist, as they do while it is copied.
    private func affordGrowth(from capacity: Int, slotCost: Int) throws {
        guard charged + 2 * max(capacity, 1) * slotCost <= budget else {
            throw error(.tooLarge(memoryMultiple: options.memoryMultiple ?? 0))
        }
    }

    // MARK: - Objects, member by member

    /// Fails unless an object starts here (after whitespace).
    mutating func expectObject() throws {
        skipWhitespace()
        guard peek() == UInt8(ascii: "{") else { throw error(.expected("a JSON object starting with '{'")) }
    }

    /// Reads the `{` here (at nesting level `depth`) and the whitespace after it; false when the
    /// object is empty, its `}` read too. Then `memberName`, a value and `nextMember` read each member.
    mutating func openObject(depth: Int) throws -> Bool { try open(depth: depth, closing: UInt8(ascii: "}")) }

    /// A member's name and the `:` after it, with the whitespace around them; a name already in
    /// `names` is an error.
    mutating func memberName(unique names: inout MemberNames) throws -> String {
        guard peek() == UInt8(ascii: "\"") else { throw error(.expected("a field name in double quotes")) }
        let start = position
        let name = try string()
        let capacity = names.capacity
        if names.count == capacity { try affordGrowth(from: capacity, slotCost: Self.nameCost) }
        guard names.insert(name) else { throw JSONError(.duplicateField(name), at: start, in: bytes) }
        if names.capacity > capacity { try charge((names.capacity - capacity) * Self.nameCost) }
        skipWhitespace()
        guard peek() == UInt8(ascii: ":") else { throw error(.expected("':' after a field name")) }
        position += 1
        skipWhitespace()
        return name
    }

    /// After a member's value: true at a `,` (read, with the whitespace after it), false at the
    /// object's `}` (read).
    mutating func nextMember() throws -> Bool { try next(closing: UInt8(ascii: "}"), expected: "',' or '}'") }

    private mutating func open(depth: Int, closing: UInt8) throws -> Bool {
        guard depth <= options.maximumDepth else { throw error(.expected("at most \(options.maximumDepth) levels of nesting")) }
        position += 1
        skipWhitespace()
        guard peek() == closing else { return true }
        position += 1
        return false
    }

    private mutating func next(closing: UInt8, expected: String) throws -> Bool {
        skipWhitespace()
        if peek() == UInt8(ascii: ",") {
            position += 1
            skipWhitespace()
            return true
        }
        guard peek() == closing else { throw error(.expected(expected)) }
        position += 1
        return false
    }

    // MARK: - Strings and literals

    mutating func string() throws -> String {
        position += 1
        let start = position
        // The common case: no escapes, so the bytes between the quotes are the string.
        while let byte = peek(), byte != UInt8(ascii: "\""), byte != UInt8(ascii: "\\"), byte >= 0x20 { position += 1 }
        guard peek() == UInt8(ascii: "\"") else { return try escapedString(from: start) }
        let raw = UnsafeBufferPointer(rebasing: bytes[start..<position])
        guard let text = String(validating: raw, as: UTF8.self) else { throw notUTF8(start..<position) }
        if raw.count > 15 { try charge(Self.containerCost + raw.count) }   // longer ones are allocated
        position += 1
        return text
    }

    /// The rest of a string from `start`, its first byte after the opening quote, where the
    /// reader stands at the first escape or control character.
    private mutating func escapedString(from start: Int) throws -> String {
        var utf8 = Array(bytes[start..<position])
        while true {
            guard let byte = peek() else { throw error(.expected("a closing '\"' to end the string")) }
            if byte == UInt8(ascii: "\"") { break }
            guard byte >= 0x20 else { throw error(.expected("an escaped control character (\\n, \\t, \\u…)")) }
            if byte == UInt8(ascii: "\\") { try appendEscape(to: &utf8); continue }
            let run = position
            while let next = peek(), next != UInt8(ascii: "\""), next != UInt8(ascii: "\\"), next >= 0x20 { position += 1 }
            utf8 += bytes[run..<position]
        }
        // Escapes decode to whole characters, never to a continuation byte: the decoded bytes are
        // UTF-8 exactly when the text's own bytes are.
        guard let text = String(validating: utf8, as: UTF8.self) else { throw notUTF8(start..<position) }
        position += 1
        if utf8.count > 15 { try charge(Self.containerCost + utf8.count) }
        return text
    }

    private mutating func appendEscape(to utf8: inout [UInt8]) throws {
        position += 1
        guard let escape = peek() else { throw error(.expected("an escape")) }
        position += 1
        switch escape {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): utf8.append(escape)
        case UInt8(ascii: "b"): utf8.append(0x08)
        case UInt8(ascii: "f"): utf8.append(0x0C)
        case UInt8(ascii: "n"): utf8.append(0x0A)
        case UInt8(ascii: "r"): utf8.append(0x0D)
        case UInt8(ascii: "t"): utf8.append(0x09)
        case UInt8(ascii: "u"):
            let scalar = try unicodeEscape()
            UTF8.encode(scalar) { utf8.append($0) }
        default:
            position -= 1
            throw error(.expected("an escape (\\\", \\\\, \\/, \\b, \\f, \\n, \\r, \\t or \\u)"))
        }
    }

    /// The character of a `\u` escape (its `\u` read), a surrogate pair's two escapes as one.
    private mutating func unicodeEscape() throws -> Unicode.Scalar {
        var code = try hex4()
        if (0xD800..<0xDC00).contains(code) {
            guard position + 1 < bytes.count, bytes[position] == UInt8(ascii: "\\"), bytes[position + 1] == UInt8(ascii: "u") else {
                throw error(.expected("the low half of a surrogate pair"))
            }
            position += 2
            let low = try hex4()
            guard (0xDC00..<0xE000).contains(low) else { throw error(.expected("the low half of a surrogate pair")) }
            code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
        }
        guard let scalar = Unicode.Scalar(code) else { throw error(.expected("a Unicode scalar, not the low half of a surrogate pair alone")) }
        return scalar
    }

    private mutating func hex4() throws -> UInt32 {
        var code: UInt32 = 0
        for _ in 0..<4 {
            guard let byte = peek(), let digit = hexValue(byte) else {
                throw error(.expected("four hex digits after \\u"))
            }
            code = code << 4 | UInt32(digit)
            position += 1
        }
        return code
    }

    /// The error for the first byte of `range` (a string's own bytes) that does not start a UTF-8
    /// character there, `range` being known to hold one.
    private func notUTF8(_ range: Range<Int>) -> JSONError {
        let text = UnsafeBufferPointer(rebasing: bytes[..<range.upperBound])
        var offset = range.lowerBound
        while offset < range.upperBound, let length = utf8Length(at: offset, in: text) { offset += length }
        return JSONError(.expected("UTF-8 text"), at: min(offset, range.upperBound - 1), in: bytes)
    }

    private mutating func literal(_ word: StaticString) throws {
        for i in 0..<word.utf8CodeUnitCount {
            guard peek() == word.utf8Start[i] else { throw error(.expected("\(word)")) }
            position += 1
        }
    }

    /// The names of one object's members, to refuse one named twice: a list while the object is
    /// small (no hashing), a set once it is not (linear time however many members).
    struct MemberNames {
        private var list: [String] = []
        private var set: Set<String>?

        /// Names it can hold before its storage grows, and names it holds.
        var capacity: Int { self.set?.capacity ?? list.capacity }
        var count: Int { self.set?.count ?? list.count }

        /// False when `name` was there already.
        mutating func insert(_ name: String) -> Bool {
            if set != nil { return set!.insert(name).inserted }
            if list.contains(name) { return false }
            list.append(name)
            if list.count > 16 { set = Set(list) }
            return true
        }
    }

    // MARK: - Bytes

    @inline(__always) func peek() -> UInt8? { position < bytes.count ? bytes[position] : nil }
    @inline(__always) func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }

    private func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
        default: return nil
        }
    }

    mutating func skipWhitespace() {
        while position < bytes.count {
            switch bytes[position] {
            case 0x20, 0x0A, 0x0D, 0x09: position += 1
            default: return
            }
        }
    }

    /// Fails unless only whitespace is left.
    mutating func expectEnd() throws {
        skipWhitespace()
        guard position == bytes.count else { throw error(.trailingContent) }
    }

    func error(_ reason: JSONError.Reason) -> JSONError { JSONError(reason, at: position, in: bytes) }

    private mutating func charge(_ cost: Int) throws {
        charged += cost
        guard charged <= budget else { throw error(.tooLarge(memoryMultiple: options.memoryMultiple ?? 0)) }
    }
}
