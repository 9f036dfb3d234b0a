import CSQLite
import Foundation

/// Linear-time replacements, on filter connections, for SQLite's built-in `instr(X,Y)`,
/// `replace(X,Y,Z)` and two-argument `trim`, `ltrim` and `rtrim`. The built-ins compare the
/// pattern at every position of the string (or every character against the whole set), so one
/// call on strings within the length limit can run for minutes, and the progress handler that
/// enforces a filter's time limit only runs between calls. Results are the built-ins': NULL in,
/// NULL out; positions count characters of text and bytes of two blobs; an empty pattern is
/// found at position 1 and replaces nothing.
enum FilterFunctions {
    static func register(on handle: OpaquePointer?) {
        let flags = SQLITE_UTF8 | SQLITE_DETERMINISTIC
        sqlite3_create_function_v2(handle, "instr", 2, flags, nil, instr, nil, nil, nil)
        sqlite3_create_function_v2(handle, "replace", 3, flags, nil, replace, nil, nil, nil)
        for (name, side) in [("trim", 3), ("ltrim", 1), ("rtrim", 2)] {
            sqlite3_create_function_v2(handle, name, 2, flags, UnsafeMutableRawPointer(bitPattern: side), trim, nil, nil, nil)
        }
    }

    /// The bytes of argument `value`: a blob's own when `asBlob`, else its text in UTF-8. Nil for NULL.
    private static func bytes(_ value: OpaquePointer?, asBlob: Bool) -> UnsafeBufferPointer<UInt8>? {
        guard sqlite3_value_type(value) != SQLITE_NULL else { return nil }
        let start = asBlob ? sqlite3_value_blob(value).map { $0.assumingMemoryBound(to: UInt8.self) } : sqlite3_value_text(value)
        let count = Int(sqlite3_value_bytes(value))
        // An empty value may have no address; an empty buffer stands for it.
        return UnsafeBufferPointer(start: count > 0 ? start : nil, count: count)
    }

    /// The offset of the first occurrence of `needle` in `haystack` at or after `from`, by
    /// Knuth–Morris–Pratt with the failure table `table` of `needle`; nil when there is none.
    static func firstOccurrence(of needle: UnsafeBufferPointer<UInt8>, in haystack: UnsafeBufferPointer<UInt8>, from: Int, table: [Int]) -> Int? {
        var matched = 0
        var i = from
        while i < haystack.count {
            while matched > 0 && haystack[i] != needle[matched] { matched = table[matched - 1] }
            if haystack[i] == needle[matched] { matched += 1 }
            if matched == needle.count { return i + 1 - needle.count }
            i += 1
        }
        return nil
    }

    /// For each prefix of `pattern`, the length of its longest proper prefix that is also its suffix.
    static func failureTable(_ pattern: UnsafeBufferPointer<UInt8>) -> [Int] {
        var table = [Int](repeating: 0, count: pattern.count)
        var k = 0
        for i in 1..<max(1, pattern.count) {
            while k > 0 && pattern[i] != pattern[k] { k = table[k - 1] }
            if pattern[i] == pattern[k] { k += 1 }
            table[i] = k
        }
        return table
    }

    private static let instr: @convention(c) (OpaquePointer?, Int32, UnsafeMutablePointer<OpaquePointer?>?) -> Void = { context, _, arguments in
        guard let arguments else { return }
        let blobs = sqlite3_value_type(arguments[0]) == SQLITE_BLOB && sqlite3_value_type(arguments[1]) == SQLITE_BLOB
        guard let haystack = bytes(arguments[0], asBlob: blobs), let needle = bytes(arguments[1], asBlob: blobs) else { return }
        guard !needle.isEmpty else { sqlite3_result_int64(context, 1); return }
        guard let offset = firstOccurrence(of: needle, in: haystack, from: 0, table: failureTable(needle)) else {
            sqlite3_result_int64(context, 0); return
        }
        // Text positions count characters: the bytes before the match that start one.
        let position = blobs ? offset : haystack[..<offset].reduce(0) { $0 + ($1 & 0xC0 == 0x80 ? 0 : 1) }
        sqlite3_result_int64(context, Int64(position + 1))
    }

    private static let replace: @convention(c) (OpaquePointer?, Int32, UnsafeMutablePointer<OpaquePointer?>?) -> Void = { context, _, arguments in
        guard let arguments, let string = bytes(arguments[0], asBlob: false), let pattern = bytes(arguments[1], asBlob: false),
              let replacement = bytes(arguments[2], asBlob: false) else { return }
        // As the built-in: an empty pattern gives X back unchanged, type included.
        guard !pattern.isEmpty else { sqlite3_result_value(context, arguments[0]); return }
        let table = failureTable(pattern)
        var out: [UInt8] = []
        var start = 0
        while let found = firstOccurrence(of: pattern, in: string, from: start, table: table) {
            out += string[start..<found]
            out += replacement
            start = found + pattern.count
        }
        out += string[start...]
        guard out.count <= Int(sqlite3_limit(sqlite3_context_db_handle(context), SQLITE_LIMIT_LENGTH, -1)) else {
            sqlite3_result_error_toobig(context); return
        }
        out.withUnsafeBufferPointer { result(context, text: $0) }
    }

    /// `trim(X, Y)`: the characters of Y removed from the start (side bit 1) and the end (side
    /// bit 2) of X. Characters are UTF-8 sequences, told apart by their first 7 bytes and length
    /// (every valid one is shorter).
    private static let trim: @convention(c) (OpaquePointer?, Int32, UnsafeMutablePointer<OpaquePointer?>?) -> Void = { context, _, arguments in
        guard let arguments, let string = bytes(arguments[0], asBlob: false), let characters = bytes(arguments[1], asBlob: false) else { return }
        let side = Int(bitPattern: sqlite3_user_data(context))
        func key(_ b: UnsafeBufferPointer<UInt8>, _ p: Int, _ n: Int) -> UInt64 {
            var k = UInt64(min(n, 255)) << 56
            for j in 0..<min(n, 7) { k |= UInt64(b[p + j]) << UInt64(8 * j) }
            return k
        }
        func length(_ b: UnsafeBufferPointer<UInt8>, at p: Int, end: Int) -> Int {
            var n = 1
            while p + n < end && b[p + n] & 0xC0 == 0x80 { n += 1 }
            return n
        }
        var set = Set<UInt64>()
        var p = 0
        while p < characters.count { let n = length(characters, at: p, end: characters.count); set.insert(key(characters, p, n)); p += n }
        var start = 0, end = string.count
        if side & 1 != 0 {
            while start < end {
                let n = length(string, at: start, end: end)
                guard set.contains(key(string, start, n)) else { break }
                start += n
            }
        }
        if side & 2 != 0 {
            while end > start {
                var first = end - 1
                while first > start && string[first] & 0xC0 == 0x80 { first -= 1 }
                guard set.contains(key(string, first, end - first)) else { break }
                end = first
            }
        }
        result(context, text: UnsafeBufferPointer(rebasing: string[start..<end]))
    }

    /// Sets the function's result to a copy of `text`.
    private static func result(_ context: OpaquePointer?, text: UnsafeBufferPointer<UInt8>) {
        let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)
        guard let start = text.baseAddress, !text.isEmpty else { sqlite3_result_text(context, "", 0, transient); return }
        sqlite3_result_text64(context, UnsafeRawPointer(start).assumingMemoryBound(to: CChar.self), sqlite3_uint64(text.count), transient, UInt8(SQLITE_UTF8))
    }
}
