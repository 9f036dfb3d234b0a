import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One document or query: its id and the text the encoder sees.
public struct TextRecord: Equatable, Hashable, Sendable {
    public let id: String
    public let text: String

    public init(id: String, text: String) {
        self.id = id
        self.text = text
    }
}

/// A collection line as the file gives it: the title (nil when absent or null) and the text, before
/// they are joined into what the encoder sees. Stored text keeps them apart, with their characters
/// as given, so that spans and snippets point into the original text.
public struct CollectionDocument: Equatable, Sendable {
    public let id: String
    public let title: String?
    public let text: String

    public init(id: String, title: String?, text: String) {
        self.id = id
        self.title = title
        self.text = text
    }

    /// What the encoder sees (`TextCollectionReader` says why): `(title + " " + text).strip()`
    /// with a title, else `text.strip()`.
    public var record: TextRecord { TextRecord(id: id, text: pythonStrip(title.map { $0 + " " + text } ?? text)) }
}

/// The line formats a text collection can have. A `.zst` suffix is allowed after either extension.
public enum TextCollectionFormat: Sendable {
    /// One JSON object a line: BEIR `corpus.jsonl` (`_id`, `title`, `text`), BEIR `queries.jsonl`
    /// (`_id`, `text`) or plain JSONL (`id`, `text`). Other fields (`metadata`) are checked for syntax and ignored.
    case jsonl
    /// `id<TAB>text`, one record a line, exactly one tab. The first line is a header, and skipped, only when its
    /// second field is `text` and its first one of `id`, `_id`, `docid`, `doc_id`, `pid`, `qid`, `query_id`,
    /// `query-id` (any case): a real record cannot be told from a header otherwise, so nothing else is guessed.
    case tsv

    /// The format named by the file's extension (`.jsonl`, `.json`, `.tsv`, each optionally followed by `.zst`).
    public init(path: String) throws {
        var name = path.lowercased()
        if name.hasSuffix(".zst") { name.removeLast(4) }
        if name.hasSuffix(".jsonl") || name.hasSuffix(".json") {
            self = .jsonl
        } else if name.hasSuffix(".tsv") {
            self = .tsv
        } else {
            throw PlaidError.invalidArgument(
                "\(path): cannot tell the format of a text collection from its name; expected a name ending in "
                    + ".jsonl, .tsv, .jsonl.zst or .tsv.zst")
        }
    }
}

/// Reads a collection of texts (documents or queries) record by record, with memory bounded by the longest
/// line: the file, possibly zstd-compressed, is read in chunks and never held whole.
///
/// Document text follows BEIR and PyLate: when a record has a `title`, the text is `(title + " " + text).strip()`,
/// otherwise `text.strip()`, with Python's `str.strip` whitespace. PyLate's `evaluation/beir.py` (`load_beir`)
/// builds it as `f"{document['title']} {document['text']}".strip() if "title" in document else
/// document["text"].strip()`, and BEIR's `models/sentence_bert.py` as `(doc["title"] + " " + doc["text"]).strip()`.
/// A `null` title counts as absent (BEIR's loader would turn it into the word "None"). Queries go through the same
/// rule; stripping changes nothing a tokenizer sees.
///
/// Each malformed line (bad JSON, missing or non-string id/text, a TSV line without exactly one tab, an id seen
/// before) throws `PlaidError.invalidInput` naming the file and the 1-based line (and, for JSON, the column).
/// Blank lines are skipped. JSONL lines are read by `JSONReader`, strictly (RFC 8259).
public final class TextCollectionReader {
    public let path: String
    public let format: TextCollectionFormat
    private let lines: LineReader
    private let checksDuplicates: Bool
    /// Where each id was first seen, to name both lines when one repeats.
    private var seen: [String: Int] = [:]

    /// Opens `path`; `format` defaults to the one its name gives. `checkDuplicateIDs` keeps every id in a hash
    /// table (about 100 bytes an id): turn it off for collections with too many records for that.
    public init(path: String, format: TextCollectionFormat? = nil, checkDuplicateIDs: Bool = true) throws {
        self.path = path
        self.format = try format ?? TextCollectionFormat(path: path)
        checksDuplicates = checkDuplicateIDs
        lines = LineReader(stream: try openByteStream(path: path))
    }

    /// The 1-based number of the line the last record came from.
    public var lineNumber: Int { lines.lineNumber }

    /// The next record, or nil at the end of the file.
    public func next() throws -> TextRecord? { try nextDocument()?.record }

    /// The next record with its title and text apart, or nil at the end of the file.
    public func nextDocument() throws -> CollectionDocument? {
        while let line = try lines.nextLine() {
            let number = lines.lineNumber
            if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) { continue }
            let record: CollectionDocument
            do {
                switch format {
                case .jsonl: record = try Self.parseJSONLine(line)
                case .tsv:
                    guard let r = try Self.parseTSVLine(line, isFirst: number == 1) else { continue }
                    record = r
                }
            } catch let problem as LineProblem {
                throw PlaidError.invalidInput(file: path, detail: "line \(number): \(problem.message)")
            } catch let problem as JSONError {
                throw PlaidError.invalidInput(file: path, detail: "line \(number): \(problem.lineDescription)")
            }
            if checksDuplicates, let first = seen.updateValue(number, forKey: record.id) {
                seen[record.id] = first
                throw PlaidError.invalidInput(
                    file: path,
                    detail: "line \(number): id \"\(record.id)\" was already used on line \(first); expected unique ids")
            }
            return record
        }
        return nil
    }

    /// Calls `body` with each record in file order.
    public func forEach(_ body: (TextRecord) throws -> Void) throws {
        while let record = try next() { try body(record) }
    }

    /// All records of the file at `path`, in file order.
    public static func read(path: String, format: TextCollectionFormat? = nil) throws -> [TextRecord] {
        let reader = try TextCollectionReader(path: path, format: format)
        var records: [TextRecord] = []
        try reader.forEach { records.append($0) }
        return records
    }

    // MARK: - Line formats

    private static func parseTSVLine(_ line: UnsafeBufferPointer<UInt8>, isFirst: Bool) throws -> CollectionDocument? {
        guard let tab = line.firstIndex(of: 0x09) else {
            throw LineProblem("expected id<TAB>text, found no tab")
        }
        let rest = UnsafeBufferPointer(rebasing: line[(tab + 1)...])
        if let second = rest.firstIndex(of: 0x09) {
            throw LineProblem("expected id<TAB>text with exactly one tab, found another tab at column \(tab + 1 + second + 1)")
        }
        let id = try decodeUTF8(UnsafeBufferPointer(rebasing: line[..<tab]), what: "the id")
        let text = try decodeUTF8(rest, what: "the text")
        if isFirst && text.lowercased() == "text"
            && ["id", "_id", "docid", "doc_id", "pid", "qid", "query_id", "query-id"].contains(id.lowercased()) {
            return nil
        }
        guard !id.isEmpty else { throw LineProblem("expected an id before the tab, found an empty id") }
        return CollectionDocument(id: id, title: nil, text: text)
    }

    private static func parseJSONLine(_ line: UnsafeBufferPointer<UInt8>) throws -> CollectionDocument {
        var fields = try JSONReader.collectionFields(of: line, keeping: ["_id", "id", "title", "text"])
        // BEIR names the field `_id`; plain JSONL often `id`. When both appear, BEIR's wins.
        guard let idValue = fields["_id"] ?? fields["id"] else {
            throw LineProblem("expected a JSON object with \"_id\" (or \"id\") and \"text\", found no id field")
        }
        let id: String
        switch idValue {
        case .string(let s): id = s
        case .integer(let literal): id = literal
        case .null, .other: throw LineProblem("expected the id to be a string, found \(idValue.kindName)")
        }
        guard !id.isEmpty else { throw LineProblem("expected a non-empty id, found \"\"") }
        guard let textValue = fields.removeValue(forKey: "text") else {
            throw LineProblem("expected a \"text\" field in the record with id \"\(id)\", found none")
        }
        guard case .string(let text) = textValue else {
            throw LineProblem("expected \"text\" to be a string in the record with id \"\(id)\", found \(textValue.kindName)")
        }
        switch fields["title"] {
        case .string(let title)?: return CollectionDocument(id: id, title: title, text: text)
        case nil, .null?: return CollectionDocument(id: id, title: nil, text: text)
        case let other?:
            throw LineProblem("expected \"title\" to be a string in the record with id \"\(id)\", found \(other.kindName)")
        }
    }
}

// MARK: - Lines

/// Splits a byte stream into lines without their `\n` (and a `\r` before it), reading 1 MiB at a time.
/// A line longer than the buffer grows it; memory is bounded by the longest line.
public final class LineReader {
    /// The file the lines come from, for error messages.
    public var path: String { stream.path }
    private let stream: ByteStream
    private var buffer: UnsafeMutableRawBufferPointer
    private var start = 0
    private var end = 0
    private var finished = false
    /// 1-based number of the line last returned.
    public private(set) var lineNumber = 0
    /// The longest line read before `nextLine` fails naming the line; nil: no limit but memory.
    /// For inputs whose lines are short by nature, so that a file with no newline (`/dev/zero`)
    /// is an error, not a process that grows until it is killed.
    public var maximumLineBytes: Int?

    public init(stream: ByteStream, chunk: Int = 1 << 20) {
        self.stream = stream
        buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunk, alignment: 64)
    }

    /// Reads the file at `path`, decompressing it on the fly when its name ends in `.zst`.
    public convenience init(path: String) throws {
        self.init(stream: try openByteStream(path: path))
    }

    deinit { buffer.deallocate() }

    /// The next line, valid until the next call; nil at the end.
    public func nextLine() throws -> UnsafeBufferPointer<UInt8>? {
        var searchFrom = start
        while true {
            let base = buffer.baseAddress!.assumingMemoryBound(to: UInt8.self)
            if let hit = memchr(base + searchFrom, 0x0A, end - searchFrom) {
                let newline = UnsafeMutableRawPointer(hit).assumingMemoryBound(to: UInt8.self) - base
                let line = trimCR(base, from: start, to: newline)
                start = newline + 1
                lineNumber += 1
                return line
            }
            if finished {
                guard start < end else { return nil }
                let line = trimCR(base, from: start, to: end)
                start = end
                lineNumber += 1
                return line
            }
            searchFrom = end - start
            if let maximumLineBytes, end - start > maximumLineBytes {
                throw PlaidError.invalidInput(file: path, detail: "line \(lineNumber + 1) is longer than \(maximumLineBytes) bytes without a newline; expected short lines, one item per line")
            }
            try refill()
        }
    }

    /// The line without its carriage return, and the first line without a UTF-8 byte-order mark
    /// (editors on Windows write one; it is not part of the text).
    private func trimCR(_ base: UnsafeMutablePointer<UInt8>, from: Int, to: Int) -> UnsafeBufferPointer<UInt8> {
        var to = to, from = from
        if to > from && base[to - 1] == 0x0D { to -= 1 }
        if lineNumber == 0 && to - from >= 3 && base[from] == 0xEF && base[from + 1] == 0xBB && base[from + 2] == 0xBF { from += 3 }
        return UnsafeBufferPointer(start: base + from, count: to - from)
    }

    /// Moves the unread tail to the front (growing the buffer when it is all one line) and reads more after it.
    private func refill() throws {
        let pending = end - start
        if pending == buffer.count {
            let bigger = UnsafeMutableRawBufferPointer.allocate(byteCount: buffer.count * 2, alignment: 64)
            bigger.copyMemory(from: UnsafeRawBufferPointer(rebasing: buffer[start..<end]))
            buffer.deallocate()
            buffer = bigger
        } else if start > 0 {
            memmove(buffer.baseAddress!, buffer.baseAddress! + start, pending)
        }
        start = 0
        end = pending
        let n = try stream.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[end...]))
        if n == 0 { finished = true }
        end += n
    }
}

// MARK: - Text helpers

/// `text` with invisible characters (controls, format characters such as a byte-order mark or a
/// zero-width space, unassigned code points) written as `\u{XXXX}`, for error messages.
public func visible(_ text: String) -> String {
    var out = ""
    for scalar in text.unicodeScalars {
        switch scalar.properties.generalCategory {
        case .control, .format, .unassigned, .privateUse, .surrogate, .lineSeparator, .paragraphSeparator:
            out += String(format: "\\u{%04X}", scalar.value)
        default:
            out.unicodeScalars.append(scalar)
        }
    }
    return out
}

/// What is wrong with one line; the reader adds the file and line number.
public struct LineProblem: Error {
    public let message: String
    public init(_ message: String) { self.message = message }
}

/// `bytes` as a String, or a `LineProblem` naming `what` when they are not valid UTF-8.
public func decodeUTF8(_ bytes: UnsafeBufferPointer<UInt8>, what: String) throws -> String {
    guard let s = String(validating: bytes, as: UTF8.self) else {
        throw LineProblem("expected UTF-8 text in \(what), found invalid UTF-8 bytes")
    }
    return s
}

/// Python's `str.strip()` with no argument: removes the characters for which `str.isspace()` is true
/// (Unicode White_Space plus U+001C…U+001F), which differs from Foundation's `whitespacesAndNewlines`.
public func pythonStrip(_ s: String) -> String {
    let scalars = s.unicodeScalars
    guard let first = scalars.firstIndex(where: { !isPythonSpace($0) }) else { return "" }
    let last = scalars.lastIndex(where: { !isPythonSpace($0) })!
    if first == scalars.startIndex && last == scalars.index(before: scalars.endIndex) { return s }
    return String(scalars[first...last])
}

@inline(__always)
func isPythonSpace(_ c: Unicode.Scalar) -> Bool {
    switch c.value {
    case 0x09...0x0D, 0x1C...0x20, 0x85, 0xA0, 0x1680, 0x2000...0x200A, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000:
        return true
    default:
        return false
    }
}

// MARK: - JSON lines

/// A top-level field value the reader cares about; anything else is checked for syntax and summarized.
enum JSONField {
    case string(String)
    /// An integer literal, kept as written (ids are sometimes numbers).
    case integer(String)
    case null
    case other(String)

    var kindName: String {
        switch self {
        case .string: return "a string"
        case .integer: return "a number"
        case .null: return "null"
        case .other(let kind): return kind
        }
    }
}

extension JSONReader {
    /// A JSONL line's one object, with only the `wanted` top-level fields kept; the other values
    /// are read (so checked) and dropped.
    static func collectionFields(of line: UnsafeBufferPointer<UInt8>, keeping wanted: Set<String>) throws -> [String: JSONField] {
        var reader = JSONReader(line, options: Options())
        try reader.expectObject()
        var fields: [String: JSONField] = [:]
        var names = MemberNames()
        if try reader.openObject(depth: 1) {
            repeat {
                let name = try reader.memberName(unique: &names)
                if wanted.contains(name) {
                    fields[name] = try reader.field()
                } else {
                    _ = try reader.value(depth: 1)
                }
            } while try reader.nextMember()
        }
        try reader.expectEnd()
        return fields
    }

    /// A wanted field's value; an integer literal as written.
    private mutating func field() throws -> JSONField {
        let start = position
        if let byte = peek(), byte == UInt8(ascii: "-") || isDigit(byte) {
            guard try number().isIntegerLiteral else { return .other("a non-integer number") }
            return .integer(String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<position]), as: UTF8.self))
        }
        switch try value(depth: 1) {
        case .string(let text): return .string(text)
        case .null: return .null
        case .bool(let flag): return .other(flag ? "true" : "false")
        case let other: return .other(other.kind)
        }
    }
}
