import Foundation
import PlaidCore
import PlaidKernels

/// An index opened for search at one commit: a snapshot. It holds the codebook (centroids,
/// residual codec) and the live segments with their deletions as the manifest named them when
/// the index was opened. Later commits do not change it: its files stay mapped even after a
/// compaction removes them from the directory. Open a new `CompressedIndex` to see later commits.
///
/// Documents are numbered by *ordinal* within a snapshot: segment after segment in manifest
/// order, deleted documents included, so ordinals keep the order a compaction would give them.
/// Ordinals are internal and change with compaction; ids are the user's and never change.
public final class CompressedIndex: @unchecked Sendable {
    public let path: String
    public let manifest: Manifest
    /// 1 for an index written by a version-1 plaid (read as one segment, upgraded by the first
    /// write), 2 otherwise.
    public let formatVersion: Int
    public let quantizer: CoarseQuantizer
    public let codec: ResidualCodec
    public let decoder: ResidualDecoder
    public let segments: [Segment]
    /// segmentBases[s] is segment s's first ordinal; the last entry is the ordinal count.
    public let segmentBases: [Int]
    /// Bytes of every file of the snapshot.
    public let bytesOnDisk: Int
    /// The centroids' groups where the codebook records them (`Codebook.centroidGroupEnds`):
    /// then stage 1 scores only each query token's best groups.
    public let searchGroups: CentroidSearchGroups?

    public var codebook: Codebook { manifest.codebook }
    public var dim: Int { codebook.dim }
    public var generation: Int { manifest.generation }
    /// Live documents.
    public var documentCount: Int { manifest.documentCount }
    public var deletedCount: Int { manifest.deletedCount }
    /// Live tokens.
    public var tokenCount: Int { manifest.tokenCount }
    /// Ordinals in the snapshot, deleted documents included.
    public var ordinalCount: Int { segmentBases.last! }

    /// Opens the current commit of the index at `path`, checking every file's magic, version,
    /// size and (by default) checksum; a damaged or foreign file is reported by name. A commit
    /// that lands while the files are being opened (and removes files of the old one) makes the
    /// open start again on the new manifest: a reader never waits for a writer.
    ///
    /// `reusing`: an earlier snapshot of the same index, whose centroids and segments the new
    /// commit still names are taken as they are (they are immutable) instead of being read again,
    /// so that following a writer's commits costs what the commits changed.
    public init(path: String, verifyChecksums: Bool = true, reusing previous: CompressedIndex? = nil) throws {
        self.path = path
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw PlaidError.noIndex(path: path)
        }
        guard isDirectory.boolValue else {
            throw PlaidError.invalidArgument("\(path) is a file, not an index directory; pass the directory `plaid build` wrote")
        }
        var attempt = 0
        while true {
            attempt += 1
            let (manifest, version) = try CompressedIndex.readCommit(path: path, verifyChecksums: verifyChecksums)
            do {
                let opened = try CompressedIndex.openFiles(path: path, manifest: manifest, version: version, verifyChecksums: verifyChecksums,
                                                           reusing: previous?.path == path ? previous : nil)
                self.manifest = manifest
                formatVersion = version
                (quantizer, codec, segments, bytesOnDisk) = opened
                decoder = ResidualDecoder(codec: codec, quantizer: quantizer)
                let reusable = previous?.path == path && previous?.codebook == manifest.codebook ? previous?.searchGroups : nil
                searchGroups = manifest.codebook.centroidGroupEnds.map { ends in
                    reusable ?? CentroidSearchGroups(centroids: opened.0.centroids, dim: manifest.codebook.dim, ends: ends)
                }
                var bases = [0]
                for s in segments { bases.append(bases.last! + s.documentCount) }
                segmentBases = bases
                return
            } catch {
                // A writer may have committed and collected the old commit's files meanwhile.
                let current = try? CompressedIndex.readCommit(path: path, verifyChecksums: verifyChecksums)
                guard attempt < 10, let current, current.0.generation != manifest.generation else { throw error }
            }
        }
    }

    /// The manifest of the current commit, or one made from a version-1 index's metadata.
    static func readCommit(path: String, verifyChecksums: Bool) throws -> (Manifest, Int) {
        let manifestPath = (path as NSString).appendingPathComponent(IndexComponent.manifest.fileName)
        if FileManager.default.fileExists(atPath: manifestPath) {
            return (try Manifest.read(path: manifestPath, verifyChecksum: verifyChecksums), 2)
        }
        let metadataPath = (path as NSString).appendingPathComponent(IndexComponent.metadata.fileName)
        guard FileManager.default.fileExists(atPath: metadataPath) else {
            throw PlaidError.invalidArgument("\(path) is not a plaid index: it holds neither \(IndexComponent.manifest.fileName) nor a version-1 \(IndexComponent.metadata.fileName). Pass the directory `plaid build` wrote")
        }
        let reader = try ComponentReader(path: metadataPath, component: .metadata, size: .atMost(Manifest.maximumBytes), verifyChecksum: verifyChecksums)
        guard let m = try? JSONDecoder().decode(IndexMetadata.self, from: Data(reader.payload)) else {
            throw PlaidError.corruptIndex(file: metadataPath, detail: "the metadata is not valid JSON of format version 1")
        }
        guard m.centroidCount > 0, m.documentCount >= 0, m.tokenCount >= 0 else {
            throw PlaidError.corruptIndex(file: metadataPath, detail: "the metadata fields are inconsistent (\(m.centroidCount) centroids, \(m.documentCount) documents)")
        }
        let segment = SegmentInfo(name: "", documentCount: m.documentCount, tokenCount: m.tokenCount, listCount: m.centroidCount,
                                  codeWidth: m.codeWidth, deletionsFile: nil, deletedDocuments: 0, deletedTokens: 0,
                                  metadataFile: nil, metadataChecksum: nil, metadataFields: [])
        let manifest = Manifest(formatVersion: Manifest.formatVersion, generation: 0, codebook: Codebook(version1: m),
                                segments: [segment], nextSegmentNumber: 0, metadataFields: [], writtenBy: m.createdBy)
        return (manifest, 1)
    }

    private static func openFiles(path: String, manifest: Manifest, version: Int, verifyChecksums: Bool, reusing previous: CompressedIndex?) throws
        -> (CoarseQuantizer, ResidualCodec, [Segment], Int) {
        let book = manifest.codebook
        let buckets = 1 << max(0, min(book.nbits, 8))
        let manifestFile = (path as NSString).appendingPathComponent(version == 2 ? IndexComponent.manifest.fileName : IndexComponent.metadata.fileName)
        let trainedOrEmpty = book.isTrained ? book.bucketCutoffs.count == buckets - 1 && book.bucketWeights.count == buckets
                                            : manifest.segments.isEmpty && book.centroidCount == 0
        guard (8...IndexBuilder.maximumDimension).contains(book.dim), book.dim % 8 == 0, ResidualCodec.supportedBits.contains(book.nbits), trainedOrEmpty,
              (0...(1 << 32)).contains(book.centroidCount),
              manifest.segments.allSatisfy({ $0.listCount <= book.centroidCount }),
              book.centroidGroupEnds.map({ CentroidSearchGroups.isValid(ends: $0, trained: book.trainedCentroidCount,
                                                                        centroidCount: book.centroidCount) }) ?? true else {
            throw PlaidError.corruptIndex(file: manifestFile, detail: "the codebook fields are inconsistent (dim \(book.dim), nbits \(book.nbits), \(book.centroidCount) centroids, \(book.trainedCentroidCount) trained, \(book.centroidGroupEnds?.count ?? 0) groups)")
        }
        let quantizer: CoarseQuantizer
        if let previous, previous.formatVersion == version, previous.codebook == book {
            quantizer = previous.quantizer
        } else {
            let centroidsPath = (path as NSString).appendingPathComponent(book.centroidsFile)
            quantizer = CoarseQuantizer(centroids: try IndexStorage.readCentroids(path: centroidsPath, count: book.centroidCount, dim: book.dim,
                                                                                  verifyChecksum: verifyChecksums), dim: book.dim)
        }
        let codec = book.isTrained ? ResidualCodec(dim: book.dim, nbits: book.nbits, cutoffs: book.bucketCutoffs, weights: book.bucketWeights)
                                   : ResidualCodec.untrained(dim: book.dim, nbits: book.nbits)
        let reusable = previous?.formatVersion == version ? previous?.segments ?? [] : []
        let segments = try manifest.segments.map { info in
            try reusable.first { $0.info == info } ?? Segment(directory: (path as NSString).appendingPathComponent(info.name), info: info,
                                                              bytesPerVector: codec.bytesPerVector, verifyChecksums: verifyChecksums)
        }
        var bytes = segments.reduce(0) { $0 + $1.bytesOnDisk }
        for file in [book.centroidsFile, version == 2 ? IndexComponent.manifest.fileName : IndexComponent.metadata.fileName] {
            bytes += (try? FileManager.default.attributesOfItem(atPath: (path as NSString).appendingPathComponent(file))[.size] as? Int) ?? 0
        }
        return (quantizer, codec, segments, bytes)
    }

    static func largestCode(_ payload: UnsafeRawBufferPointer, width: Int) -> Int {
        var largest = 0
        switch width {
        case 1: for b in payload { largest = max(largest, Int(b)) }
        case 2: for i in 0..<payload.count / 2 { largest = max(largest, Int(payload.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))) }
        default: for i in 0..<payload.count / 4 { largest = max(largest, Int(payload.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self))) }
        }
        return largest
    }

    /// The segment holding `ordinal` and the document's number within it.
    @inline(__always)
    public func locate(_ ordinal: Int) -> (segment: Int, local: Int) {
        var lo = 0, hi = segments.count - 1
        while lo < hi {
            let mid = (lo + hi + 1) / 2
            if segmentBases[mid] <= ordinal { lo = mid } else { hi = mid - 1 }
        }
        return (lo, ordinal - segmentBases[lo])
    }

    /// The documents at `ordinals` as the kernels read them (their packed residuals too, with
    /// `residuals`). The segment is looked up again only where an ordinal leaves the previous
    /// one's: stage 2 lays out thousands of documents a query, and a lookup and a segment
    /// reference per document cost more than its kernel's work on some of them. The offsets of
    /// the document `lookupAhead` ordinals on are asked for meanwhile: the documents lie far
    /// apart in a large index, and each offset was otherwise a miss that the loop waited on.
    func lookupDocuments(_ ordinals: [Int], residuals: Bool) -> [plaid_lookup_document] {
        guard !segments.isEmpty else { return [] }
        let lookupAhead = 16
        return [plaid_lookup_document](unsafeUninitializedCapacity: ordinals.count) { documents, count in
            var s = 0, low = 0, high = segmentBases[1]  // the ordinals of segment s
            for (i, ordinal) in ordinals.enumerated() {
                if ordinal < low || ordinal >= high {
                    s = locate(ordinal).segment
                    low = segmentBases[s]
                    high = segmentBases[s + 1]
                }
                if i + lookupAhead < ordinals.count {
                    let later = ordinals[i + lookupAhead]
                    if later >= low && later < high { segments[s].prefetchLookup(ofDocument: later - low) }
                }
                (documents.baseAddress! + i).initialize(to: segments[s].lookupDocument(ordinal - low, residuals: residuals))
            }
            count = ordinals.count
        }
    }

    /// Starts bringing the codes of the document at `ordinal` into cache without waiting for
    /// them (the centroid interaction asks for a later candidate's while it scores the current
    /// one; stage 4's kernel prefetches residuals itself).
    @inline(__always)
    public func prefetchCodes(ofDocument ordinal: Int) {
        let (segmentNumber, d) = locate(ordinal)
        let segment = segments[segmentNumber]
        plaid_prefetch(segment.codes(ofDocument: d), segment.documentLengths[d] * segment.info.codeWidth)
    }

    /// The id of the document at `ordinal`.
    public func documentID(_ ordinal: Int) -> String {
        let (s, d) = locate(ordinal)
        return segments[s].documentIDs[d]
    }

    /// The number of vectors of the document at `ordinal`.
    public func documentLength(_ ordinal: Int) -> Int {
        let (s, d) = locate(ordinal)
        return segments[s].documentLengths[d]
    }

    public func isDeleted(_ ordinal: Int) -> Bool {
        let (s, d) = locate(ordinal)
        return segments[s].isDeleted(d)
    }

    /// Ids of the live documents, in ordinal order.
    public var liveDocumentIDs: [String] {
        var ids: [String] = []
        ids.reserveCapacity(documentCount)
        for segment in segments {
            for d in 0..<segment.documentCount where !segment.isDeleted(d) { ids.append(segment.documentIDs[d]) }
        }
        return ids
    }

    /// The metadata fields of the index.
    public var metadataFields: [MetadataField] { manifest.metadataFields }

    /// The live documents whose metadata matches `filter`. Errors (an unknown field, a syntax
    /// error, anything but reading, more than the filter's time limit, a document number the
    /// segment does not have) are one sentence naming the field or the position.
    public func documents(matching filter: MetadataFilter) throws -> DocumentFilter {
        var allowed = [UInt64](repeating: 0, count: (ordinalCount + 63) / 64)
        var ordinals: [Int] = [], tokens = 0
        let clock = try FilterClock(timeLimit: filter.timeLimit)
        for (s, segment) in segments.enumerated() {
            let matches: [Int]
            if let metadata = segment.metadata {
                matches = try metadata.matching(filter, schema: metadataFields, clock: clock)
            } else {
                // A version-1 segment has no metadata: the filter sees its ids only.
                matches = try SegmentMetadata.matchingIDs(segment.documentIDs, filter, schema: metadataFields, clock: clock)
            }
            // SQLite's row numbers are checked, never trusted: a number outside the segment is an error.
            if let stray = matches.first(where: { !(0..<segment.documentCount).contains($0) }) {
                throw PlaidError.invalidArgument("the filter gave document number \(stray), which segment \(segment.info.name) does not have (it has \(segment.documentCount) documents); a filter must be one expression about a document, and if it is, the segment's metadata.sqlite is damaged and the index must be rebuilt")
            }
            for d in matches where !segment.isDeleted(d) {
                let ordinal = segmentBases[s] + d
                allowed[ordinal >> 6] |= 1 << UInt64(ordinal & 63)
                ordinals.append(ordinal)
                tokens += segment.documentLengths[d]
            }
        }
        ordinals.sort()
        return DocumentFilter(allowed: allowed, count: ordinals.count, tokens: tokens, ordinals: ordinals)
    }

    /// The metadata of the documents at `ordinals` (fields that are null are left out).
    public func metadata(of ordinals: [Int]) throws -> [Int: [String: MetadataValue]] {
        var bySegment: [Int: [Int]] = [:]
        for ordinal in ordinals { let (s, d) = locate(ordinal); bySegment[s, default: []].append(d) }
        var out: [Int: [String: MetadataValue]] = [:]
        for (s, documents) in bySegment {
            guard let metadata = segments[s].metadata else { continue }
            for (d, fields) in try metadata.rows(documents) { out[segmentBases[s] + d] = fields }
        }
        return out
    }

    /// Decodes the token vectors ([length, dim]) of the document at `ordinal`.
    public func reconstruct(document ordinal: Int) -> [Float] {
        let (s, d) = locate(ordinal)
        let segment = segments[s]
        let n = segment.documentLengths[d]
        var out = [Float](repeating: 0, count: n * dim)
        out.withUnsafeMutableBufferPointer {
            decoder.decode(packed: segment.residuals(ofDocument: d), codes: segment.codes(ofDocument: d),
                           codeWidth: segment.info.codeWidth, count: n, into: $0.baseAddress!)
        }
        return out
    }
}

extension CompressedIndex {
    /// What identifies the index's current commit on disk without reading it: the manifest's
    /// inode, size and modification time (each commit renames a new manifest into place). Nil
    /// without a manifest (a version-1 index). A reader that compares stamps sees another
    /// process's commits at the cost of one `stat`.
    public static func commitStamp(ofIndexAt indexPath: String) -> String? {
        var info = stat()
        guard stat((indexPath as NSString).appendingPathComponent(IndexComponent.manifest.fileName), &info) == 0 else { return nil }
        return "\(info.st_ino)-\(info.st_size)-\(info.st_mtim.tv_sec)-\(info.st_mtim.tv_nsec)"
    }
}
