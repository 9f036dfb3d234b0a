import CSQLite
import Foundation
import PlaidCore

/// One segment's metadata: an SQLite database `metadata.sqlite` in the segment directory, written
/// once with the segment and never changed. Table `metadata`: the rowid is the document's number
/// in the segment, `id` its id, and one column per field of the index's schema at write time
/// (TEXT for strings and JSON, INTEGER for integers and booleans, REAL for floats).
///
/// SQLite through Debian's libsqlite3 (a system-library target) rather than GRDB: the store needs
/// only a handful of C calls, the authorizer is set directly on the connection, and the build
/// stays free of another Swift package.
enum MetadataStore {
    static let fileName = "metadata.sqlite"
    static let table = "metadata"
    /// Why a user field may not take `field` as its name, or nil when it may. SQLite compares
    /// names ignoring ASCII case, so these are refused in any case: the id, the prefix of the
    /// store's own columns (`plaid_rowid`), and SQLite's names for the row number, which would
    /// read the row number instead of the field; and names SQLite cannot hold.
    static func reservation(of field: String) -> String? {
        let name = folded(field)
        if field.isEmpty { return "a field needs a name" }
        // SQLite's identifiers end at a NUL, so the table could not hold such a column.
        if field.utf8.contains(0) { return "a field name cannot hold the NUL character, U+0000" }
        if field == "id" { return "'id' is the document's id" }
        if name.hasPrefix("plaid_") { return "names starting with 'plaid_' are plaid's own" }
        if ["rowid", "oid", "_rowid_"].contains(name) { return "'rowid', 'oid' and '_rowid_' are SQLite's names for the row number" }
        return nil
    }

    /// `name` as SQLite compares column names: ASCII letters in lower case, every other byte kept.
    static func folded(_ name: String) -> String {
        String(decoding: name.utf8.map { (0x41...0x5A).contains($0) ? $0 + 0x20 : $0 }, as: UTF8.self)
    }

    static func quoted(_ identifier: String) -> String { "\"" + identifier.replacingOccurrences(of: "\"", with: "\"\"") + "\"" }
}

/// A connection to an SQLite database, closed on deinit. Errors carry the database's message.
final class SQLiteConnection {
    let path: String
    /// What the database is, for messages: "metadata database" or "text database".
    let role: String
    private(set) var handle: OpaquePointer?

    init(path: String, readOnly: Bool, role: String = "metadata database") throws {
        self.path = path
        self.role = role
        // A read-only segment database never changes: `immutable=1` skips locking and change checks.
        let flags = readOnly ? (SQLITE_OPEN_READONLY | SQLITE_OPEN_URI | SQLITE_OPEN_NOMUTEX)
                             : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX)
        let name = readOnly ? "file:" + path.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed)! + "?immutable=1" : path
        let status = sqlite3_open_v2(name, &handle, flags, nil)
        guard status == SQLITE_OK else {
            let message = handle.map { String(cString: sqlite3_errmsg($0)) } ?? "cannot open"
            sqlite3_close(handle)
            handle = nil
            throw PlaidError.io(path: path, detail: "cannot open the \(role): \(message)")
        }
    }

    deinit { sqlite3_close(handle) }

    var message: String { String(cString: sqlite3_errmsg(handle)) }

    func execute(_ sql: String) throws {
        guard sqlite3_exec(handle, sql, nil, nil, nil) == SQLITE_OK else {
            throw PlaidError.io(path: path, detail: "\(role): \(message)")
        }
    }

    func prepare(_ sql: String) throws -> SQLiteStatement {
        var statement: OpaquePointer?
        guard sqlite3_prepare_v2(handle, sql, -1, &statement, nil) == SQLITE_OK, let statement else {
            throw PlaidError.io(path: path, detail: "\(role): \(message)")
        }
        return SQLiteStatement(statement, connection: self)
    }
}

/// A prepared statement, finalized on deinit.
final class SQLiteStatement {
    let pointer: OpaquePointer
    let connection: SQLiteConnection

    init(_ pointer: OpaquePointer, connection: SQLiteConnection) { self.pointer = pointer; self.connection = connection }
    deinit { sqlite3_finalize(pointer) }

    private static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

    func bind(_ value: MetadataValue, at index: Int32) {
        switch value {
        case .string(let s), .json(let s): bind(text: s, at: index)
        case .integer(let i): sqlite3_bind_int64(pointer, index, i)
        case .float(let d): sqlite3_bind_double(pointer, index, d)
        case .boolean(let b): sqlite3_bind_int64(pointer, index, b ? 1 : 0)
        case .null: sqlite3_bind_null(pointer, index)
        }
    }

    /// Binds every byte of `text`, NUL included (SQLite would stop at a NUL if told to find the
    /// end itself). Returns SQLite's status: SQLITE_TOOBIG past the connection's length limit.
    @discardableResult
    func bind(text: String, at index: Int32) -> Int32 {
        var text = text
        return text.withUTF8 { bytes in
            // An empty buffer may have no address, which SQLite would bind as NULL rather than ''.
            guard let start = bytes.baseAddress else { return sqlite3_bind_text(pointer, index, "", 0, SQLiteStatement.transient) }
            return sqlite3_bind_text64(pointer, index, UnsafeRawPointer(start).assumingMemoryBound(to: CChar.self), sqlite3_uint64(bytes.count),
                                       SQLiteStatement.transient, UInt8(SQLITE_UTF8))
        }
    }
    func bind(integer: Int64, at index: Int32) { sqlite3_bind_int64(pointer, index, integer) }
    func bind(double: Double, at index: Int32) { sqlite3_bind_double(pointer, index, double) }
    func bind(blob: [UInt8], at index: Int32) {
        blob.withUnsafeBytes { bytes in
            // An empty blob is bound as a zero-length blob, not NULL.
            _ = sqlite3_bind_blob64(pointer, index, bytes.baseAddress ?? UnsafeRawPointer(bitPattern: 1), sqlite3_uint64(bytes.count),
                                    SQLiteStatement.transient)
        }
    }

    /// Steps once: true while a row is available.
    func step() throws -> Bool {
        switch sqlite3_step(pointer) {
        case SQLITE_ROW: return true
        case SQLITE_DONE: return false
        default: throw PlaidError.invalidArgument("\(connection.role): \(connection.message)")
        }
    }

    func reset() { sqlite3_reset(pointer); sqlite3_clear_bindings(pointer) }

    func integer(_ column: Int32) -> Int64 { sqlite3_column_int64(pointer, column) }
    func double(_ column: Int32) -> Double { sqlite3_column_double(pointer, column) }
    func isNull(_ column: Int32) -> Bool { sqlite3_column_type(pointer, column) == SQLITE_NULL }
    /// Column `column` as bytes (empty for NULL).
    func blob(_ column: Int32) -> [UInt8] {
        guard let start = sqlite3_column_blob(pointer, column) else { return [] }
        return Array(UnsafeRawBufferPointer(start: start, count: Int(sqlite3_column_bytes(pointer, column))))
    }
    /// Column `column` as text, every byte of it (NUL included).
    func text(_ column: Int32) -> String {
        guard let start = sqlite3_column_text(pointer, column) else { return "" }
        // Asked after the text, as SQLite's documentation requires, so that it counts the converted bytes.
        let count = Int(sqlite3_column_bytes(pointer, column))
        return String(decoding: UnsafeBufferPointer(start: start, count: count), as: UTF8.self)
    }

    /// Column `column` as the metadata value of a field of `type`.
    func value(_ column: Int32, type: MetadataType) -> MetadataValue {
        guard sqlite3_column_type(pointer, column) != SQLITE_NULL else { return .null }
        switch type {
        case .string: return .string(text(column))
        case .json: return .json(text(column))
        case .integer: return .integer(integer(column))
        case .boolean: return .boolean(integer(column) != 0)
        case .float: return .float(sqlite3_column_double(pointer, column))
        }
    }
}

/// Writes a new segment's metadata database row by row, in one transaction.
final class MetadataWriter {
    let path: String
    let fields: [MetadataField]
    private let connection: SQLiteConnection
    private let insert: SQLiteStatement
    private let column: [String: Int32]

    init(path: String, fields: [MetadataField]) throws {
        self.path = path
        self.fields = fields
        try? FileManager.default.removeItem(atPath: path)
        connection = try SQLiteConnection(path: path, readOnly: false)
        // The file is staging until a manifest names it, and flushed by the writer: no journal needed.
        try connection.execute("PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;")
        let columns = fields.map { "\(MetadataStore.quoted($0.name)) \($0.type.columnType)" }
        try connection.execute("CREATE TABLE \(MetadataStore.table) (id TEXT NOT NULL\(columns.map { ", " + $0 }.joined())) ; BEGIN;")
        let names = ["rowid", "id"] + fields.map { MetadataStore.quoted($0.name) }
        insert = try connection.prepare("INSERT INTO \(MetadataStore.table) (\(names.joined(separator: ", "))) VALUES (\(Array(repeating: "?", count: names.count).joined(separator: ", ")))")
        column = Dictionary(uniqueKeysWithValues: fields.enumerated().map { ($1.name, Int32($0 + 3)) })
    }

    /// Appends the row of document number `document` (in order).
    func append(document: Int, id: String, values: [String: MetadataValue]?) throws {
        insert.reset()
        insert.bind(integer: Int64(document), at: 1)
        insert.bind(text: id, at: 2)
        for (name, value) in values ?? [:] {
            guard let index = column[name] else { continue }
            insert.bind(value, at: index)
        }
        _ = try insert.step()
    }

    /// Commits and flushes the database; returns its checksum.
    func finish() throws -> String {
        try connection.execute("COMMIT;")
        let fd = open(path, O_RDONLY)
        if fd >= 0 { fsync(fd); close(fd) }
        return FileChecksum.hex(ofFiles: [("metadata", path)])
    }
}
