import Foundation

/// The one error type of the toolkit. Every case carries enough context to name the file,
/// the line or field, what was expected and what was found, and what to do about it.
public enum PlaidError: Error, CustomStringConvertible, Equatable {
    /// Input data that does not have the expected form (a file, optionally a line or field).
    case invalidInput(file: String, detail: String)
    /// A file of an index that is damaged, truncated, foreign or of another format version.
    case corruptIndex(file: String, detail: String)
    /// A file or directory that should exist and does not.
    case missingFile(path: String, hint: String)
    /// An operation refused because it would lose or overwrite something.
    case refused(String)
    /// A bad argument or parameter value.
    case invalidArgument(String)
    /// A failed system call or I/O operation.
    case io(path: String, detail: String)

    public var description: String {
        switch self {
        case let .invalidInput(file, detail): return "\(file): \(detail)"
        case let .corruptIndex(file, detail): return "index file \(file) is damaged or not a plaid index file: \(detail)"
        case let .missingFile(path, hint): return "\(path) does not exist. \(hint)"
        case let .refused(message): return message
        case let .invalidArgument(message): return message
        case let .io(path, detail): return "\(path): \(detail)"
        }
    }
}

extension PlaidError: LocalizedError {
    public var errorDescription: String? { description }
}
