import Foundation

/// The one error type of the toolkit. Every case carries enough context to name the file,
/// the line or field, what was expected and what was found, and what to do about it.
///
/// Cases whose remedy is a setting of the caller (replace ids, overwrite an index, bind filter
/// parameters) carry their data, not a sentence: each front end phrases the remedy in its own
/// terms with `message(_:)` (the command line names its flags, HTTP its JSON fields), and
/// `description` phrases it for a library caller.
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
    /// Documents added under ids the index already holds, without replacing them (upsert).
    case alreadyInIndex(ids: [String])
    /// A build asked to write where an index already is, without replacing it (overwrite).
    case indexExists(path: String)
    /// A build asked to write into an empty directory without being told it may replace it.
    case emptyDirectoryExists(path: String)
    /// A build asked to write where something that is not an index is; it is never replaced.
    case occupiedByOther(path: String)
    /// No index at `path`.
    case noIndex(path: String)
    /// Another process holds the index's writer lock; `holder` names it ("process 1234").
    case locked(path: String, holder: String)
    /// A metadata filter that breaks a rule about its parameters (see `FilterProblem`).
    case filter(FilterProblem)
    /// A write that needs about `needed` bytes where only `available` are free.
    case insufficientSpace(path: String, needed: Int64, available: Int64)

    /// What a filter got wrong about its `?` parameters.
    public enum FilterProblem: Equatable, Sendable {
        /// A NUL character, `at` the place it is ("at character 3 of …").
        case nulCharacter(at: String)
        /// A placeholder other than `?` (`$name`, `:name`, `@name`, `#`).
        case otherPlaceholder(String, at: String)
        /// Placeholders and values differ in number.
        case parameterCount(placeholders: Int, given: Int)
        /// Value `position` (1-based) that SQLite cannot bind.
        case unbindable(position: Int, reason: String, maximumBytes: Int)
    }

    public var description: String { message(.library) }

    /// The error in one sentence, its remedy phrased in `remedies`' terms.
    public func message(_ remedies: Remedies) -> String {
        switch self {
        case let .invalidInput(file, detail): return "\(file): \(detail)"
        case let .corruptIndex(file, detail): return "index file \(file) is damaged or not a plaid index file: \(detail)"
        case let .missingFile(path, hint): return "\(path) does not exist. \(hint)"
        case let .refused(message): return message
        case let .invalidArgument(message): return message
        case let .io(path, detail): return "\(path): \(detail)"
        case let .alreadyInIndex(ids):
            let named = ids.prefix(5).map { "'\($0)'" }.joined(separator: ", ") + (ids.count > 5 ? ", …" : "")
            let them = ids.count == 1 ? "it" : "them"
            return "\(ids.count) id\(ids.count == 1 ? " is" : "s are") already in the index (\(named)); \(remedies.upsert) to replace \(them), or delete \(them) first"
        case let .indexExists(path):
            return "an index already exists at \(path); \(remedies.overwrite) to replace it"
        case let .emptyDirectoryExists(path):
            return "\(path) is an empty directory; \(remedies.overwrite) to build the index in its place"
        case let .occupiedByOther(path):
            return "\(path) exists and is not a plaid index; \(remedies.overwriteName) only replaces an index. Choose another \(remedies.indexPath)"
        case let .noIndex(path):
            return "\(path) does not exist. Build an index there first with \(remedies.build)."
        case let .locked(path, holder):
            return "the index at \(path) is locked by \(holder): another plaid is writing to it. Wait for it to finish (or stop it) and try again"
        case let .filter(problem):
            return problem.message(remedies)
        case let .insufficientSpace(path, needed, available):
            return "writing the index at \(path) needs about \(DiskSpace.format(needed)) of disk space, and its file system has \(DiskSpace.format(available)) free; free some space, or choose another \(remedies.indexPath) on a larger disk"
        }
    }
}

extension PlaidError.FilterProblem {
    func message(_ remedies: Remedies) -> String {
        switch self {
        case let .nulCharacter(at):
            return "the filter contains a NUL character (\(at)); remove it, or pass the value with \(remedies.filterParameters)"
        case let .otherPlaceholder(mark, at):
            return "the filter may use only ? placeholders, bound in order from \(remedies.filterParameters); '\(mark)' (\(at)) starts another kind"
        case let .parameterCount(placeholders, given):
            return "the filter has \(placeholders) ? placeholder\(placeholders == 1 ? "" : "s") but \(given) \(remedies.filterParameterValue)\(given == 1 ? " was" : "s were") given"
        case let .unbindable(position, reason, maximumBytes):
            return "\(remedies.filterParameterValue) \(position) cannot be bound: \(reason) (a value may be at most \(maximumBytes) bytes)"
        }
    }
}

/// How a front end names the settings a remedy refers to.
public struct Remedies: Sendable {
    /// "pass --upsert": replacing documents already in the index.
    public var upsert: String
    /// "pass --overwrite": replacing an index, and the setting's bare name.
    public var overwrite: String
    public var overwriteName: String
    /// Where filter parameters are given, and one of them.
    public var filterParameters: String
    public var filterParameterValue: String
    /// How an index is built, and how its path is given.
    public var build: String
    public var indexPath: String

    public init(upsert: String, overwrite: String, overwriteName: String, filterParameters: String,
                filterParameterValue: String, build: String, indexPath: String) {
        self.upsert = upsert; self.overwrite = overwrite; self.overwriteName = overwriteName
        self.filterParameters = filterParameters; self.filterParameterValue = filterParameterValue
        self.build = build; self.indexPath = indexPath
    }

    /// For a caller of the Swift API.
    public static let library = Remedies(
        upsert: "pass upsert: true", overwrite: "pass overwrite: true", overwriteName: "overwrite",
        filterParameters: "the filter's parameters", filterParameterValue: "parameter value",
        build: "IndexBuilder.build", indexPath: "index path")
}

extension PlaidError: LocalizedError {
    public var errorDescription: String? { description }
}
