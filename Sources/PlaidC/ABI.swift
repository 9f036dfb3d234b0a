import Foundation
import PlaidCore
import PlaidIndex

// plaid's C interface: what the Python package (python/plaid/_native.py) loads with ctypes.
//
// Contract of every function that can fail: it returns a `PlaidStatus` (0 is success) and, on
// failure, sets `*error` to a NUL-terminated sentence allocated with malloc, which the caller
// releases with `plaid_free`. Handles (index, results, vectors, encoder) are opaque pointers
// released with their own `_free`/`_close` function. Arrays come in as C pointers into the
// caller's buffers (numpy), read during the call only; strings as one UTF-8 buffer with `n + 1`
// int64 offsets, so that any id, even one holding NUL, passes intact. Options come as a JSON
// object, so that a new option never changes a signature. A handle may be used from several
// threads: calls on one index handle run one write at a time, and searches concurrently.

/// What kind of failure a call had: the Python package raises a different exception for each.
enum PlaidStatus: Int32 {
    case ok = 0
    /// A bad argument or input (ValueError in Python).
    case invalidInput = 1
    /// No index, file or model where one was named (FileNotFoundError).
    case notFound = 2
    /// Another process holds the index's writer lock.
    case locked = 3
    /// A build would replace an index (or something else) without overwrite.
    case exists = 4
    /// A file of the index is damaged.
    case corrupt = 5
    /// Anything else: I/O, disk space.
    case failed = 6
}

/// How errors name the Python package's settings.
extension Remedies {
    static let python = Remedies(
        upsert: "pass upsert=True", overwrite: "pass overwrite=True", overwriteName: "overwrite",
        filterParameters: "filter_params", filterParameterValue: "filter_params value",
        build: "plaid.Index.build", indexPath: "index path")
}

/// Runs `body`, turning a thrown error into a status and a sentence in `error`.
func reportingErrors(_ error: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?, _ body: () throws -> Void) -> Int32 {
    do {
        try body()
        return PlaidStatus.ok.rawValue
    } catch let thrown {
        let (status, sentence) = describe(thrown)
        error?.pointee = strdup(sentence)
        return status.rawValue
    }
}

func describe(_ error: Error) -> (PlaidStatus, String) {
    guard let plaid = error as? PlaidError else {
        if let json = error as? JSONError { return (.invalidInput, "options: \(json.description)") }
        return (.failed, String(describing: error))
    }
    let status: PlaidStatus
    switch plaid {
    case .invalidInput, .invalidArgument, .alreadyInIndex, .filter, .refused: status = .invalidInput
    case .missingFile, .noIndex: status = .notFound
    case .locked: status = .locked
    case .indexExists, .emptyDirectoryExists, .occupiedByOther: status = .exists
    case .corruptIndex: status = .corrupt
    case .io, .insufficientSpace: status = .failed
    }
    return (status, plaid.message(.python))
}

/// `n` strings from one UTF-8 buffer and `n + 1` offsets into it.
func strings(_ bytes: UnsafePointer<UInt8>?, _ offsets: UnsafePointer<Int64>?, _ n: Int64, what: String) throws -> [String] {
    guard n >= 0 else { throw PlaidError.invalidArgument("\(what): a negative count (\(n))") }
    guard n > 0 else { return [] }
    guard let bytes, let offsets else { throw PlaidError.invalidArgument("\(what): no buffer was given") }
    var out: [String] = []
    out.reserveCapacity(Int(n))
    for i in 0..<Int(n) {
        let start = Int(offsets[i]), end = Int(offsets[i + 1])
        guard start >= 0, end >= start else { throw PlaidError.invalidArgument("\(what): offsets \(start)..\(end) are out of order") }
        out.append(String(decoding: UnsafeBufferPointer(start: bytes + start, count: end - start), as: UTF8.self))
    }
    return out
}

/// A caller's optional C string.
func string(_ text: UnsafePointer<CChar>?) -> String? { text.map { String(cString: $0) } }

/// Hands `text` to the caller as a malloc'd C string.
func give(_ text: String, to out: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) { out?.pointee = strdup(text) }

/// A JSON object of options; nil or empty text is no options. Unknown names are refused, so a
/// misspelt option is never silently ignored.
struct Options {
    fileprivate let members: [String: JSONValue]
    let source: String

    init(_ text: UnsafePointer<CChar>?, source: String, known: Set<String>) throws {
        self.source = source
        guard let text, text.pointee != 0 else { members = [:]; return }
        let bytes = Array(UnsafeBufferPointer(start: UnsafeRawPointer(text).assumingMemoryBound(to: UInt8.self), count: strlen(text)))
        var members: [String: JSONValue] = [:]
        for (key, value) in try JSONReader.parseObject(bytes) {
            guard known.contains(key) else {
                throw PlaidError.invalidArgument("\(source): unknown option '\(key)'; known: \(known.sorted().joined(separator: ", "))")
            }
            if case .null = value { continue }
            members[key] = value
        }
        self.members = members
    }

    /// Whether the option was given (and not null).
    func has(_ name: String) -> Bool { members[name] != nil }

    func int(_ name: String) throws -> Int? {
        guard let value = members[name] else { return nil }
        guard case .number(_, let integer?) = value, let int = Int(exactly: integer) else {
            throw PlaidError.invalidArgument("\(source): option '\(name)' must be an integer, not \(value.kind)")
        }
        return int
    }

    func int(_ name: String, in range: ClosedRange<Int>) throws -> Int? {
        guard let value = try int(name) else { return nil }
        guard range.contains(value) else {
            throw PlaidError.invalidArgument("\(source): option '\(name)' must be between \(range.lowerBound) and \(range.upperBound), not \(value)")
        }
        return value
    }

    func double(_ name: String) throws -> Double? {
        guard let value = members[name] else { return nil }
        guard case .number(let d, _) = value, d.isFinite else {
            throw PlaidError.invalidArgument("\(source): option '\(name)' must be a finite number, not \(value.kind)")
        }
        return d
    }

    func bool(_ name: String) throws -> Bool? {
        guard let value = members[name] else { return nil }
        guard case .bool(let b) = value else { throw PlaidError.invalidArgument("\(source): option '\(name)' must be true or false, not \(value.kind)") }
        return b
    }

    func string(_ name: String) throws -> String? {
        guard let value = members[name] else { return nil }
        guard case .string(let s) = value else { throw PlaidError.invalidArgument("\(source): option '\(name)' must be a string, not \(value.kind)") }
        return s
    }

    func strings(_ name: String) throws -> [String]? {
        guard let value = members[name] else { return nil }
        guard case .array(let elements) = value else { throw PlaidError.invalidArgument("\(source): option '\(name)' must be a list of strings, not \(value.kind)") }
        return try elements.map {
            guard case .string(let s) = $0 else { throw PlaidError.invalidArgument("\(source): option '\(name)' must be a list of strings; it holds \($0.kind)") }
            return s
        }
    }
}

/// Compact JSON of a Foundation object (summaries, descriptions), as a string.
func json(_ object: Any) throws -> String {
    String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]), as: UTF8.self)
}

@_cdecl("plaid_free")
public func plaid_free(_ pointer: UnsafeMutableRawPointer?) { free(pointer) }

/// The library's version: the one `plaid --version` prints. Static storage; not to be freed.
@_cdecl("plaid_version")
public func plaid_version() -> UnsafePointer<CChar> { PlaidVersionText.pointer }

private enum PlaidVersionText {
    static let pointer: UnsafePointer<CChar> = UnsafePointer(strdup(PlaidVersion.string)!)
}

extension Options {
    /// Filter parameters: strings, numbers and booleans (`MetadataFilter.parameterText`).
    func filterParameters(_ name: String) throws -> [String]? {
        guard let value = members[name] else { return nil }
        guard case .array(let elements) = value else { throw PlaidError.invalidArgument("\(source): option '\(name)' must be a list, not \(value.kind)") }
        return try elements.enumerated().map { i, element in
            guard let text = MetadataFilter.parameterText(element) else {
                throw PlaidError.invalidArgument("\(source): \(name)[\(i)] must be a string, number or boolean, not \(element.kind)")
            }
            return text
        }
    }
}
