import Foundation
import PlaidCore

/// A document's text as its collection gave it: what stored text keeps, and what lexical search,
/// snippets and spans read.
public struct DocumentText: Equatable, Sendable {
    public var title: String?
    public var text: String
    /// `tokens` as `text.sqlite` keeps them (`StoredToken.encode`: a few bytes a token, where a
    /// `StoredToken` takes 32) while a whole collection's texts wait to be written, and decoded
    /// only when a match reads them (a passage or BM25 never does).
    var encodedTokens: [UInt8]?

    /// Each of the document's vectors' tokens, when the text was encoded with the index's model
    /// on its way in (so that a match names its token and span without tokenizing again); nil
    /// for a text stored beside embeddings encoded elsewhere, or whose stored tokens cannot be
    /// read (a match then tokenizes the text again).
    public var tokens: [StoredToken]? {
        get { encodedTokens.flatMap(StoredToken.decode) }
        set { encodedTokens = newValue.map(StoredToken.encode) }
    }

    public init(title: String? = nil, text: String, tokens: [StoredToken]? = nil) {
        self.title = title
        self.text = text
        self.encodedTokens = tokens.map(StoredToken.encode)
    }

    init(title: String?, text: String, encodedTokens: [UInt8]?) {
        self.title = title
        self.text = text
        self.encodedTokens = encodedTokens
    }

    /// What the encoder read of it: `title + " " + text`, or the text alone (unstripped, so
    /// that spans into it count from the title's start; the encoder strips it itself).
    public var encoded: String { title.map { $0 + " " + text } ?? text }

    /// This text with its tokens, as `encoder` makes them from `encoded` (nil when the
    /// encoder's vectors do not stand for tokens one by one).
    public func tokenized(by encoder: TextEncoder) -> DocumentText {
        var copy = self
        copy.tokens = tokens(by: encoder)
        return copy
    }

    /// Its tokens as `encoder` makes them from `encoded`, not stored.
    func tokens(by encoder: TextEncoder) -> [StoredToken]? {
        encoder.documentTokens(encoded)?.map { StoredToken(id: $0.id, span: $0.span) }
    }
}

/// A document vector's token as stored text keeps it: its vocabulary id, and where it lies in
/// `DocumentText.encoded`, in Unicode scalars (nil for `[CLS]`, markers, and tokens that could not
/// be placed).
public struct StoredToken: Equatable, Sendable {
    public var id: Int
    public var span: Range<Int>?

    public init(id: Int, span: Range<Int>?) {
        self.id = id
        self.span = span
    }

    /// The tokens as `text.sqlite` keeps them: per token the id, then 0 for no span, or the
    /// span's start less the previous span's end, zigzagged, plus 1, and its length; all LEB128
    /// varints.
    static func encode(_ tokens: [StoredToken]) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(3 * tokens.count)
        func put(_ value: Int) {
            var v = UInt64(value)
            while v >= 0x80 { bytes.append(UInt8(v & 0x7F) | 0x80); v >>= 7 }
            bytes.append(UInt8(v))
        }
        var previousEnd = 0
        for token in tokens {
            put(token.id)
            guard let span = token.span else { put(0); continue }
            let gap = span.lowerBound - previousEnd
            put(((gap << 1) ^ (gap >> 63)) + 1)
            put(span.count)
            previousEnd = span.upperBound
        }
        return bytes
    }

    /// `encode`'s tokens back; nil for bytes it cannot have written.
    static func decode(_ bytes: [UInt8]) -> [StoredToken]? {
        var tokens: [StoredToken] = [], at = 0
        func next() -> Int? {
            var value: UInt64 = 0, shift: UInt64 = 0
            while at < bytes.count, shift < 63 {
                let byte = bytes[at]; at += 1
                value |= UInt64(byte & 0x7F) << shift
                if byte < 0x80 { return value <= UInt64(Int32.max) ? Int(value) : nil }
                shift += 7
            }
            return nil
        }
        var previousEnd = 0
        while at < bytes.count {
            guard let id = next(), let gap = next() else { return nil }
            guard gap > 0 else { tokens.append(StoredToken(id: id, span: nil)); continue }
            guard let length = next() else { return nil }
            let start = previousEnd + (((gap - 1) >> 1) ^ -((gap - 1) & 1))
            guard start >= 0, length >= 0 else { return nil }
            tokens.append(StoredToken(id: id, span: start..<(start + length)))
            previousEnd = start + length
        }
        return tokens
    }
}

extension BatchTexts {
    /// These texts with their tokens (`DocumentText.tokenized(by:)`), for an index that stores
    /// text, built or added to with `encoder`.
    func tokenized(by encoder: TextEncoder) -> BatchTexts { mapValues { $0.tokenized(by: encoder) } }
}

/// Texts of a batch of documents, by id, compared byte for byte as every id is (two ids equal
/// only after Unicode normalization name two documents).
public typealias BatchTexts = [ByteExactID: DocumentText]

/// How an index stores its documents' text, fixed when the index is made (`--store-text`): the
/// FTS5 tokenizer of every segment's full-text table. Absent from the manifest of an index made
/// without text.
public struct StoredTextSettings: Codable, Equatable, Sendable {
    /// FTS5's `tokenize` option, e.g. `unicode61 remove_diacritics 2` or `porter unicode61`.
    public var tokenizer: String

    public static let defaultTokenizer = "unicode61 remove_diacritics 2"

    /// Checks `tokenizer` as a `--fts-tokenizer` value: words of ASCII letters, digits and
    /// underscores, which FTS5 must accept (tried on a database in memory).
    public init(tokenizer: String = StoredTextSettings.defaultTokenizer) throws {
        let words = tokenizer.split(separator: " ", omittingEmptySubsequences: true)
        guard !words.isEmpty, tokenizer.utf8.count <= 200,
              words.allSatisfy({ $0.utf8.allSatisfy { c in (0x30...0x39).contains(c) || (0x41...0x5A).contains(c) || (0x61...0x7A).contains(c) || c == 0x5F } }) else {
            throw PlaidError.invalidArgument("the full-text tokenizer must be FTS5 tokenizer words of letters, digits and underscores, such as '\(StoredTextSettings.defaultTokenizer)' or 'porter unicode61' (got '\(visible(tokenizer))')")
        }
        self.tokenizer = words.joined(separator: " ")
        do {
            let probe = try SQLiteConnection(path: ":memory:", readOnly: false)
            try probe.execute("CREATE VIRTUAL TABLE probe USING fts5(text, tokenize = '\(self.tokenizer)');")
        } catch {
            throw PlaidError.invalidArgument("SQLite's FTS5 does not accept the tokenizer '\(self.tokenizer)'; try '\(StoredTextSettings.defaultTokenizer)' or 'porter unicode61'")
        }
    }

    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        // A manifest is checked as a tokenizer given on the command line would be: the value goes into SQL.
        try self.init(tokenizer: try container.decode(String.self, forKey: .tokenizer))
    }
}

public enum StoredTextReader {
    /// The title and text of every record of a text collection (JSONL or TSV, optionally .zst),
    /// by id. A NUL character is refused, naming the line: SQLite's text functions and FTS5's
    /// tokenizers stop at one.
    public static func fromCollection(path: String) throws -> BatchTexts {
        let reader = try TextCollectionReader(path: path)
        var texts: BatchTexts = [:]
        while let document = try reader.nextDocument() {
            if document.text.utf8.contains(0) || (document.title?.utf8.contains(0) ?? false) {
                throw PlaidError.invalidInput(file: path, detail: "line \(reader.lineNumber): the record with id \"\(visible(document.id))\" holds a NUL character, which stored text cannot keep; remove it")
            }
            texts[ByteExactID(document.id)] = DocumentText(title: document.title, text: document.text)
        }
        return texts
    }
}

extension CompressedIndex {
    /// Whether the index stores its documents' text (built with `--store-text`).
    public var storesText: Bool { manifest.storedText != nil }

    /// The stored title and text of the document at `ordinal`; nil when the index stores no text.
    public func storedText(ofDocument ordinal: Int) throws -> DocumentText? {
        let (s, d) = locate(ordinal)
        return try segments[s].text?.text(of: d)
    }
}
