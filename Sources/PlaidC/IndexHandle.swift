import Foundation
import PlaidCore
import PlaidIndex

/// One open index for a foreign caller: the snapshot that searches read and, from the first
/// write on, the index's writer (so a process that only searches never takes the writer lock,
/// and two processes can search one index while a third writes).
///
/// Searches read the newest commit: the one this handle wrote last, or another process's, seen
/// by a `stat` of the manifest before each search; a search that has started keeps its snapshot
/// to the end. Writes are one commit each and run one at a time.
final class IndexHandle: @unchecked Sendable {
    let path: String
    private let writeLock = NSLock()
    /// Opened by the first write, kept until `close`. Touched only under `writeLock`.
    private var writer: IndexWriter?
    /// The commit stamp of the writer's last commit (or of the commit it opened): while the
    /// writer holds the lock nothing else commits, so another stamp means the index folder was
    /// replaced or removed under it (its lock file with it), and the writer must not write there.
    private var writerStamp: String?
    private let snapshotLock = NSLock()
    private var current: Snapshot

    /// A commit, opened, with its id lookup built on first use.
    final class Snapshot: @unchecked Sendable {
        let index: CompressedIndex
        let stamp: String?
        private let lookupLock = NSLock()
        private var builtLookup: DocumentLookup?

        init(index: CompressedIndex, stamp: String?) { self.index = index; self.stamp = stamp }

        var lookup: DocumentLookup {
            lookupLock.lock()
            defer { lookupLock.unlock() }
            if let builtLookup { return builtLookup }
            let built = DocumentLookup(index: index)
            builtLookup = built
            return built
        }
    }

    init(path: String) throws {
        self.path = path
        let stamp = CompressedIndex.commitStamp(ofIndexAt: path)
        current = Snapshot(index: try CompressedIndex(path: path), stamp: stamp)
    }

    /// The newest commit on disk, reopened when it changed since the last look.
    func snapshot() throws -> Snapshot {
        snapshotLock.lock()
        let seen = current
        snapshotLock.unlock()
        let stamp = CompressedIndex.commitStamp(ofIndexAt: path)
        guard stamp != seen.stamp else { return seen }
        let fresh = Snapshot(index: try CompressedIndex(path: path, reusing: seen.index), stamp: stamp)
        snapshotLock.lock()
        defer { snapshotLock.unlock() }
        current = fresh
        return fresh
    }

    /// Runs `change` on the writer and commits it. A change that throws is discarded with the
    /// writer (reopened by the next write), so nothing half-staged reaches a later commit.
    func write<T>(_ change: (IndexWriter) throws -> T) throws -> (T, CommitSummary) {
        try withWriter { writer in
            let result = try change(writer)
            return (result, try writer.commit())
        }
    }

    /// Runs `body` with the writer (compaction commits itself). A `body` that throws discards
    /// the writer, as `write` says.
    func withWriter<T>(_ body: (IndexWriter) throws -> T) throws -> T {
        writeLock.lock()
        defer { writeLock.unlock() }
        let writer = try currentWriter()
        do {
            let result = try body(writer)
            writerStamp = CompressedIndex.commitStamp(ofIndexAt: path)
            return result
        } catch {
            discardWriter()
            throw error
        }
    }

    /// The open writer, or a new one; refuses when the index changed on disk since the writer's
    /// last commit. Call with `writeLock` held.
    private func currentWriter() throws -> IndexWriter {
        if let writer {
            guard CompressedIndex.commitStamp(ofIndexAt: path) == writerStamp else {
                discardWriter()
                throw PlaidError.refused("the index at \(path) changed on disk since this handle took its writer lock (it was replaced or removed by something that is not plaid); nothing was written. Open it again to write to what is there now")
            }
            return writer
        }
        let opened = try IndexWriter(path: path)
        writer = opened
        writerStamp = CompressedIndex.commitStamp(ofIndexAt: path)
        return opened
    }

    private func discardWriter() {
        writer?.close()
        writer = nil
        writerStamp = nil
    }

    /// Releases the writer lock, if this handle took it.
    func close() {
        writeLock.lock()
        defer { writeLock.unlock() }
        discardWriter()
    }
}

/// The handle behind an opaque pointer the caller holds (retained by `plaid_index_open`).
func indexHandle(_ pointer: UnsafeMutableRawPointer?) throws -> IndexHandle {
    guard let pointer else { throw PlaidError.invalidArgument("the index is closed") }
    return Unmanaged<IndexHandle>.fromOpaque(pointer).takeUnretainedValue()
}
