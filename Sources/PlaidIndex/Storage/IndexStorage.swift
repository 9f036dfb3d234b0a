import Foundation
import PlaidCore

/// Reading and writing the small components (metadata, centroids, document lengths and ids).
enum IndexStorage {
    /// zstd is kept only where it saves at least this fraction of a component's bytes.
    static let minimumZstdSaving = 0.10

    static func writeSmallComponents(directory: String, metadata: IndexMetadata, centroids: [Float],
                                     documentLengths: [Int], documentIDs: [String]) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        _ = try ComponentWriter.write(directory: directory, component: .metadata,
                                      payload: Array(try encoder.encode(metadata)), compress: false)
        // Centroids are unit vectors: float16 keeps 11 significant bits, far finer than a
        // 1–4-bit residual, and halves the largest fixed cost of a small index.
        var halves = [UInt8]()
        halves.reserveCapacity(centroids.count * 2)
        for v in centroids { let b = Float16(v).bitPattern; halves.append(UInt8(b & 0xFF)); halves.append(UInt8(b >> 8)) }
        try writeCompressingIfItPays(directory: directory, component: .centroids, payload: halves)
        var lengths = [UInt8]()
        lengths.reserveCapacity(documentLengths.count * 4)
        for n in documentLengths { withUnsafeBytes(of: UInt32(n).littleEndian) { lengths.append(contentsOf: $0) } }
        try writeCompressingIfItPays(directory: directory, component: .documentLengths, payload: lengths)
        var ids = [UInt8]()
        withUnsafeBytes(of: UInt32(documentIDs.count).littleEndian) { ids.append(contentsOf: $0) }
        for id in documentIDs {
            let utf8 = Array(id.utf8)
            withUnsafeBytes(of: UInt32(utf8.count).littleEndian) { ids.append(contentsOf: $0) }
            ids.append(contentsOf: utf8)
        }
        try writeCompressingIfItPays(directory: directory, component: .documentIDs, payload: ids)
    }

    static func writeCompressingIfItPays(directory: String, component: IndexComponent, payload: [UInt8]) throws {
        let compressed = try payload.withUnsafeBytes { try Zstd.compress($0, level: 9) }
        let pays = Double(compressed.count) <= Double(payload.count) * (1 - minimumZstdSaving)
        _ = try ComponentWriter.write(directory: directory, component: component, payload: payload, compress: pays)
    }

    static func readDocumentIDs(_ reader: ComponentReader, expected: Int) throws -> [String] {
        let p = reader.payload
        let file = reader.path
        guard p.count >= 4 else { throw PlaidError.corruptIndex(file: file, detail: "too short") }
        let n = Int(p.loadUnaligned(fromByteOffset: 0, as: UInt32.self))
        guard n == expected else { throw PlaidError.corruptIndex(file: file, detail: "holds \(n) ids, metadata says \(expected) documents") }
        var ids: [String] = []
        ids.reserveCapacity(n)
        var offset = 4
        for _ in 0..<n {
            guard offset + 4 <= p.count else { throw PlaidError.corruptIndex(file: file, detail: "truncated") }
            let length = Int(p.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
            offset += 4
            guard offset + length <= p.count else { throw PlaidError.corruptIndex(file: file, detail: "truncated") }
            ids.append(String(decoding: UnsafeRawBufferPointer(rebasing: p[offset..<offset + length]), as: UTF8.self))
            offset += length
        }
        return ids
    }
}

/// Creates a directory atomically: the contents are written into a hidden temporary directory
/// beside the target, flushed, and renamed into place. A build that fails removes its temporary
/// directory; one that is killed leaves only a hidden `.NAME.building-PID` directory, which the
/// next build at that path removes. The target is never seen half-written, and an existing
/// target is replaced (with `overwrite`) only after the new one is complete.
public enum AtomicDirectory {
    public static func create<R>(at path: String, overwrite: Bool, _ body: (String) throws -> R) throws -> R {
        let fm = FileManager.default
        let target = (path as NSString).standardizingPath
        let parent = (target as NSString).deletingLastPathComponent
        let name = (target as NSString).lastPathComponent
        restoreInterruptedReplacement(parent: parent.isEmpty ? "." : parent, name: name)
        try checkReplaceable(path, overwrite: overwrite)
        if !parent.isEmpty && !fm.fileExists(atPath: parent) {
            try fm.createDirectory(atPath: parent, withIntermediateDirectories: true)
        }
        removeStaleTemporaries(parent: parent.isEmpty ? "." : parent, name: name)
        let temporary = ((parent.isEmpty ? "." : parent) as NSString).appendingPathComponent(".\(name).building-\(getpid())")
        try? fm.removeItem(atPath: temporary)
        try fm.createDirectory(atPath: temporary, withIntermediateDirectories: false)
        do {
            let result = try body(temporary)
            syncDirectory(temporary)
            if fm.fileExists(atPath: target) {
                // Move the old index aside first so that the rename of the new one cannot fail on
                // a non-empty directory; it is deleted only once the new one is in place.
                let old = ((parent.isEmpty ? "." : parent) as NSString).appendingPathComponent(".\(name).replaced-\(getpid())")
                try? fm.removeItem(atPath: old)
                guard rename(target, old) == 0 else { throw PlaidError.io(path: target, detail: "cannot move the existing index aside: \(String(cString: strerror(errno)))") }
                guard rename(temporary, target) == 0 else {
                    _ = rename(old, target)
                    throw PlaidError.io(path: target, detail: "cannot move the new index into place: \(String(cString: strerror(errno)))")
                }
                try? fm.removeItem(atPath: old)
            } else {
                guard rename(temporary, target) == 0 else {
                    throw PlaidError.io(path: target, detail: "cannot move the new index into place: \(String(cString: strerror(errno)))")
                }
            }
            syncDirectory(parent.isEmpty ? "." : parent)
            return result
        } catch {
            try? fm.removeItem(atPath: temporary)
            throw error
        }
    }

    /// Refuses a target that exists unless `overwrite` is set, and refuses to replace anything
    /// but a plaid index or an empty directory even then.
    public static func checkReplaceable(_ path: String, overwrite: Bool) throws {
        let fm = FileManager.default
        let target = (path as NSString).standardizingPath
        var isDirectory: ObjCBool = false
        if fm.fileExists(atPath: target, isDirectory: &isDirectory) {
            guard overwrite else {
                throw PlaidError.refused("an index already exists at \(path); pass --overwrite to replace it")
            }
            // --overwrite replaces an index (or an empty directory), never a folder of other data.
            let contents = (try? fm.contentsOfDirectory(atPath: target)) ?? []
            let isIndex = contents.contains(IndexComponent.metadata.fileName)
            guard isDirectory.boolValue && (isIndex || contents.isEmpty) else {
                throw PlaidError.refused("\(path) exists and is not a plaid index; --overwrite only replaces an index. Choose another --index path")
            }
        }
    }

    /// A build killed between moving the old index aside and moving the new one in leaves no
    /// index at the target and the old one in `.NAME.replaced-PID`: put it back.
    static func restoreInterruptedReplacement(parent: String, name: String) {
        let target = (parent as NSString).appendingPathComponent(name)
        guard !FileManager.default.fileExists(atPath: target),
              let entries = try? FileManager.default.contentsOfDirectory(atPath: parent) else { return }
        let prefix = ".\(name).replaced-"
        for entry in entries.sorted() where entry.hasPrefix(prefix) {
            guard let pid = Int32(entry.dropFirst(prefix.count)), kill(pid, 0) != 0 && errno == ESRCH else { continue }
            if rename((parent as NSString).appendingPathComponent(entry), target) == 0 { return }
        }
    }

    /// Hidden directories a build of NAME makes beside it, each ending in the builder's pid.
    static let temporarySuffixes = ["building", "replaced", "embeddings"]

    /// Removes `.NAME.building-PID`, `.NAME.replaced-PID` and `.NAME.embeddings-PID` directories
    /// whose process no longer exists.
    static func removeStaleTemporaries(parent: String, name: String) {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: parent) else { return }
        for suffix in temporarySuffixes {
            let prefix = ".\(name).\(suffix)-"
            for entry in entries where entry.hasPrefix(prefix) {
                guard let pid = Int32(entry.dropFirst(prefix.count)) else { continue }
                // Only ESRCH means the process is gone; EPERM is a live process of another user.
                if pid == getpid() || (kill(pid, 0) != 0 && errno == ESRCH) {
                    try? FileManager.default.removeItem(atPath: (parent as NSString).appendingPathComponent(entry))
                }
            }
        }
    }

    static func syncDirectory(_ path: String) {
        let fd = open(path, O_RDONLY)
        if fd >= 0 { fsync(fd); close(fd) }
    }
}
