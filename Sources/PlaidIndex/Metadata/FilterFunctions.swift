import CSQLite
import Foundation

/// Linear-time replacements, on filter connections, for SQLite's built-in `instr(X,Y)`,
/// `replace(X,Y,Z)`, two-argument `trim`, `ltrim` and `rtrim`, and (in O(string × pattern)
/// instead of exponential time in the pattern's wildcards) `like` and `glob`. The built-ins compare the
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
        // The LIKE and GLOB operators call these (like(pattern, string[, escape]), glob(pattern, string)).
        sqlite3_create_function_v2(handle, "like", 2, flags, nil, like, nil, nil, nil)
        sqlite3_create_function_v2(handle, "like", 3, flags, nil, like, nil, nil, nil)
        sqlite3_create_function_v2(handle, "glob", 2, flags, nil, glob, nil, nil, nil)
    }

    /// One element of a LIKE or GLOB pattern.
    enum PatternToken: Equatable {
        /// `%` or `*`: any run of characters, none included.
        case anyRun
        /// `_` or `?`: any one character.
        case anyOne
        case character(Unicode.Scalar)
        /// A GLOB class `[…]`: ranges of scalar values, or their complement.
        case set([ClosedRange<UInt32>], negated: Bool)
    }

    /// A LIKE pattern's tokens; nil when an escape character ends it (which matches nothing, as in SQLite).
    static func likeTokens(_ pattern: [Unicode.Scalar], escape: Unicode.Scalar?) -> [PatternToken]? {
        var tokens: [PatternToken] = []
        var i = 0
        while i < pattern.count {
            let c = pattern[i]
            i += 1
            if c == escape {
                guard i < pattern.count else { return nil }
                tokens.append(.character(pattern[i]))
                i += 1
            } else {
                tokens.append(c == "%" ? .anyRun : c == "_" ? .anyOne : .character(c))
            }
        }
        return tokens
    }

    /// A GLOB pattern's tokens; nil when a class is not closed (which matches nothing, as in SQLite).
    static func globTokens(_ pattern: [Unicode.Scalar]) -> [PatternToken]? {
        var tokens: [PatternToken] = []
        var i = 0
        while i < pattern.count {
            let c = pattern[i]
            i += 1
            switch c {
            case "*": tokens.append(.anyRun)
            case "?": tokens.append(.anyOne)
            case "[":
                var negated = false
                if i < pattern.count, pattern[i] == "^" { negated = true; i += 1 }
                var ranges: [ClosedRange<UInt32>] = []
                var first = true
                while i < pattern.count, pattern[i] != "]" || first {
                    let low = pattern[i].value
                    if i + 2 < pattern.count, pattern[i + 1] == "-", pattern[i + 2] != "]" {
                        let high = pattern[i + 2].value
                        if low <= high { ranges.append(low...high) }
                        i += 3
                    } else {
                        ranges.append(low...low)
                        i += 1
                    }
                    first = false
                }
                guard i < pattern.count else { return nil }
                i += 1
                tokens.append(.set(ranges, negated: negated))
            default: tokens.append(.character(c))
            }
        }
        return tokens
    }

    /// Whether `string` matches `tokens`, in O(string × pattern) time: a mismatch after `anyRun`
    /// retries from the last `anyRun` one character further on, which suffices because each
    /// other token matches exactly one character. `foldASCII`: LIKE's case-insensitive ASCII.
    static func matches(_ tokens: [PatternToken], _ string: [Unicode.Scalar], foldASCII: Bool) -> Bool {
        func fold(_ c: Unicode.Scalar) -> UInt32 { foldASCII && c.value >= 65 && c.value <= 90 ? c.value + 32 : c.value }
        func one(_ token: PatternToken, _ c: Unicode.Scalar) -> Bool {
            switch token {
            case .anyRun: return false
            case .anyOne: return true
            case .character(let p): return fold(p) == fold(c)
            case .set(let ranges, let negated): return ranges.contains { $0.contains(c.value) } != negated
            }
        }
        var i = 0, j = 0
        var lastRun = -1, resume = 0
        while i < string.count {
            if j < tokens.count, tokens[j] == .anyRun {
                lastRun = j
                resume = i
                j += 1
            } else if j < tokens.count, one(tokens[j], string[i]) {
                i += 1
                j += 1
            } else if lastRun >= 0 {
                j = lastRun + 1
                resume += 1
                i = resume
            } else {
                return false
            }
        }
        while j < tokens.count, tokens[j] == .anyRun { j += 1 }
        return j == tokens.count
    }

    /// The text of argument `value` as Unicode scalars; nil for NULL.
    private static func scalars(_ value: OpaquePointer?) -> [Unicode.Scalar]? {
        guard let text = bytes(value, asBlob: false) else { return nil }
        return Array(String(decoding: text, as: UTF8.self).unicodeScalars)
    }

    /// Refuses a pattern longer than the connection's LIKE pattern limit, as the built-ins do.
    private static func withinPatternLimit(_ context: OpaquePointer?, _ pattern: OpaquePointer?) -> Bool {
        guard Int(sqlite3_value_bytes(pattern)) <= Int(sqlite3_limit(sqlite3_context_db_handle(context), SQLITE_LIMIT_LIKE_PATTERN_LENGTH, -1)) else {
            sqlite3_result_error(context, "LIKE or GLOB pattern too complex", -1)
            return false
        }
        return true
    }

    private static let like: @convention(c) (OpaquePointer?, Int32, UnsafeMutablePointer<OpaquePointer?>?) -> Void = { context, count, arguments in
        guard let arguments, withinPatternLimit(context, arguments[0]) else { return }
        var escape: Unicode.Scalar?
        if count == 3 {
            guard let given = scalars(arguments[2]) else { return }
            guard given.count == 1 else {
                sqlite3_result_error(context, "ESCAPE expression must be a single character", -1)
                return
            }
            escape = given[0]
        }
        guard let pattern = scalars(arguments[0]), let string = scalars(arguments[1]) else { return }
        let matched = likeTokens(pattern, escape: escape).map { matches($0, string, foldASCII: true) } ?? false
        sqlite3_result_int(context, matched ? 1 : 0)
    }

    private static let glob: @convention(c) (OpaquePointer?, Int32, UnsafeMutablePointer<OpaquePointer?>?) -> Void = { context, _, arguments in
        guard let arguments, withinPatternLimit(context, arguments[0]) else { return }
        guard let pattern = scalars(arguments[0]), let string = scalars(arguments[1]) else { return }
        let matched = globTokens(pattern).map { matches($0, string, foldASCII: false) } ?? false
        sqlite3_result_int(context, matched ? 1 : 0)
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
