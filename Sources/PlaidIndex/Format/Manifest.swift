import Foundation
import PlaidCore

/// One immutable segment as the manifest records it. Its files live in the directory `name`
/// (the index directory itself for a version-1 index).
public struct SegmentInfo: Codable, Equatable, Sendable {
    public var name: String
    /// Documents written, deleted ones included.
    public var documentCount: Int
    public var tokenCount: Int
    /// Inverted lists of the segment: the codebook's size when it was written (later centroids
    /// have no documents in this segment).
    public var listCount: Int
    /// Bytes per centroid code: 1, 2 or 4, the smallest that held `listCount − 1`.
    public var codeWidth: Int
    /// The deletion bitmap in the segment directory (`deleted-G.plaid`), if any document is deleted.
    public var deletionsFile: String?
    public var deletedDocuments: Int
    public var deletedTokens: Int
    /// The metadata database in the segment directory (`metadata.sqlite`), its checksum, and the
    /// fields its table has (the index's fields when the segment was written).
    public var metadataFile: String?
    public var metadataChecksum: String?
    public var metadataFields: [MetadataField]
    /// UTF-8 bytes of the segment's ids, which fix the size of its ids file. Nil for a segment
    /// written by a plaid that did not record it.
    public var documentIDBytes: Int? = nil
    /// The stored-text database in the segment directory (`text.sqlite`) and its checksum: present
    /// in every segment of an index that stores text, absent otherwise.
    public var textFile: String? = nil
    public var textChecksum: String? = nil
    /// Tokens that lay farther than the codebook's outlier distance from every centroid when the
    /// segment was built apart (`plaid segment build`) or from a shared codebook (`plaid build
    /// --codebook`): coded all the same, since such segments never grow the codebook. Nil for
    /// segments whose additions could grow it. A merge keeps the count of its segments (in
    /// proportion to the tokens kept, for a segment with deletions).
    public var outlierTokens: Int? = nil

    /// Which count is impossible ("field 'outlierTokens' is 12; expected 0 to 10"), or nil;
    /// `tokensBefore` is the tokens of the segments before it, whose sum is bounded too.
    func countProblem(tokensBefore: Int = 0) -> String? {
        var checks = [("tokenCount", tokenCount, 0...(Manifest.largestCount - tokensBefore)),
                      ("documentCount", documentCount, 0...max(0, tokenCount)),
                      ("deletedDocuments", deletedDocuments, 0...max(0, documentCount)),
                      ("deletedTokens", deletedTokens, 0...max(0, tokenCount)),
                      ("listCount", listCount, 0...Manifest.largestCount)]
        if let outlierTokens { checks.append(("outlierTokens", outlierTokens, 0...max(0, tokenCount))) }
        if let documentIDBytes { checks.append(("documentIDBytes", documentIDBytes, 0...Manifest.largestCount)) }
        for (field, value, range) in checks where !range.contains(value) {
            return "field '\(field)' is \(value); expected \(range.lowerBound) to \(range.upperBound)"
        }
        return nil
    }

    public var liveDocuments: Int { documentCount - deletedDocuments }
    public var liveTokens: Int { tokenCount - deletedTokens }
}

/// The commit point of a version-2 index (`manifest.plaid`): which codebook and which segments,
/// with which deletions, make up the index at commit `generation`. A commit writes new files
/// only, then replaces this one file by a rename, so a reader sees the old commit or the new one.
public struct Manifest: Codable, Equatable, Sendable {
    public static let formatVersion = 2

    public var formatVersion: Int
    /// Commits made so far: 1 after `plaid build`, one more for every add, delete and compaction.
    public var generation: Int
    public var codebook: Codebook
    /// Live segments, in document order: search ties and compaction follow this order.
    public var segments: [SegmentInfo]
    /// The number the next new segment's directory takes (`seg-000042`).
    public var nextSegmentNumber: Int
    /// The metadata fields of the index, in the order they first appeared.
    public var metadataFields: [MetadataField]
    /// The plaid that made this commit.
    public var writtenBy: String
    /// How the index stores its documents' text (`--store-text`); nil when it stores none.
    public var storedText: StoredTextSettings? = nil

    public var documentCount: Int { segments.reduce(0) { $0 + $1.liveDocuments } }
    public var deletedCount: Int { segments.reduce(0) { $0 + $1.deletedDocuments } }
    public var tokenCount: Int { segments.reduce(0) { $0 + $1.liveTokens } }
    public var deletedTokenCount: Int { segments.reduce(0) { $0 + $1.deletedTokens } }
    /// Tokens of the live segments coded beyond the codebook's outlier distance without growing it
    /// (`SegmentInfo.outlierTokens`).
    public var outliersCodedWithoutGrowth: Int { segments.reduce(0) { $0 + ($1.outlierTokens ?? 0) } }
    /// Tokens stored, deleted ones included.
    public var storedTokenCount: Int { segments.reduce(0) { $0 + $1.tokenCount } }

    /// The largest manifest (or version-1 metadata file) a reader accepts: far beyond any real
    /// one, which grows with segments and fields by kilobytes.
    static let maximumBytes = 1 << 30

    static func segmentName(_ number: Int) -> String { String(format: "seg-%06d", number) }

    /// Reads and checks the manifest file at `path`.
    static func read(path: String, verifyChecksum: Bool = true) throws -> Manifest {
        let reader = try ComponentReader(path: path, component: .manifest, size: .atMost(maximumBytes), verifyChecksum: verifyChecksum)
        guard let manifest = try? JSONDecoder().decode(Manifest.self, from: Data(reader.payload)),
              manifest.formatVersion == Manifest.formatVersion else {
            throw PlaidError.corruptIndex(file: path, detail: "the manifest is not valid JSON of format version \(Manifest.formatVersion)")
        }
        try manifest.checkCounters(path: path)
        return manifest
    }

    /// The most any count or number of the manifest may be: far beyond any real index, and low
    /// enough that sums of counts and a commit's increments cannot overflow.
    static let largestCount = 1 << 53

    /// Checks what a checksum cannot: that the counters are possible, that the next segment
    /// number is above every segment's (a writer creates that directory, so a number at or below
    /// a live segment's would write over it), and that segment names are plain, distinct
    /// `seg-N` directories of the index. `remedy` ends the message.
    func checkCounters(path: String, remedy: String = "the manifest was damaged or edited: restore the index from a copy") throws {
        func refuse(_ detail: String) -> PlaidError { PlaidError.corruptIndex(file: path, detail: "\(detail); \(remedy)") }
        let fields = [("generation", generation, 0...Manifest.largestCount),
                      ("nextSegmentNumber", nextSegmentNumber, 0...Manifest.largestCount),
                      ("kmeansIterations", codebook.kmeansIterations, 0...KMeansParameters.maximumIterations),
                      ("kmeansSampleSize", codebook.kmeansSampleSize, 0...Manifest.largestCount)]
        for (field, value, range) in fields where !range.contains(value) {
            throw refuse("field '\(field)' is \(value); expected \(range.lowerBound) to \(range.upperBound)")
        }
        var names = Set<String>(), tokens = 0
        for segment in segments {
            let name = segment.name
            guard name.hasPrefix("seg-"), name.count >= 10, name.count <= 20, name.dropFirst(4).allSatisfy({ $0.isASCII && $0.isNumber }),
                  let number = Int(name.dropFirst(4)), number >= 0 else {
                throw refuse("segment name '\(name)' is not a segment directory of the index (seg- and at least six digits)")
            }
            guard names.insert(name).inserted else { throw refuse("segment name '\(name)' appears twice") }
            guard number < nextSegmentNumber else {
                throw refuse("field 'nextSegmentNumber' is \(nextSegmentNumber), not above segment '\(name)' (a new segment would be written over it)")
            }
            if let problem = segment.countProblem(tokensBefore: tokens) { throw refuse("\(problem) of segment '\(name)'") }
            tokens += segment.tokenCount
        }
    }

    /// Replaces `INDEX/manifest.plaid` atomically: the new manifest is written and flushed under a
    /// temporary name, renamed over the old one, and the directory is flushed. This rename is the commit.
    func commit(to indexDirectory: String) throws {
        let final = (indexDirectory as NSString).appendingPathComponent(IndexComponent.manifest.fileName)
        // A commit never writes what a reader would refuse (a count past its bound, from a
        // segment brought in or a counter at its limit): the index stays at its last commit.
        try checkCounters(path: final, remedy: "nothing was committed, and the index is as it was")
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        let temporary = final + ".\(generation).tmp"
        StagingFiles.register(temporary)
        _ = try ComponentWriter.write(path: temporary, component: .manifest, payload: Array(try encoder.encode(self)), compress: false)
        // Every file the manifest names is final from here: an interruption must not remove them.
        for segment in segments { StagingFiles.unregister((indexDirectory as NSString).appendingPathComponent(segment.name)) }
        StagingFiles.unregister(temporary)
        guard rename(temporary, final) == 0 else {
            let reason = String(cString: strerror(errno))
            try? FileManager.default.removeItem(atPath: temporary)
            throw PlaidError.io(path: final, detail: "cannot commit the new manifest: \(reason)")
        }
        AtomicDirectory.syncDirectory(indexDirectory)
    }
}
