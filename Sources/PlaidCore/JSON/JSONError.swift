/// Why and where a text is not the JSON a `JSONReader` takes. The place is a byte offset and the
/// 1-based line and column it falls on (a column counts bytes); `found` is what stands there.
/// Each front end phrases the error in its own words (`description` and `lineDescription` are
/// those of files).
public struct JSONError: Error, Equatable, Sendable, CustomStringConvertible {
    public enum Reason: Equatable, Sendable {
        /// RFC 8259's grammar, or the reader's nesting limit, wants something else here: what,
        /// as in "a value" or "',' or '}'".
        case expected(String)
        /// A whole value, then more than whitespace.
        case trailingContent
        /// A number too large for a double (it would read as infinity).
        case numberOutOfRange(literal: String)
        /// An object names a field twice; RFC 8259 leaves what that means to each reader, so
        /// none takes it. The offset is the second name's.
        case duplicateField(String)
        /// The values read would take more than `memoryMultiple` times the text's size in memory.
        case tooLarge(memoryMultiple: Int)
    }

    /// What stands at the place of a problem.
    public enum Found: Equatable, Sendable {
        case end
        /// U+FEFF as the bytes EF BB BF, which editors on Windows put first in a file; JSON text
        /// has none (RFC 8259, section 8.1).
        case byteOrderMark
        /// A byte that does not start a UTF-8 character there.
        case invalidUTF8(UInt8)
        /// The text from the place on: at most `JSONError.excerptBytes` bytes of whole
        /// characters; `more` when the text goes on after them.
        case text(String, more: Bool)
    }

    public let reason: Reason
    public let offset: Int
    public let line: Int
    public let column: Int
    public let found: Found

    /// The most bytes of text `found` quotes.
    public static let excerptBytes = 20

    /// The error `reason` at byte `offset` of `bytes`. Linear in `offset`: errors are made once.
    init(_ reason: Reason, at offset: Int, in bytes: UnsafeBufferPointer<UInt8>) {
        let before = UnsafeBufferPointer(rebasing: bytes[..<min(offset, bytes.count)])
        self.reason = reason
        self.offset = offset
        line = 1 + before.count(where: { $0 == 0x0A })
        column = offset - (before.lastIndex(of: 0x0A).map { $0 + 1 } ?? 0) + 1
        found = Found(at: offset, in: bytes)
    }

    /// The problem in a text of several lines: "invalid JSON at line 2, column 5: expected …".
    public var description: String {
        sentence(place: "line \(line), column \(column)", whole: "the text", after: "the JSON value")
    }

    /// The problem in one line of a JSONL file, for after "line N: ": "invalid JSON at column 5:
    /// expected …, found "…"". A byte order mark is named, with what to do about it.
    public var lineDescription: String {
        sentence(place: "column \(column)", whole: "the line", after: "the JSON object")
    }

    private func sentence(place: String, whole: String, after: String) -> String {
        let found: String
        switch self.found {
        case .end: found = "the end of \(whole)"
        case .byteOrderMark: found = "a byte order mark (EF BB BF); save the file without one"
        case .invalidUTF8(let byte): found = Found.describe(byte)
        case .text(let text, let more): found = "\"\(visible(text))\(more ? "…" : "")\""
        }
        switch reason {
        case .expected(let what): return "invalid JSON at \(place): expected \(what), found \(found)"
        case .trailingContent: return "invalid JSON at \(place): expected the end of \(whole) after \(after), found \(found)"
        case .numberOutOfRange(let literal): return "the number \(literal) at \(place) is out of range; write finite numbers"
        case .duplicateField(let name): return "the field \"\(name)\" appears twice in one object at \(place); give each field once"
        case .tooLarge(let multiple): return "the JSON values would take more than \(multiple) times the text's size in memory"
        }
    }
}

extension JSONError.Found {
    init(at offset: Int, in bytes: UnsafeBufferPointer<UInt8>) {
        guard offset < bytes.count else { self = .end; return }
        if bytes[offset...].starts(with: [0xEF, 0xBB, 0xBF]) { self = .byteOrderMark; return }
        var end = offset
        while end < bytes.count, let length = utf8Length(at: end, in: bytes), end + length - offset <= JSONError.excerptBytes {
            end += length
        }
        guard end > offset else { self = .invalidUTF8(bytes[offset]); return }
        self = .text(String(decoding: UnsafeBufferPointer(rebasing: bytes[offset..<end]), as: UTF8.self), more: end < bytes.count)
    }

    /// "the byte 0xFF, which is not UTF-8".
    public static func describe(_ byte: UInt8) -> String {
        let hex = String(byte, radix: 16, uppercase: true)
        return "the byte 0x\(hex.count < 2 ? "0" + hex : hex), which is not UTF-8"
    }
}

/// The length in bytes of the UTF-8 character at `offset`, or nil when the bytes there are not one.
func utf8Length(at offset: Int, in bytes: UnsafeBufferPointer<UInt8>) -> Int? {
    if bytes[offset] < 0x80 { return 1 }
    var parser = Unicode.UTF8.ForwardParser()
    var iterator = UnsafeBufferPointer(rebasing: bytes[offset...]).makeIterator()
    guard case .valid(let character) = parser.parseScalar(from: &iterator) else { return nil }
    return character.count
}
