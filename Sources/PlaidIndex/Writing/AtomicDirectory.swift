import Foundation
import CSystemCalls
import PlaidCore

/// Creates a directory atomically: the contents are written into a hidden temporary directory
/// beside the target, flushed, and moved into place only once complete. A new target is one
/// rename; an existing one (with `overwrite`) is swapped with the new directory in one
/// `renameat2(RENAME_EXCHANGE)`, so there is never a moment with no index at the path, and the
/// old index's writer lock is held across the swap. A build that fails removes its temporary
/// directory; one that is killed leaves a hidden `.NAME.building-TAG` directory (TAG names the
/// host, pid and start time), which the next build at that path removes once that process is gone.
public enum AtomicDirectory {
    /// `path` standardized, the folder it is in ("." for a bare name), and its last component.
    static func location(of path: String) -> (target: String, parent: String, name: String) {
        let target = (path as NSString).standardizingPath
        // Split by hand: Foundation's deletingLastPathComponent trapped on a one-component
        // relative path ("m") under `plaid serve --create`.
        guard let slash = target.lastIndex(of: "/") else { return (target, ".", target) }
        let parent = slash == target.startIndex ? "/" : String(target[..<slash])
        return (target, parent, String(target[target.index(after: slash)...]))
    }

    public static func create<R>(at path: String, overwrite: Bool, _ body: (String) throws -> R) throws -> R {
        let fm = FileManager.default
        let (target, parent, name) = location(of: path)
        restoreInterruptedReplacement(parent: parent, name: name)
        try checkReplaceable(path, overwrite: overwrite)
        if !fm.fileExists(atPath: parent) {
            try fm.createDirectory(atPath: parent, withIntermediateDirectories: true)
        }
        removeStaleTemporaries(parent: parent, name: name)
        let temporary = temporaryPath(for: target, suffix: "building")
        try? fm.removeItem(atPath: temporary)
        try fm.createDirectory(atPath: temporary, withIntermediateDirectories: false)
        StagingFiles.register(temporary)
        defer { StagingFiles.unregister(temporary) }
        do {
            let result = try body(temporary)
            syncDirectory(temporary)
            // From here the directory becomes the index: an interruption must not remove it.
            StagingFiles.unregister(temporary)
            if fm.fileExists(atPath: target) {
                // A writer of the old index must not be half-way through a commit when it goes.
                let lock = fm.fileExists(atPath: (target as NSString).appendingPathComponent(IndexComponent.manifest.fileName))
                    ? try IndexLock(indexDirectory: target) : nil
                defer { lock?.release() }
                if plaid_rename_exchange(temporary, target) == 0 {
                    try? fm.removeItem(atPath: temporary)   // now the old index
                } else {
                    try replaceWithTwoRenames(target: target, temporary: temporary)
                }
            } else {
                guard rename(temporary, target) == 0 else {
                    throw PlaidError.io(path: target, detail: "cannot move the new index into place: \(String(cString: strerror(errno)))")
                }
            }
            syncDirectory(parent)
            return result
        } catch {
            try? fm.removeItem(atPath: temporary)
            throw error
        }
    }

    /// Where the file system cannot exchange two paths: the old index moves aside to
    /// `.NAME.replaced-TAG` first, and is put back by `restoreInterruptedReplacement` if the
    /// process dies before the new one is in place.
    static func replaceWithTwoRenames(target: String, temporary: String) throws {
        let old = temporaryPath(for: target, suffix: "replaced")
        try? FileManager.default.removeItem(atPath: old)
        guard rename(target, old) == 0 else { throw PlaidError.io(path: target, detail: "cannot move the existing index aside: \(String(cString: strerror(errno)))") }
        guard rename(temporary, target) == 0 else {
            _ = rename(old, target)
            throw PlaidError.io(path: target, detail: "cannot move the new index into place: \(String(cString: strerror(errno)))")
        }
        try? FileManager.default.removeItem(atPath: old)
    }

    /// A hidden path beside `path` that belongs to this process: `.NAME.SUFFIX-HOST-PID-START`.
    public static func temporaryPath(for path: String, suffix: String) -> String {
        let (_, parent, name) = location(of: path)
        return (parent as NSString).appendingPathComponent(".\(name).\(suffix)-\(ProcessIdentity.current.tag)")
    }

    /// Whether `path` is a plaid index directory: a version-2 manifest or version-1 metadata.
    public static func isIndex(_ path: String) -> Bool {
        [IndexComponent.manifest, .metadata].contains { FileManager.default.fileExists(atPath: (path as NSString).appendingPathComponent($0.fileName)) }
    }

    /// Refuses a target that exists unless `overwrite` is set, and refuses to replace anything
    /// but a plaid index or an empty directory even then.
    public static func checkReplaceable(_ path: String, overwrite: Bool) throws {
        let fm = FileManager.default
        let (target, parent, _) = location(of: path)
        var isDirectory: ObjCBool = false
        var parentIsDirectory: ObjCBool = false
        if fm.fileExists(atPath: parent, isDirectory: &parentIsDirectory), !parentIsDirectory.boolValue {
            throw PlaidError.invalidArgument("\(parent) is a file, so \(path) cannot be made in it; choose a path in a directory")
        }
        if fm.fileExists(atPath: target, isDirectory: &isDirectory) {
            // --overwrite replaces an index (or an empty directory), never a file or a folder of
            // other data: such a target is named for what it is, with or without --overwrite.
            let contents = (try? fm.contentsOfDirectory(atPath: target)) ?? []
            guard isDirectory.boolValue && (isIndex(target) || contents.isEmpty) else {
                throw PlaidError.occupiedByOther(path: path)
            }
            guard overwrite else {
                throw isIndex(target) ? PlaidError.indexExists(path: path) : PlaidError.emptyDirectoryExists(path: path)
            }
        }
    }

    /// A build killed between moving the old index aside and moving the new one in (only where
    /// paths cannot be exchanged) leaves no index at the target and the old one in
    /// `.NAME.replaced-TAG`: put it back.
    static func restoreInterruptedReplacement(parent: String, name: String) {
        let target = (parent as NSString).appendingPathComponent(name)
        guard !FileManager.default.fileExists(atPath: target) else { return }
        for temporary in temporaries(parent: parent, name: name, suffix: "replaced") where temporary.owner.isCertainlyGone {
            if rename((parent as NSString).appendingPathComponent(temporary.entry), target) == 0 { return }
        }
    }

    /// Hidden directories a build of NAME makes beside it, each tagged with its process.
    static let temporarySuffixes = ["building", "replaced", "embeddings"]

    private static func temporaries(parent: String, name: String, suffix: String) -> [(entry: String, owner: ProcessIdentity)] {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: parent) else { return [] }
        let prefix = ".\(name).\(suffix)-"
        return entries.sorted().compactMap { entry in
            guard entry.hasPrefix(prefix), let owner = ProcessIdentity(tag: entry.dropFirst(prefix.count)) else { return nil }
            return (entry, owner)
        }
    }

    /// Removes `.NAME.building-TAG`, `.NAME.replaced-TAG` and `.NAME.embeddings-TAG` directories
    /// whose process is certainly gone: of this host, and no process with that pid and start time
    /// runs. This process's own directories, and those of other hosts sharing the storage, stay.
    static func removeStaleTemporaries(beside path: String) {
        let (_, parent, name) = location(of: path)
        removeStaleTemporaries(parent: parent, name: name)
    }

    static func removeStaleTemporaries(parent: String, name: String) {
        for suffix in temporarySuffixes {
            for temporary in temporaries(parent: parent, name: name, suffix: suffix) where temporary.owner.isCertainlyGone {
                try? FileManager.default.removeItem(atPath: (parent as NSString).appendingPathComponent(temporary.entry))
            }
        }
    }

    static func syncDirectory(_ path: String) {
        let fd = open(path, O_RDONLY)
        if fd >= 0 { fsync(fd); close(fd) }
    }
}
