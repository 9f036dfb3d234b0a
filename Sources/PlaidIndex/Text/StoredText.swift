import Foundation
import PlaidCore

/// A document's text as its collection gave it: what stored text keeps, and what lexical search,
/// snippets and spans read.
public struct DocumentText: Equatable, Sendable {
    public var title: String?
    public var text: String

    public init(title: String? = nil, text: String) {
        self.title = title
        self.text = text
    }
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
