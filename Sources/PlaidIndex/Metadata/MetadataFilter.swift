import CSQLite
import Foundation
import PlaidCore

/// A filter on document metadata: an SQL boolean expression over the metadata fields (and `id`),
/// as SQLite evaluates a WHERE clause, with `?` placeholders bound to `parameters` in order (as
/// text; SQLite compares them to numeric fields as numbers).
///
/// The filter can only read: it runs on a read-only connection to each segment's immutable
/// database, as one statement, under an authorizer that allows reading the metadata table and
/// calling functions, and nothing else (no writes, ATTACH, PRAGMA or other tables).
public struct MetadataFilter: Sendable, Equatable {
    public var expression: String
    public var parameters: [String]

    public init(_ expression: String, parameters: [String] = []) {
        self.expression = expression
        self.parameters = parameters
    }
}

/// The documents of a snapshot a filter allows: live documents whose metadata matches, by
/// ordinal. Shapes: one bit per ordinal of the snapshot.
public struct DocumentFilter: Sendable {
    let allowed: [UInt64]
    /// Matching live documents.
    public let count: Int
    /// Their tokens.
    public let tokens: Int
    /// The matching ordinals, in order.
    public let ordinals: [Int]

    @inline(__always)
    public func allows(_ ordinal: Int) -> Bool { allowed[ordinal >> 6] & (1 << UInt64(ordinal & 63)) != 0 }
}

/// What the authorizer saw refused, for the error message.
private final class AuthorizerLog {
    var refused: String?
}

/// The authorizer of filter statements: reading the metadata table (and the query's own derived
/// table) and calling functions are allowed; every other action is denied.
private let filterAuthorizer: @convention(c) (UnsafeMutableRawPointer?, Int32, UnsafePointer<CChar>?, UnsafePointer<CChar>?,
                                              UnsafePointer<CChar>?, UnsafePointer<CChar>?) -> Int32 = { context, action, first, _, _, _ in
    switch action {
    case SQLITE_SELECT, SQLITE_FUNCTION:
        return SQLITE_OK
    case SQLITE_READ:
        if let first, String(cString: first) == MetadataStore.table { return SQLITE_OK }
        fallthrough
    default:
        if let context {
            let log = Unmanaged<AuthorizerLog>.fromOpaque(context).takeUnretainedValue()
            if log.refused == nil {
                let names = [SQLITE_READ: "read \(first.map { String(cString: $0) } ?? "another table")", SQLITE_ATTACH: "attach a database",
                             SQLITE_DETACH: "detach a database", SQLITE_PRAGMA: "run a PRAGMA", SQLITE_INSERT: "insert",
                             SQLITE_UPDATE: "update", SQLITE_DELETE: "delete", SQLITE_DROP_TABLE: "drop a table",
                             SQLITE_CREATE_TABLE: "create a table", SQLITE_TRANSACTION: "start a transaction"]
                log.refused = names[action] ?? "perform SQLite action \(action)"
            }
        }
        return SQLITE_DENY
    }
}

/// A segment's metadata database opened read-only, for filters and for showing documents' fields.
final class SegmentMetadata: @unchecked Sendable {
    let path: String
    /// The fields this segment's table has.
    let fields: [MetadataField]
    private let connection: SQLiteConnection
    private let lock = NSLock()

    init(path: String, fields: [MetadataField], expectedChecksum: String?, verifyChecksum: Bool) throws {
        self.path = path
        self.fields = fields
        guard FileManager.default.fileExists(atPath: path) else {
            throw PlaidError.corruptIndex(file: path, detail: "the file is missing from the segment directory")
        }
        if verifyChecksum, let expectedChecksum, FileChecksum.hex(ofFiles: [("metadata", path)]) != expectedChecksum {
            throw PlaidError.corruptIndex(file: path, detail: "the checksum does not match the manifest's: the file is damaged. Rebuild the index")
        }
        connection = try SQLiteConnection(path: path, readOnly: true)
    }

    /// A database in memory holding only ids: how a filter sees a version-1 segment.
    private init(ids: [String]) throws {
        path = ":memory:"
        fields = []
        connection = try SQLiteConnection(path: path, readOnly: false)
        try connection.execute("CREATE TABLE \(MetadataStore.table) (id TEXT NOT NULL); BEGIN;")
        let insert = try connection.prepare("INSERT INTO \(MetadataStore.table) (rowid, id) VALUES (?, ?)")
        for (d, id) in ids.enumerated() {
            insert.reset()
            insert.bind(integer: Int64(d), at: 1)
            insert.bind(text: id, at: 2)
            _ = try insert.step()
        }
        try connection.execute("COMMIT;")
    }

    static func matchingIDs(_ ids: [String], _ filter: MetadataFilter, schema: [MetadataField]) throws -> [Int] {
        try SegmentMetadata(ids: ids).matching(filter, schema: schema)
    }

    /// Local numbers of the documents matching `filter`, ascending. `schema` is the index's
    /// field list: a field this segment lacks reads as NULL here.
    func matching(_ filter: MetadataFilter, schema: [MetadataField]) throws -> [Int] {
        lock.lock(); defer { lock.unlock() }
        let present = Set(fields.map(\.name))
        let columns = ["rowid AS plaid_rowid", "id"] + schema.map { field in
            present.contains(field.name) ? MetadataStore.quoted(field.name) : "NULL AS \(MetadataStore.quoted(field.name))"
        }
        let prefix = "SELECT plaid_rowid FROM (SELECT \(columns.joined(separator: ", ")) FROM \(MetadataStore.table)) WHERE ("
        let sql = prefix + filter.expression + "\n)"
        let log = AuthorizerLog()
        let context = Unmanaged.passUnretained(log).toOpaque()
        sqlite3_set_authorizer(connection.handle, filterAuthorizer, context)
        defer { sqlite3_set_authorizer(connection.handle, nil, nil) }
        var statement: OpaquePointer?
        var tail: UnsafePointer<CChar>?
        let status = withExtendedLifetime(log) { sqlite3_prepare_v2(connection.handle, sql, -1, &statement, &tail) }
        guard status == SQLITE_OK, let statement else {
            throw filterError(filter, prefix: prefix, log: log)
        }
        let prepared = SQLiteStatement(statement, connection: connection)
        if let tail, !String(cString: tail).allSatisfy(\.isWhitespace) {
            throw PlaidError.invalidArgument("the filter must be one SQL expression; found more after it (\"\(String(cString: tail).trimmingCharacters(in: .whitespacesAndNewlines).prefix(40))\")")
        }
        let placeholders = Int(sqlite3_bind_parameter_count(statement))
        guard placeholders == filter.parameters.count else {
            throw PlaidError.invalidArgument("the filter has \(placeholders) ? placeholder\(placeholders == 1 ? "" : "s") but \(filter.parameters.count) --filter-param value\(filter.parameters.count == 1 ? " was" : "s were") given")
        }
        for (i, value) in filter.parameters.enumerated() { prepared.bind(text: value, at: Int32(i + 1)) }
        var documents: [Int] = []
        do {
            while try prepared.step() { documents.append(Int(prepared.integer(0))) }
        } catch {
            throw PlaidError.invalidArgument("the filter could not be evaluated: \(connection.message)")
        }
        return documents
    }

    private func filterError(_ filter: MetadataFilter, prefix: String, log: AuthorizerLog) -> PlaidError {
        let message = connection.message
        if let refused = log.refused {
            return .invalidArgument("the filter may only read the metadata fields; it tried to \(refused), which is refused")
        }
        if message.hasPrefix("no such column: ") {
            let name = message.dropFirst("no such column: ".count)
            let known = (["id"] + fields.map(\.name)).joined(separator: ", ")
            return .invalidArgument("the filter names an unknown field '\(name)'; the fields are: \(known)")
        }
        let offset = Int(sqlite3_error_offset(connection.handle))
        let prefixBytes = prefix.utf8.count
        if offset >= prefixBytes && offset <= prefixBytes + filter.expression.utf8.count {
            let position = String(decoding: Array(filter.expression.utf8.prefix(offset - prefixBytes)), as: UTF8.self).count + 1
            return .invalidArgument("the filter is not a valid SQL expression: \(message) (at character \(position) of \"\(filter.expression)\")")
        }
        return .invalidArgument("the filter is not a valid SQL expression: \(message)")
    }

    /// The metadata of local documents `documents`, as field → value (null fields left out).
    func rows(_ documents: [Int]) throws -> [Int: [String: MetadataValue]] {
        lock.lock(); defer { lock.unlock() }
        let statement = try connection.prepare("\(selectFields) WHERE rowid = ?")
        var out: [Int: [String: MetadataValue]] = [:]
        for document in documents {
            statement.reset()
            statement.bind(integer: Int64(document), at: 1)
            if try statement.step() { out[document] = values(of: statement) }
        }
        return out
    }

    /// Every row of the segment in document order, for compaction: (document, values).
    func forEachRow(_ body: (Int, [String: MetadataValue]) throws -> Void) throws {
        lock.lock(); defer { lock.unlock() }
        let statement = try connection.prepare("\(selectFields) ORDER BY rowid")
        while try statement.step() { try body(Int(statement.integer(0)), values(of: statement)) }
    }

    /// Selects the rowid, then every field of this segment's table.
    private var selectFields: String {
        "SELECT \((["rowid"] + fields.map { MetadataStore.quoted($0.name) }).joined(separator: ", ")) FROM \(MetadataStore.table)"
    }

    /// The non-null fields of the current row of a `selectFields` statement.
    private func values(of statement: SQLiteStatement) -> [String: MetadataValue] {
        var values: [String: MetadataValue] = [:]
        for (i, field) in fields.enumerated() {
            let value = statement.value(Int32(i + 1), type: field.type)
            if value != .null { values[field.name] = value }
        }
        return values
    }
}
