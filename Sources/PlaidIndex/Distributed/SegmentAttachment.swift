import Foundation
import PlaidCore

/// What `IndexWriter.attach` did.
public struct AttachSummary: Sendable {
    public var segments: Int
    public var documents: Int
    public var tokens: Int
    /// Live documents of the same ids that the segments replaced (upsert).
    public var replaced: Int
    /// Tokens of the segments farther from every centroid than the codebook's outlier distance:
    /// coded all the same, since attached segments never grow the codebook.
    public var outlierTokens: Int
}

/// A segment directory (`SharedCodebook.buildSegment`) checked against the index it is to join:
/// complete, undamaged (every checksum), coded with the index's codebook, of its dimension,
/// model, bits and text settings, and with ids unique within it.
struct AttachableSegment {
    let directory: String
    let descriptor: SegmentDescriptor
    let ids: [String]
    let lengths: [Int]

    init(directory: String, indexPath: String, codebook: Codebook, centroids: [Float], storedText: StoredTextSettings?) throws {
        self.directory = directory
        let d = try AttachableSegment.undamaged(directory) { try SegmentDescriptor.read(directory: directory) }
        descriptor = d
        guard d.dim == codebook.dim else {
            throw PlaidError.refused("\(directory) holds vectors of dimension \(d.dim) but the index at \(indexPath) has dimension \(codebook.dim); build the segment with this index's codebook")
        }
        if let theirs = d.model, let ours = codebook.model, !theirs.isSameModel(as: ours) {
            throw PlaidError.refused("\(directory) was encoded with the model \(theirs.summary) but the index at \(indexPath) holds \(ours.summary); encode with the index's model")
        }
        let listCount = d.segment.listCount
        guard d.nbits == codebook.nbits, listCount >= 1, listCount <= codebook.centroidCount,
              codebook.identity(centroids: centroids, listCount: listCount) == d.codebookIdentity else {
            throw PlaidError.refused("\(directory) was coded with another codebook (\(d.codebookIdentity), \(listCount) centroids, \(d.nbits) bits) than the index at \(indexPath) has (\(codebook.centroidCount) centroids, \(codebook.nbits) bits); build it with plaid segment build --codebook naming this index's codebook")
        }
        guard d.storedText == storedText else {
            let theirs = d.storedText.map { "stores text (\($0.tokenizer))" } ?? "stores no text"
            let ours = storedText.map { "stores text (\($0.tokenizer))" } ?? "stores none"
            throw PlaidError.refused("\(directory) \(theirs) but the index at \(indexPath) \(ours); build the segment with the index's codebook, which records its text settings")
        }
        if let problem = d.segment.countProblem() {
            throw PlaidError.corruptIndex(file: directory, detail: "its description is impossible (\(problem)); build it again with --overwrite")
        }
        guard d.segment.deletedDocuments == 0, d.segment.deletedTokens == 0, d.segment.deletionsFile == nil else {
            throw PlaidError.corruptIndex(file: directory, detail: "its description names deleted documents, which a new segment never has; build it again with --overwrite")
        }
        let segment = try AttachableSegment.undamaged(directory) {
            try Segment(directory: directory, info: d.segment, bytesPerVector: d.dim * d.nbits / 8, verifyChecksums: true)
        }
        ids = segment.documentIDs
        lengths = segment.documentLengths
        try EmbeddingsLayout.checkUnique(ids, file: directory)
    }
}

extension AttachableSegment {
    /// `open()`, with a damaged file reported as the segment's damage and its remedy (a reader's
    /// message would say to rebuild the index).
    static func undamaged<T>(_ directory: String, _ open: () throws -> T) throws -> T {
        do {
            return try open()
        } catch let PlaidError.corruptIndex(file, detail) {
            let what = detail.replacingOccurrences(of: ". Rebuild the index with this version of plaid", with: "")
                .replacingOccurrences(of: ". Rebuild the index", with: "")
            throw PlaidError.refused("\(directory) is damaged: \(file) \(what); build the segment again with --overwrite")
        }
    }
}

extension SegmentDirectory {
    /// Makes `target` hold the files of the segment directory `source` that `info` names: hard links where both lie
    /// on one file system (segment files are never changed in place, so they can be shared), copies
    /// otherwise, flushed either way. `source` is left as it was. `target` is registered as staging
    /// (`StagingFiles`) until a commit names it.
    static func linkOrCopy(_ source: String, to target: String, info: SegmentInfo) throws {
        let fm = FileManager.default
        try? fm.removeItem(atPath: target)
        try fm.createDirectory(atPath: target, withIntermediateDirectories: false)
        StagingFiles.register(target)
        // The files the segment's record names, and no stray scratch or journal file beside them.
        let files = IndexComponent.segmentComponents.map(\.fileName) + [IndexComponent.segmentDescriptor.fileName]
            + [info.metadataFile, info.textFile].compactMap { $0 }
        for entry in files {
            let from = (source as NSString).appendingPathComponent(entry), to = (target as NSString).appendingPathComponent(entry)
            if link(from, to) == 0 { continue }
            do {
                try fm.copyItem(atPath: from, toPath: to)
            } catch {
                throw PlaidError.io(path: to, detail: "cannot copy \(from) into the index: \(error.localizedDescription)")
            }
            let fd = open(to, O_RDONLY)
            if fd >= 0 { fsync(fd); close(fd) }
        }
        AtomicDirectory.syncDirectory(target)
    }
}
