import Foundation
import CSystemCalls
import PlaidCore

/// What a segment built apart from any index holds and what it was coded with: the file
/// `segment.plaid` in its directory (`plaid segment build`). It is written last, once every other
/// file is complete and flushed, so a directory without it is a segment whose build was stopped.
public struct SegmentDescriptor: Codable, Equatable, Sendable {
    public static let formatVersion = 1

    public var formatVersion: Int
    /// `Codebook.identity` of the codebook the segment was coded with, over `segment.listCount` centroids.
    public var codebookIdentity: String
    public var dim: Int
    public var nbits: Int
    /// The model the vectors came from, when known.
    public var model: ModelIdentity?
    /// Whether the segment stores its documents' text (`text.sqlite`), and how; it must be the index's.
    public var storedText: StoredTextSettings?
    /// The segment's files as a manifest records them (its name is given when it is attached),
    /// with its tokens beyond the codebook's outlier distance (`outlierTokens`).
    public var segment: SegmentInfo
    public var writtenBy: String

    /// The largest descriptor a reader accepts (its metadata fields are bounded by `MetadataSchema.maxFields`).
    static let maximumBytes = 16 << 20

    /// Reads the descriptor of the segment directory `directory`, refusing a directory that is
    /// not a segment, one whose build did not finish, and a damaged descriptor.
    public static func read(directory: String) throws -> SegmentDescriptor {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw PlaidError.invalidArgument("\(directory) is not a directory; give the directory plaid segment build wrote")
        }
        let file = (directory as NSString).appendingPathComponent(IndexComponent.segmentDescriptor.fileName)
        guard FileManager.default.fileExists(atPath: file) else {
            let incomplete = SegmentDirectory.holdsOnlySegmentFiles(directory) && !SegmentDirectory.isEmpty(directory)
            throw PlaidError.refused(incomplete
                ? "\(directory) is an incomplete segment: it has no \(IndexComponent.segmentDescriptor.fileName), which plaid segment build writes last, so its build was stopped; build it again with --overwrite"
                : "\(directory) is not a segment: it has no \(IndexComponent.segmentDescriptor.fileName); give the directory plaid segment build wrote")
        }
        let reader = try ComponentReader(path: file, component: .segmentDescriptor, size: .atMost(maximumBytes), verifyChecksum: true)
        guard let descriptor = try? JSONDecoder().decode(SegmentDescriptor.self, from: Data(reader.payload)),
              descriptor.formatVersion == formatVersion else {
            throw PlaidError.corruptIndex(file: file, detail: "is not a segment description of format version \(formatVersion)")
        }
        return descriptor
    }

    /// Writes the descriptor into `directory` and flushes it and the directory.
    func write(directory: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        _ = try ComponentWriter.write(directory: directory, component: .segmentDescriptor, payload: Array(try encoder.encode(self)),
                                      compress: false)
        AtomicDirectory.syncDirectory(directory)
    }
}

/// The rules for the directory a segment is built into.
enum SegmentDirectory {
    /// Whether every entry of `directory` is a file a segment build writes, so that removing it
    /// (`--overwrite`) cannot take anything plaid did not write: regular files only (no folder, no
    /// link), components (`.plaid`) that begin with the component magic number, SQLite databases
    /// that begin with SQLite's, and SQLite's and plaid's scratch files. A file cut short before
    /// its header (a killed build) may also be empty.
    static func holdsOnlySegmentFiles(_ directory: String) -> Bool {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return false }
        return entries.allSatisfy { entry in
            let path = (directory as NSString).appendingPathComponent(entry)
            guard let attributes = try? FileManager.default.attributesOfItem(atPath: path),
                  attributes[.type] as? FileAttributeType == .typeRegular else { return false }
            if [".scratch", ".sqlite-journal", ".sqlite-wal", ".sqlite-shm"].contains(where: { entry.hasSuffix($0) }) { return true }
            let magic: [UInt8]
            if entry.hasSuffix(".plaid") {
                magic = Array("PLAIDIDX".utf8)
            } else if entry.hasSuffix(".sqlite") {
                magic = Array("SQLite format 3\u{0}".utf8)
            } else {
                return false
            }
            guard let handle = FileHandle(forReadingAtPath: path) else { return false }
            defer { try? handle.close() }
            let start = (try? handle.read(upToCount: magic.count)) ?? Data()
            return start.isEmpty || Array(start) == magic
        }
    }

    static func isEmpty(_ directory: String) -> Bool {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).isEmpty
    }

    /// Puts the complete segment `temporary` at `target`: one rename, or with `overwrite` an
    /// exchange with the segment there (whose files then go with `temporary`), checked again first.
    static func moveIntoPlace(_ temporary: String, at target: String, overwrite: Bool) throws {
        try checkWritable(target, overwrite: overwrite)
        if FileManager.default.fileExists(atPath: target) {
            // Where paths cannot be exchanged (NFS), the old segment moves aside first and is put
            // back by the next build if this one dies between the two renames.
            if plaid_rename_exchange(temporary, target) != 0 {
                try AtomicDirectory.replaceWithTwoRenames(target: target, temporary: temporary)
            }
        } else {
            guard rename(temporary, target) == 0 else {
                throw PlaidError.io(path: target, detail: "cannot move the new segment into place: \(String(cString: strerror(errno)))")
            }
        }
        AtomicDirectory.syncDirectory(AtomicDirectory.location(of: target).parent)
    }

    /// Refuses to build over something at `path`: an empty directory is used, a segment (complete
    /// or not) is replaced only with `overwrite`, and anything else never.
    static func checkWritable(_ path: String, overwrite: Bool) throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { return }
        guard isDirectory.boolValue, holdsOnlySegmentFiles(path) else {
            throw PlaidError.refused("\(path) exists and is not a segment directory; plaid will not replace it. Choose another --output")
        }
        if isEmpty(path) || overwrite { return }
        let complete = FileManager.default.fileExists(atPath: (path as NSString).appendingPathComponent(IndexComponent.segmentDescriptor.fileName))
        throw PlaidError.refused(complete
            ? "\(path) already holds a segment; pass --overwrite to replace it"
            : "\(path) holds an incomplete segment (its build was stopped); pass --overwrite to build it again")
    }
}
