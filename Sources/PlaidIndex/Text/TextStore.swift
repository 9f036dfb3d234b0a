import CFullText
import CSQLite
import Foundation
import PlaidCore

/// One segment's stored text: an SQLite database `text.sqlite` in the segment directory, written
/// once with the segment and never changed, as `metadata.sqlite` is.
///
/// - `document_text`: `document`, the document's number in the segment (an INTEGER PRIMARY KEY,
///   which VACUUM keeps, unlike a bare rowid); `title` as given (NULL when none) and `body`, the
///   text as one zstd frame of its UTF-8 bytes; `tokens`, where the text was encoded with the
///   index's model on its way in, each vector's token id and span (`StoredToken.encode`) as one
///   zstd frame, else NULL (a file written before the column existed has none).
/// - `document_terms`: an FTS5 table without content (`content=''`) over the title and the text,
///   whose rowids are the same numbers. It keeps the postings and each row's token counts, which
///   BM25 needs; the text itself is read from `document_text`.
/// - `text_statistics`: one row: the documents, their FTS5 tokens (every column) and each
///   document's tokens as a blob of little-endian int32. BM25 needs a row's length for each of
///   its postings, and FTS5 would find it with a b-tree search per posting.
enum TextStore {
    static let fileName = "text.sqlite"
}

/// Writes a new segment's text database row by row, in one transaction.
final class TextStoreWriter {
    let path: String
    private let connection: SQLiteConnection
    private let insertText: SQLiteStatement
    private let insertTerms: SQLiteStatement
    private var documents = 0

    init(path: String, settings: StoredTextSettings) throws {
        self.path = path
        try? FileManager.default.removeItem(atPath: path)
        connection = try SQLiteConnection(path: path, readOnly: false, role: "text database")
        // Staging until a manifest names it, and flushed by the writer: no journal needed.
        try connection.execute("""
            PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;
            CREATE TABLE document_text (document INTEGER PRIMARY KEY, title TEXT, body BLOB NOT NULL, tokens BLOB);
            CREATE VIRTUAL TABLE document_terms USING fts5(title, text, content='', tokenize='\(settings.tokenizer)');
            CREATE TABLE text_statistics (documents INTEGER NOT NULL, tokens INTEGER NOT NULL, lengths BLOB NOT NULL);
            BEGIN;
            """)
        insertText = try connection.prepare("INSERT INTO document_text (document, title, body, tokens) VALUES (?, ?, ?, ?)")
        insertTerms = try connection.prepare("INSERT INTO document_terms (rowid, title, text) VALUES (?, ?, ?)")
    }

    /// Appends document number `document` (in order); a document without text stores an empty one.
    /// A NUL character is refused, naming the document's `id`: FTS5's tokenizers stop at one.
    func append(document: Int, id: String, text: DocumentText?) throws {
        precondition(document == documents, "stored text is appended in document order")
        if text?.text.utf8.contains(0) ?? false || text?.title?.utf8.contains(0) ?? false {
            throw PlaidError.invalidArgument("the text of the document with id \"\(visible(id))\" holds a NUL character, which stored text cannot keep; remove it")
        }
        let title = text?.title, body = text?.text ?? ""
        let compressed = try Array(body.utf8).withUnsafeBytes { try Zstd.compress($0, level: 3) }
        insertText.reset()
        insertText.bind(integer: Int64(document), at: 1)
        if let title { insertText.bind(text: title, at: 2) }
        insertText.bind(blob: compressed, at: 3)
        if let tokens = text?.encodedTokens {
            insertText.bind(blob: try tokens.withUnsafeBytes { try Zstd.compress($0, level: 3) }, at: 4)
        }
        _ = try insertText.step()
        insertTerms.reset()
        insertTerms.bind(integer: Int64(document), at: 1)
        insertTerms.bind(text: title ?? "", at: 2)
        insertTerms.bind(text: body, at: 3)
        _ = try insertTerms.step()
        documents += 1
    }

    /// Merges the full-text index into one b-tree, records the lengths, commits and flushes the
    /// database; returns its checksum.
    func finish() throws -> String {
        try connection.execute("INSERT INTO document_terms (document_terms) VALUES ('optimize');")
        var lengths = [UInt8]()
        lengths.reserveCapacity(4 * documents)
        var tokens = 0
        do {
            // FTS5 keeps each row's tokens per column in its `_docsize` table, as SQLite varints
            // (7 bits a byte, most significant first). Its API gives them only to a query with a
            // MATCH (a scan of a table without content reads 0), so they are read from there once.
            let rows = try connection.prepare("SELECT id, sz FROM document_terms_docsize ORDER BY id")
            var expected: Int64 = 0
            while try rows.step() {
                guard rows.integer(0) == expected else { throw PlaidError.io(path: path, detail: "the full-text table skipped document \(expected)") }
                let length = Int32(try TextStoreWriter.sumOfVarints(rows.blob(1), path: path))
                withUnsafeBytes(of: length.littleEndian) { lengths += $0 }
                tokens += Int(length)
                expected += 1
            }
            guard expected == documents else { throw PlaidError.io(path: path, detail: "the full-text table holds \(expected) of \(documents) documents") }
        }  // the statement ends here, before the commit
        let record = try connection.prepare("INSERT INTO text_statistics (documents, tokens, lengths) VALUES (?, ?, ?)")
        record.bind(integer: Int64(documents), at: 1)
        record.bind(integer: Int64(tokens), at: 2)
        record.bind(blob: lengths, at: 3)
        _ = try record.step()
        // The merge left the pages of the segments it merged free: VACUUM drops them from the file.
        try connection.execute("COMMIT; VACUUM;")
        let fd = open(path, O_RDONLY)
        if fd >= 0 { fsync(fd); close(fd) }
        return FileChecksum.hex(ofFiles: [("text", path)])
    }
}

extension TextStoreWriter {
    /// The sum of the SQLite varints in `bytes` (each at most 9 bytes; here token counts).
    static func sumOfVarints(_ bytes: [UInt8], path: String) throws -> Int {
        var sum = 0, value = 0, length = 0
        for byte in bytes {
            value = value << 7 | Int(byte & 0x7F)
            length += 1
            guard length <= 5 else { throw PlaidError.io(path: path, detail: "a full-text row length is out of range") }
            if byte & 0x80 == 0 { sum += value; value = 0; length = 0 }
        }
        guard length == 0, sum <= Int(Int32.max) else { throw PlaidError.io(path: path, detail: "a full-text row length is malformed") }
        return sum
    }
}

/// A segment's stored text opened for reading: documents' texts, and the statistics and postings
/// BM25 reads from its full-text table. One connection, used under a lock.
final class SegmentText: @unchecked Sendable {
    let path: String
    /// Documents the full-text table holds (deleted ones included) and their tokens.
    let documents: Int
    let tokens: Int
    /// Each document's tokens (every column), as BM25 counts its length.
    let lengths: [Int32]
    private let connection: SQLiteConnection
    private let lock = NSLock()
    private var postingsStatement: SQLiteStatement?
    /// Whether `document_text` has the `tokens` column.
    private let hasTokens: Bool

    init(path: String, expectedChecksum: String?, documentCount: Int, verifyChecksum: Bool) throws {
        self.path = path
        guard FileManager.default.fileExists(atPath: path) else {
            throw PlaidError.corruptIndex(file: path, detail: "the file is missing from the segment directory")
        }
        if verifyChecksum, let expectedChecksum, FileChecksum.hex(ofFiles: [("text", path)]) != expectedChecksum {
            throw PlaidError.corruptIndex(file: path, detail: "the checksum does not match the manifest's: the file is damaged. Rebuild the index")
        }
        connection = try SQLiteConnection(path: path, readOnly: true, role: "text database")
        guard plaid_fulltext_register(UnsafeMutableRawPointer(connection.handle)) == SQLITE_OK else {
            throw PlaidError.io(path: path, detail: "this SQLite has no FTS5, which stored text needs")
        }
        let columns = try connection.prepare("SELECT 1 FROM pragma_table_info('document_text') WHERE name = 'tokens'")
        hasTokens = try columns.step()
        let statistics = try connection.prepare("SELECT documents, tokens, lengths FROM text_statistics")
        guard (try? statistics.step()) == true else {
            throw PlaidError.corruptIndex(file: path, detail: "has no text statistics: the file is damaged. Rebuild the index")
        }
        documents = Int(statistics.integer(0))
        tokens = Int(statistics.integer(1))
        guard documents == documentCount else {
            throw PlaidError.corruptIndex(file: path, detail: "holds the text of \(documents) documents, the manifest says \(documentCount)")
        }
        let blob = statistics.blob(2)
        lengths = blob.count == 4 * documents ? (0..<documents).map { d in blob.withUnsafeBytes { Int32(littleEndian: $0.loadUnaligned(fromByteOffset: 4 * d, as: Int32.self)) } } : []
        guard lengths.count == documents, lengths.allSatisfy({ $0 >= 0 }), lengths.reduce(0, { $0 + Int($1) }) == tokens else {
            throw PlaidError.corruptIndex(file: path, detail: "the text statistics do not add up: the file is damaged. Rebuild the index")
        }
    }

    /// The stored title and text of local document `d`.
    func text(of d: Int) throws -> DocumentText {
        lock.lock(); defer { lock.unlock() }
        let statement = try connection.prepare("SELECT title, body\(hasTokens ? ", tokens" : "") FROM document_text WHERE document = ?")
        statement.bind(integer: Int64(d), at: 1)
        guard try statement.step() else {
            throw PlaidError.corruptIndex(file: path, detail: "has no text for document \(d)")
        }
        let title: String? = statement.isNull(0) ? nil : statement.text(0)
        let body = String(decoding: try decompressed(statement.blob(1), what: "the text of document \(d)"), as: UTF8.self)
        let tokens = hasTokens && !statement.isNull(2) ? try decompressed(statement.blob(2), what: "the tokens of document \(d)") : nil
        return DocumentText(title: title, text: body, encodedTokens: tokens)
    }

    private func decompressed(_ blob: [UInt8], what: String) throws -> [UInt8] {
        try blob.withUnsafeBytes { compressed in
            guard let size = Zstd.frameContentSize(compressed), size <= UInt64(1 << 31) else {
                throw PlaidError.corruptIndex(file: path, detail: "\(what) is not a zstd frame")
            }
            var bytes = [UInt8](repeating: 0, count: Int(size))
            try bytes.withUnsafeMutableBytes { try Zstd.decompress(compressed, into: $0, file: path) }
            return bytes
        }
    }

    /// A phrase's postings in this segment: for each row holding it (rising), the row and the
    /// phrase's occurrences in it.
    struct Postings {
        var documents: [Int32] = [], occurrences: [Int32] = []
    }

    /// The postings of `phrase`, an FTS5 phrase (a quoted word).
    func postings(of phrase: String) throws -> Postings {
        try postings(match: phrase, phrases: 1)[0]
    }

    /// The postings of each phrase of `match` (an FTS5 expression of `phrases` quoted phrases
    /// joined by OR), in the expression's order.
    private func postings(match: String, phrases: Int) throws -> [Postings] {
        lock.lock(); defer { lock.unlock() }
        if postingsStatement == nil {
            postingsStatement = try connection.prepare("SELECT plaid_phrase_postings(document_terms) FROM document_terms WHERE document_terms MATCH ? LIMIT 1")
        }
        let statement = postingsStatement!
        statement.reset()
        statement.bind(text: match, at: 1)
        defer { statement.reset() }
        guard try statement.step() else { return [Postings](repeating: Postings(), count: phrases) }
        let blob = statement.blob(0)
        return try blob.withUnsafeBytes { bytes -> [Postings] in
            var at = 0, out: [Postings] = []
            func damaged() -> PlaidError { .corruptIndex(file: path, detail: "the full-text table's postings are malformed: the file is damaged. Rebuild the index") }
            for _ in 0..<phrases {
                guard at + 8 <= bytes.count else { throw damaged() }
                let rows = Int(Int64(littleEndian: bytes.loadUnaligned(fromByteOffset: at, as: Int64.self)))
                at += 8
                guard rows >= 0, rows <= (bytes.count - at) / 12 else { throw damaged() }
                var postings = Postings()
                postings.documents.reserveCapacity(rows); postings.occurrences.reserveCapacity(rows)
                for r in 0..<rows {
                    let row = Int64(littleEndian: bytes.loadUnaligned(fromByteOffset: at + 12 * r, as: Int64.self))
                    guard row >= 0, row < Int64(documents) else { throw damaged() }
                    postings.documents.append(Int32(row))
                    postings.occurrences.append(Int32(littleEndian: bytes.loadUnaligned(fromByteOffset: at + 12 * r + 8, as: Int32.self)))
                }
                at += 12 * rows
                out.append(postings)
            }
            return out
        }
    }
}
