import Foundation

/// Where a command writes a run, a report or JSON: standard output (`-` or `/dev/stdout`), a
/// character device such as `/dev/null` (written through), or a regular file that is replaced
/// atomically (written beside it under a temporary name, flushed, renamed over it).
///
/// `prepare` checks the destination before any expensive work, so a bad path fails at once: a
/// character device is opened and written, never replaced; any other path that exists and is not
/// a regular file (a directory, a block device, a pipe, a socket, or a symbolic link to one) is
/// refused and never renamed over; a symbolic link to a regular file or a character device is
/// written through (its target is replaced or written, the link stays); missing parent folders
/// are created; and the folder must accept a new file.
public enum OutputDestination: Equatable, Sendable {
    case standardOutput
    /// A character device (`/dev/null`, a terminal), written in place.
    case characterDevice(String)
    /// The file to replace: the path given, or a symbolic link's target.
    case file(String)

    public static func prepare(_ path: String, option: String = "--output") throws -> OutputDestination {
        // /dev/stdout names this process's standard output, whatever that is (a terminal, a pipe, a file).
        if path == "-" || path == "/dev/stdout" { return .standardOutput }
        var target = path
        var info = stat()
        if lstat(path, &info) == 0 {
            if (info.st_mode & S_IFMT) == S_IFLNK {
                let resolved = URL(fileURLWithPath: path).resolvingSymlinksInPath().path
                guard stat(resolved, &info) == 0 || errno == ENOENT else {
                    throw PlaidError.invalidArgument("\(option) \(path) is a symbolic link that cannot be followed: \(String(cString: strerror(errno)))")
                }
                target = resolved
            }
            if stat(target, &info) == 0, (info.st_mode & S_IFMT) == S_IFCHR {
                guard access(target, W_OK) == 0 else {
                    throw PlaidError.io(path: target, detail: "cannot write to this device (\(option) \(path)): \(String(cString: strerror(errno)))")
                }
                return .characterDevice(target)
            }
            if stat(target, &info) == 0, (info.st_mode & S_IFMT) != S_IFREG {
                let kind: String
                switch info.st_mode & S_IFMT {
                case S_IFDIR: kind = "a directory"
                case S_IFBLK: kind = "a block device"
                case S_IFIFO: kind = "a pipe"
                case S_IFSOCK: kind = "a socket"
                default: kind = "not a regular file"
                }
                throw PlaidError.invalidArgument("\(option) \(path) is \(kind)\(target != path ? " (through a symbolic link)" : ""); give a file path, or - for standard output")
            }
        }
        let parent = (target as NSString).deletingLastPathComponent.isEmpty ? "." : (target as NSString).deletingLastPathComponent
        do {
            try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true)
        } catch {
            throw PlaidError.io(path: parent, detail: "cannot create the folder for \(option) \(path): \(describe(error))")
        }
        guard access(parent, W_OK) == 0 else {
            throw PlaidError.io(path: parent, detail: "cannot write into this folder (\(option) \(path)): \(String(cString: strerror(errno)))")
        }
        return .file(target)
    }

    /// Whether writing both would leave only one: both standard output (mixed into one stream),
    /// or one file (by its absolute path, links resolved, or by its inode where both exist), which
    /// the second write replaces. A device (`/dev/null`, a terminal) keeps both writes.
    public func isSame(as other: OutputDestination) -> Bool {
        switch (self, other) {
        case (.standardOutput, .standardOutput): return true
        case let (.file(a), .file(b)):
            let resolvedA = URL(fileURLWithPath: a).standardizedFileURL.resolvingSymlinksInPath().path
            let resolvedB = URL(fileURLWithPath: b).standardizedFileURL.resolvingSymlinksInPath().path
            if resolvedA == resolvedB { return true }
            var infoA = stat(), infoB = stat()
            return stat(a, &infoA) == 0 && stat(b, &infoB) == 0 && infoA.st_dev == infoB.st_dev && infoA.st_ino == infoB.st_ino
        default: return false
        }
    }

    /// Writes `data` whole: to standard output, or atomically to the file.
    public func write(_ data: Data) throws {
        switch self {
        case .standardOutput:
            try FileHandle.standardOutput.write(contentsOf: data)
        case .characterDevice(let path):
            guard let handle = FileHandle(forWritingAtPath: path) else {
                throw PlaidError.io(path: path, detail: "cannot open the device for writing: \(String(cString: strerror(errno)))")
            }
            defer { try? handle.close() }
            try handle.write(contentsOf: data)
        case .file(let path):
            let url = URL(fileURLWithPath: path)
            let temporary = url.deletingLastPathComponent()
                .appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())").path
            StagingFiles.register(temporary)
            defer { StagingFiles.unregister(temporary) }
            guard FileManager.default.createFile(atPath: temporary, contents: nil), let handle = FileHandle(forWritingAtPath: temporary) else {
                throw PlaidError.io(path: path, detail: "cannot create a file beside it: \(String(cString: strerror(errno)))")
            }
            do {
                try handle.write(contentsOf: data)
                try handle.synchronize()
                try handle.close()
                guard rename(temporary, path) == 0 else {
                    throw PlaidError.io(path: path, detail: "cannot move the finished file into place: \(String(cString: strerror(errno)))")
                }
            } catch {
                try? FileManager.default.removeItem(atPath: temporary)
                throw error
            }
        }
    }

    /// The path to show in messages.
    public var name: String {
        switch self {
        case .standardOutput: return "standard output"
        case .characterDevice(let path), .file(let path): return path
        }
    }
}

/// One sentence for any error: the toolkit's own (its remedy in `remedies`' terms), or a
/// Foundation/POSIX error as "PATH: reason" instead of its raw dump.
public func describe(_ error: Error, remedies: Remedies = .library) -> String {
    if let plaid = error as? PlaidError { return plaid.message(remedies) }
    let ns = error as NSError
    var reason = ns.localizedFailureReason ?? ns.localizedDescription
    if let underlying = ns.userInfo[NSUnderlyingErrorKey] as? NSError, underlying.domain == NSPOSIXErrorDomain {
        reason = String(cString: strerror(Int32(underlying.code)))
    } else if ns.domain == NSPOSIXErrorDomain {
        reason = String(cString: strerror(Int32(ns.code)))
    }
    if let path = ns.userInfo[NSFilePathErrorKey] as? String ?? (ns.userInfo[NSURLErrorKey] as? URL)?.path {
        return "\(path): \(reason)"
    }
    return reason
}

/// Files and folders this process is writing and must not leave behind if it is interrupted
/// (`plaid` removes them on SIGINT and SIGTERM before it exits). A path is registered while it is
/// staging and unregistered just before it becomes part of a result, so an interruption can
/// never remove something already committed.
public enum StagingFiles {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var paths: Set<String> = []

    public static func register(_ path: String) {
        lock.lock(); paths.insert(path); lock.unlock()
    }

    public static func unregister(_ path: String) {
        lock.lock(); paths.remove(path); lock.unlock()
    }

    /// Removes every registered path (a few tries each, in case a file is being created in it).
    public static func removeAll() {
        lock.lock()
        let staged = paths
        paths.removeAll()
        lock.unlock()
        for path in staged {
            for _ in 0..<3 where FileManager.default.fileExists(atPath: path) {
                try? FileManager.default.removeItem(atPath: path)
            }
        }
    }
}

/// The toolkit's version.
public enum PlaidVersion {
    public static let string = "0.2.0"
}
