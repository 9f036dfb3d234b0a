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
///
/// The filter is exactly one expression about one document: plaid writes the statement
/// `SELECT … WHERE (expression)`, and an expression that closes that parenthesis (to add clauses
/// or a second SELECT), holds a subquery, names placeholders other than `?` or holds a NUL is
/// refused before it runs. It runs within `timeLimit` and SQLite's limits on value length,
/// expression depth, function arguments, LIKE patterns and placeholders (`SegmentMetadata.limits`).
public struct MetadataFilter: Sendable, Equatable {
    public var expression: String
    public var parameters: [String]
    /// Seconds the filter may run, over all segments of one `CompressedIndex.documents(matching:)`
    /// call; past it the call fails with "the filter ran past its time limit". Positive; infinity
    /// sets no limit.
    public var timeLimit: Double

    /// The time limit of a filter unless its caller sets another.
    public static let defaultTimeLimit: Double = 2
    /// SQLite's names for the row number, and plaid's own column for it: none is a field.
    static let rowNumberNames: Set<String> = ["rowid", "oid", "_rowid_", "plaid_rowid"]
    /// The longest expression, in UTF-8 bytes: a filter is a condition, not a list of every id.
    public static let maxExpressionBytes = 65_536

    public init(_ expression: String, parameters: [String] = [], timeLimit: Double = MetadataFilter.defaultTimeLimit) {
        self.expression = expression
        self.parameters = parameters
        self.timeLimit = timeLimit
    }

    /// Refuses an expression that could leave the parentheses plaid puts around it: one whose
    /// parentheses close below the level they start at or do not balance, outside strings, quoted
    /// names and comments (as SQLite reads them). Also refuses NUL (SQLite would stop reading at
    /// it), placeholders other than `?` (SQLite's `$name(…)` form reads parentheses as part of the
    /// name), and expressions over `maxExpressionBytes`.
    func checkIsOneExpression() throws {
        let bytes = Array(expression.utf8)
        guard bytes.count <= MetadataFilter.maxExpressionBytes else {
            throw PlaidError.invalidArgument("the filter is \(bytes.count) bytes long but may be at most \(MetadataFilter.maxExpressionBytes) bytes; match on a field the documents share instead of listing them")
        }
        var scanner = ExpressionScanner(expression: expression, bytes: bytes)
        if let nul = bytes.firstIndex(of: 0) {
            throw PlaidError.filter(.nulCharacter(at: scanner.at(nul)))
        }
        try scanner.checkParenthesesAndNames()
        guard scanner.sawExpression else {
            throw PlaidError.invalidArgument("the filter is empty; give one SQL expression over the metadata fields, such as year >= 2020 AND source = 'pubmed'")
        }
    }
}

/// Reads a filter expression as SQLite tokenizes it, far enough to follow its parentheses and
/// names outside strings, quoted names and comments (`MetadataFilter.checkIsOneExpression`).
private struct ExpressionScanner {
    let expression: String
    let bytes: [UInt8]
    /// The byte being read.
    private var i = 0
    /// Offsets of the parentheses open at `i`.
    private var open: [Int] = []
    /// Whether anything but whitespace and comments was read.
    private(set) var sawExpression = false

    init(expression: String, bytes: [UInt8]) {
        self.expression = expression
        self.bytes = bytes
    }

    /// Where `offset` is, for an error: the character number and the expression (cut at 80 characters).
    func at(_ offset: Int) -> String {
        let shown = expression.count > 80 ? String(expression.prefix(80)) + "…" : expression
        return "at character \(String(decoding: bytes[..<offset], as: UTF8.self).count + 1) of \"\(shown)\""
    }

    /// Refuses a parenthesis closed that was not opened or opened and not closed, a placeholder
    /// other than `?`, and a row-number name.
    mutating func checkParenthesesAndNames() throws {
        while i < bytes.count {
            let c = bytes[i]
            let comment = (c == UInt8(ascii: "-") || c == UInt8(ascii: "/")) && i + 1 < bytes.count
                && bytes[i + 1] == (c == UInt8(ascii: "-") ? UInt8(ascii: "-") : UInt8(ascii: "*"))
            if !comment && ![0x20, 0x09, 0x0A, 0x0D, 0x0C].contains(c) { sawExpression = true }
            switch c {
            case UInt8(ascii: "\""), UInt8(ascii: "`"):
                let start = i
                skipQuoted(close: c, doubles: true)
                try checkName(start + 1, i)
            case UInt8(ascii: "'"):
                skipQuoted(close: c, doubles: true)
            case UInt8(ascii: "["):
                let start = i
                skipQuoted(close: UInt8(ascii: "]"), doubles: false)
                try checkName(start + 1, i)
            case UInt8(ascii: "-") where i + 1 < bytes.count && bytes[i + 1] == UInt8(ascii: "-"):
                while i < bytes.count && bytes[i] != UInt8(ascii: "\n") { i += 1 }
            case UInt8(ascii: "/") where i + 1 < bytes.count && bytes[i + 1] == UInt8(ascii: "*"):
                i += 2
                while i < bytes.count && !(bytes[i] == UInt8(ascii: "*") && i + 1 < bytes.count && bytes[i + 1] == UInt8(ascii: "/")) { i += 1 }
                i += 1
            case UInt8(ascii: "("):
                open.append(i)
            case UInt8(ascii: ")"):
                guard open.popLast() != nil else {
                    throw PlaidError.invalidArgument("the filter closes a parenthesis it did not open (\(at(i))); a filter is one expression about a document and cannot end plaid's WHERE clause")
                }
            case UInt8(ascii: "$"), UInt8(ascii: "@"), UInt8(ascii: ":"), UInt8(ascii: "#"):
                throw PlaidError.filter(.otherPlaceholder(String(Character(Unicode.Scalar(c))), at: at(i)))
            case _ where ExpressionScanner.isNameByte(c):
                // A name, a keyword or a number: read whole, so that only a name equal to a
                // row-number name is refused (`myrowid` is not one).
                let start = i
                while i + 1 < bytes.count && ExpressionScanner.isNameByte(bytes[i + 1]) { i += 1 }
                try checkName(start, i + 1)
            default:
                break
            }
            i += 1
        }
        if let unclosed = open.last {
            throw PlaidError.invalidArgument("the filter opens a parenthesis it does not close (\(at(unclosed))); close it")
        }
    }

    /// Moves `i` to the `close` that ends the quoted run starting at `i` (or to the end of the
    /// text); with `doubles`, a doubled `close` inside is one quote character, not the end.
    private mutating func skipQuoted(close: UInt8, doubles: Bool) {
        i += 1
        while i < bytes.count {
            if bytes[i] == close {
                if doubles, i + 1 < bytes.count, bytes[i + 1] == close { i += 2; continue }
                return
            }
            i += 1
        }
    }

    /// Refuses the name in `bytes[start..<end]` if it is one of SQLite's names for the row
    /// number: plaid's statement reads a derived table, where they read NULL, not the row.
    private func checkName(_ start: Int, _ end: Int) throws {
        let name = String(decoding: bytes[start..<max(start, end)], as: UTF8.self).lowercased()
        if MetadataFilter.rowNumberNames.contains(name) {
            throw PlaidError.invalidArgument("the filter reads '\(name)' (\(at(start))), SQLite's row number, which is no field of a document; match on id or a metadata field instead")
        }
    }

    private static func isNameByte(_ c: UInt8) -> Bool {
        (c >= UInt8(ascii: "a") && c <= UInt8(ascii: "z")) || (c >= UInt8(ascii: "A") && c <= UInt8(ascii: "Z"))
            || (c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9")) || c == UInt8(ascii: "_") || c >= 0x80
    }
}

extension MetadataFilter {
    /// A filter parameter given as JSON, as the text it is bound as: a string as it is, a number
    /// as its literal (an integer without a fraction), a boolean as 1 or 0. Nil for any other
    /// kind, which a front end refuses in its own words.
    public static func parameterText(_ value: JSONValue) -> String? {
        switch value {
        case .string(let s): return s
        case .number(let d, let integer): return integer.map(String.init) ?? String(d)
        case .bool(let b): return b ? "1" : "0"
        default: return nil
        }
    }
}

/// The deadline of one filter over all the segments it reads, and whether SQLite was stopped at it.
final class FilterClock {
    let timeLimit: Double
    private let deadline: UInt64
    private(set) var expired = false

    init(timeLimit: Double) throws {
        guard timeLimit > 0 else {
            throw PlaidError.invalidArgument("the filter time limit must be a positive number of seconds, not \(timeLimit)")
        }
        self.timeLimit = timeLimit
        let now = DispatchTime.now().uptimeNanoseconds
        deadline = timeLimit * 1e9 >= Double(UInt64.max - now) ? .max : now + UInt64(timeLimit * 1e9)
    }

    /// Whether the deadline has passed; remembered, so that the error can say why SQLite stopped.
    func isPastDeadline() -> Bool {
        if DispatchTime.now().uptimeNanoseconds >= deadline { expired = true }
        return expired
    }

    var error: PlaidError {
        let seconds = timeLimit == timeLimit.rounded() && timeLimit < 1e15 ? String(Int(timeLimit)) : String(timeLimit)
        return .invalidArgument("the filter ran past its time limit of \(seconds) second\(timeLimit == 1 ? "" : "s") and was stopped; make it simpler (or raise the limit)")
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

/// What the authorizer saw, for the error message, and how many SELECTs it lets a statement have.
private final class AuthorizerLog {
    var refused: String?
    /// SELECTs the statement has had authorized so far.
    var selects = 0
    /// SELECTs plaid's own statement has: one more means the filter holds a subquery.
    var allowedSelects = Int.max
}

/// The authorizer of filter statements: reading the metadata table (and the query's own derived
/// table), calling functions, and as many SELECTs as plaid's own statement has are allowed; every
/// other action is denied.
private let filterAuthorizer: @convention(c) (UnsafeMutableRawPointer?, Int32, UnsafePointer<CChar>?, UnsafePointer<CChar>?,
                                              UnsafePointer<CChar>?, UnsafePointer<CChar>?) -> Int32 = { context, action, first, second, _, _ in
    guard let context else { return SQLITE_DENY }
    let log = Unmanaged<AuthorizerLog>.fromOpaque(context).takeUnretainedValue()
    switch action {
    case SQLITE_FUNCTION:
        // printf's width and precision make strings of any length inside one call, which neither
        // the length limit nor the time limit can stop in time.
        let name = second.map { String(cString: $0).lowercased() } ?? ""
        guard !refusedFunctions.contains(name) else {
            if log.refused == nil { log.refused = "function \(name)" }
            return SQLITE_DENY
        }
        return SQLITE_OK
    case SQLITE_SELECT:
        log.selects += 1
        if log.selects <= log.allowedSelects { return SQLITE_OK }
        if log.refused == nil { log.refused = "subquery" }
        return SQLITE_DENY
    case SQLITE_READ:
        if let first, String(cString: first) == MetadataStore.table { return SQLITE_OK }
        fallthrough
    default:
        if log.refused == nil {
            let names = [SQLITE_READ: "read \(first.map { String(cString: $0) } ?? "another table")", SQLITE_ATTACH: "attach a database",
                         SQLITE_DETACH: "detach a database", SQLITE_PRAGMA: "run a PRAGMA", SQLITE_INSERT: "insert",
                         SQLITE_UPDATE: "update", SQLITE_DELETE: "delete", SQLITE_DROP_TABLE: "drop a table",
                         SQLITE_CREATE_TABLE: "create a table", SQLITE_TRANSACTION: "start a transaction"]
            log.refused = names[action] ?? "perform SQLite action \(action)"
        }
        return SQLITE_DENY
    }
}

/// Functions a filter may not call (see `filterAuthorizer`).
private let refusedFunctions: Set<String> = ["printf", "format"]

/// Stops a filter statement at its clock's deadline: SQLite calls it every `progressInterval`
/// virtual-machine instructions, and a nonzero return interrupts the statement.
private let filterProgress: @convention(c) (UnsafeMutableRawPointer?) -> Int32 = { context in
    guard let context else { return 0 }
    return Unmanaged<FilterClock>.fromOpaque(context).takeUnretainedValue().isPastDeadline() ? 1 : 0
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
        FilterFunctions.register(on: connection.handle)
    }

    /// A database in memory holding only ids: how a filter sees a version-1 segment.
    private init(ids: [String]) throws {
        path = ":memory:"
        fields = []
        connection = try SQLiteConnection(path: path, readOnly: false)
        FilterFunctions.register(on: connection.handle)
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

    static func matchingIDs(_ ids: [String], _ filter: MetadataFilter, schema: [MetadataField], clock: FilterClock) throws -> [Int] {
        try SegmentMetadata(ids: ids).matching(filter, schema: schema, clock: clock)
    }

    /// SQLite's limits while a filter runs, restored after it (reading documents' fields is not
    /// limited). The progress handler cannot stop SQLite inside one function call, so the length
    /// of every string and blob bounds what one call can build, and with the LIKE/GLOB pattern
    /// length the time one match can take (it compares a character class with every character
    /// of the string). A stored value longer than this cannot be read by a filter; the other
    /// limits bound parsing.
    static let limits: [(limit: Int32, value: Int32)] = [
        (SQLITE_LIMIT_LENGTH, 1 << 20),
        (SQLITE_LIMIT_EXPR_DEPTH, 500),
        (SQLITE_LIMIT_FUNCTION_ARG, 64),
        (SQLITE_LIMIT_LIKE_PATTERN_LENGTH, 100),
        (SQLITE_LIMIT_VARIABLE_NUMBER, 1_000),
        (SQLITE_LIMIT_ATTACHED, 0),
    ]
    /// Virtual-machine instructions between two looks at the clock: a handful of rows.
    static let progressInterval: Int32 = 100

    /// SELECTs in plaid's own statement `prefix + "1\n)"` (it depends on the SQLite version), kept
    /// for the schema it was counted for.
    private var ownSelects: (prefix: String, count: Int)?

    /// Local numbers of the documents matching `filter`, ascending. `schema` is the index's
    /// field list: a field this segment lacks reads as NULL here. `clock` stops the statement at
    /// the filter's deadline. The numbers are SQLite's rowids: the caller checks they name
    /// documents of the segment.
    func matching(_ filter: MetadataFilter, schema: [MetadataField], clock: FilterClock) throws -> [Int] {
        try filter.checkIsOneExpression()
        lock.lock(); defer { lock.unlock() }
        let present = Set(fields.map(\.name))
        let columns = ["rowid AS plaid_rowid", "id"] + schema.map { field in
            present.contains(field.name) ? MetadataStore.quoted(field.name) : "NULL AS \(MetadataStore.quoted(field.name))"
        }
        let prefix = "SELECT plaid_rowid FROM (SELECT \(columns.joined(separator: ", ")) FROM \(MetadataStore.table)) WHERE ("
        let sql = prefix + filter.expression + "\n)"
        let handle = connection.handle
        let saved = SegmentMetadata.limits.map { sqlite3_limit(handle, $0.limit, $0.value) }
        let savedSQLLength = sqlite3_limit(handle, SQLITE_LIMIT_SQL_LENGTH, Int32(prefix.utf8.count + MetadataFilter.maxExpressionBytes + 2))
        sqlite3_progress_handler(handle, SegmentMetadata.progressInterval, filterProgress, Unmanaged.passUnretained(clock).toOpaque())
        defer {
            sqlite3_progress_handler(handle, 0, nil, nil)
            sqlite3_limit(handle, SQLITE_LIMIT_SQL_LENGTH, savedSQLLength)
            for (limit, value) in zip(SegmentMetadata.limits, saved) { sqlite3_limit(handle, limit.limit, value) }
        }
        if ownSelects?.prefix != prefix {
            let log = AuthorizerLog()
            guard try prepare(prefix + "1\n)", log: log) != nil else {
                throw PlaidError.corruptIndex(file: path, detail: "the metadata table cannot be read with the index's fields: \(connection.message). Rebuild the index")
            }
            ownSelects = (prefix, log.selects)
        }
        let log = AuthorizerLog()
        log.allowedSelects = ownSelects!.count
        guard let prepared = try prepare(sql, log: log) else {
            throw filterError(filter, prefix: prefix, log: log, schema: schema)
        }
        let placeholders = Int(sqlite3_bind_parameter_count(prepared.pointer))
        guard placeholders == filter.parameters.count else {
            throw PlaidError.filter(.parameterCount(placeholders: placeholders, given: filter.parameters.count))
        }
        for (i, value) in filter.parameters.enumerated() where prepared.bind(text: value, at: Int32(i + 1)) != SQLITE_OK {
            throw PlaidError.filter(.unbindable(position: i + 1, reason: connection.message, maximumBytes: Int(SegmentMetadata.limits[0].value)))
        }
        var documents: [Int] = []
        do {
            while try prepared.step() { documents.append(Int(prepared.integer(0))) }
        } catch {
            if clock.expired { throw clock.error }
            throw PlaidError.invalidArgument("the filter could not be evaluated: \(connection.message)")
        }
        return documents
    }

    /// Prepares `sql` under the filter authorizer, which records in `log`; nil when SQLite refuses it.
    private func prepare(_ sql: String, log: AuthorizerLog) throws -> SQLiteStatement? {
        sqlite3_set_authorizer(connection.handle, filterAuthorizer, Unmanaged.passUnretained(log).toOpaque())
        defer { sqlite3_set_authorizer(connection.handle, nil, nil) }
        var statement: OpaquePointer?
        // The tail points into the C string, so it is read while that lives.
        let (status, tail) = withExtendedLifetime(log) {
            sql.withCString { text -> (Int32, String) in
                var tail: UnsafePointer<CChar>?
                let status = sqlite3_prepare_v2(connection.handle, text, -1, &statement, &tail)
                return (status, tail.map { String(cString: $0) } ?? "")
            }
        }
        guard status == SQLITE_OK, let statement else { return nil }
        let prepared = SQLiteStatement(statement, connection: connection)
        if !tail.allSatisfy(\.isWhitespace) {
            throw PlaidError.invalidArgument("the filter must be one SQL expression; found more after it (\"\(tail.trimmingCharacters(in: .whitespacesAndNewlines).prefix(40))\")")
        }
        return prepared
    }

    private func filterError(_ filter: MetadataFilter, prefix: String, log: AuthorizerLog, schema: [MetadataField]) -> PlaidError {
        let message = connection.message
        if log.refused == "subquery" {
            return .invalidArgument("the filter may only read the metadata fields of the document it tests; it contains a subquery or a second SELECT, which is refused")
        }
        if let refused = log.refused, refused.hasPrefix("function ") {
            return .invalidArgument("the filter may not call \(refused.dropFirst("function ".count))(): its cost has no bound; build the value another way")
        }
        if let refused = log.refused {
            return .invalidArgument("the filter may only read the metadata fields; it tried to \(refused), which is refused")
        }
        if message.hasPrefix("no such column: ") {
            let name = message.dropFirst("no such column: ".count)
            // At most 50 names of at most 40 characters: an index of long or many names would
            // otherwise make every such error as long as all of them.
            let names = ["id"] + schema.map(\.name)
            let known = names.prefix(50).map { $0.count > 40 ? $0.prefix(40) + "…" : $0 }.joined(separator: ", ")
                + (names.count > 50 ? ", and \(names.count - 50) more (plaid metadata lists them)" : "")
            return .invalidArgument("the filter names an unknown field '\(name)'; the fields are: \(known)")
        }
        let offset = Int(sqlite3_error_offset(connection.handle))
        let prefixBytes = prefix.utf8.count
        if offset > prefixBytes + filter.expression.utf8.count {
            // SQLite stopped at the parenthesis plaid closes the expression with.
            return .invalidArgument("the filter ends before its expression is complete (\"\(filter.expression)\"); finish it, as in year > 2000")
        }
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
