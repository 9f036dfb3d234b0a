import Foundation
import PlaidCore
import PlaidKernels

/// One immutable segment opened for search: its documents' ids and lengths in memory, their
/// centroid codes, residuals and inverted lists used in place through memory maps, and the
/// deletion bitmap of the commit it was opened at.
///
/// Shapes: codes `[tokenCount]` of `info.codeWidth` bytes; residuals `[tokenCount, dim·nbits/8]`;
/// `listCount` inverted lists of local document numbers; deletions one bit per document.
public final class Segment: @unchecked Sendable {
    public let info: SegmentInfo
    public let directory: String
    public let documentIDs: [String]
    public let documentLengths: [Int]
    /// offsets[d] is local document d's first token; offsets[documentCount] is the token count.
    public let documentOffsets: [Int]
    public let invertedLists: InvertedLists
    public let bytesOnDisk: Int
    /// The segment's metadata database (nil for a version-1 index, which had none).
    let metadata: SegmentMetadata?
    /// The segment's stored text (nil when the index stores none).
    let text: SegmentText?
    let codes: ComponentReader
    /// The codes, in huge pages when they are `residentCodesMinimumBytes` or more (their map's
    /// pages then dropped): stage 2 reads the codes of thousands of documents spread over the
    /// file per query, and through 4 KiB pages of a map most of those reads also missed the TLB
    /// (docs/benchmarks.md, "Search and coding at 100M tokens on a Zen 2"). Nil: read in place
    /// through the map.
    let residentCodes: HugePageCopy?
    /// Whether the codes lie on huge pages (their copy, where the kernel gives them).
    var codesOnHugePages: Bool { residentCodes != nil && HugePageCopy.kernelGivesHugePages }
    private let codeBytes: UnsafeRawPointer
    /// Codes of fewer bytes stay in the map (32 MiB: 8.4M tokens of 4-byte codes, past 65,536 centroids).
    nonisolated(unsafe) static var residentCodesMinimumBytes = 32 << 20
    let residuals: ComponentReader
    private let lists: ComponentReader
    /// Bit d set: local document d is deleted. Empty when nothing is deleted.
    let deleted: [UInt64]
    private let bytesPerVector: Int

    public var documentCount: Int { info.documentCount }
    public var liveDocumentCount: Int { info.liveDocuments }

    /// Opens the segment in `directory` and checks each file against `info` and the codebook:
    /// sizes, inverted lists, that no code names a centroid beyond `info.listCount`, and that the
    /// deletion bitmap counts `info.deletedDocuments` documents and `info.deletedTokens` tokens.
    init(directory: String, info: SegmentInfo, bytesPerVector: Int, verifyChecksums: Bool) throws {
        self.info = info
        self.directory = directory
        self.bytesPerVector = bytesPerVector
        func path(_ c: IndexComponent) -> String { (directory as NSString).appendingPathComponent(c.fileName) }
        func open(_ c: IndexComponent, _ size: PayloadSize) throws -> ComponentReader {
            try ComponentReader(path: path(c), component: c, size: size, verifyChecksum: verifyChecksums)
        }
        let n = info.documentCount
        // Bounded first, so that the sizes below cannot overflow on a damaged or crafted manifest.
        guard (0...(1 << 40)).contains(n), (0...(1 << 44)).contains(info.tokenCount), (1...(1 << 32)).contains(info.listCount),
              info.codeWidth == IndexMetadata.codeWidth(forCentroids: info.listCount) else {
            throw PlaidError.corruptIndex(file: directory, detail: "the manifest's record of this segment is inconsistent (\(n) documents, \(info.listCount) lists, code width \(info.codeWidth))")
        }
        let lengthReader = try open(.documentLengths, .exactly(n * 4))
        try Segment.expect(lengthReader, bytes: n * 4)
        documentLengths = (0..<n).map { Int(lengthReader.payload.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self)) }
        var offsets = [0]
        offsets.reserveCapacity(n + 1)
        for length in documentLengths { offsets.append(offsets.last! + length) }
        documentOffsets = offsets
        guard offsets.last! == info.tokenCount else {
            throw PlaidError.corruptIndex(file: path(.documentLengths), detail: "the lengths add up to \(offsets.last!) tokens, the manifest says \(info.tokenCount)")
        }
        documentIDs = try IndexStorage.readDocumentIDs(try open(.documentIDs, IndexStorage.documentIDsSize(info)), expected: n)
        codes = try open(.codes, .exactly(info.tokenCount * info.codeWidth))
        try Segment.expect(codes, bytes: info.tokenCount * info.codeWidth)
        residentCodes = codes.payload.count >= Segment.residentCodesMinimumBytes ? HugePageCopy(of: codes.payload) : nil
        if residentCodes != nil { codes.dropMappedPages() }
        codeBytes = residentCodes?.bytes ?? codes.payload.baseAddress ?? UnsafeRawPointer(bitPattern: 64)!
        residuals = try open(.residuals, .exactly(info.tokenCount * bytesPerVector))
        try Segment.expect(residuals, bytes: info.tokenCount * bytesPerVector)
        lists = try open(.invertedLists, .atMost(InvertedLists.maximumBytes(listCount: info.listCount, tokens: info.tokenCount)))
        invertedLists = try InvertedLists(payload: lists.payload, listCount: info.listCount, documentCount: n, file: path(.invertedLists),
                                          checkPostings: verifyChecksums)
        // A code naming a centroid that does not exist would make search read out of bounds.
        let maxCode = CompressedIndex.largestCode(UnsafeRawBufferPointer(start: codeBytes, count: codes.payload.count), width: info.codeWidth)
        guard info.tokenCount == 0 || maxCode < info.listCount else {
            throw PlaidError.corruptIndex(file: path(.codes), detail: "holds centroid id \(maxCode) but the segment has \(info.listCount) lists")
        }
        var bytes = [codes, residuals, lists, lengthReader].reduce(0) { $0 + $1.storedBytes }
        bytes += (try? FileManager.default.attributesOfItem(atPath: path(.documentIDs))[.size] as? Int) ?? 0
        let deletions = try Segment.readDeletions(directory: directory, info: info, documentLengths: documentLengths, verifyChecksums: verifyChecksums)
        deleted = deletions.bitmap
        bytes += deletions.storedBytes
        let opened = try Segment.openMetadata(directory: directory, info: info, verifyChecksums: verifyChecksums)
        metadata = opened.metadata
        bytes += opened.storedBytes
        if let file = info.textFile {
            let textPath = (directory as NSString).appendingPathComponent(file)
            text = try SegmentText(path: textPath, expectedChecksum: info.textChecksum, documentCount: n, verifyChecksum: verifyChecksums)
            bytes += (try? FileManager.default.attributesOfItem(atPath: textPath)[.size] as? Int) ?? 0
        } else {
            text = nil
        }
        bytesOnDisk = bytes
    }

    /// Refuses a component whose payload is not the `bytes` the manifest implies.
    private static func expect(_ r: ComponentReader, bytes: Int) throws {
        guard r.payload.count == bytes else {
            throw PlaidError.corruptIndex(file: r.path, detail: "holds \(r.payload.count) payload bytes, the manifest implies \(bytes)")
        }
    }

    /// The deletion bitmap `info` names (empty when it names none) and its file's size, checked
    /// to mark exactly `info.deletedDocuments` documents of `info.deletedTokens` tokens.
    private static func readDeletions(directory: String, info: SegmentInfo, documentLengths: [Int],
                                      verifyChecksums: Bool) throws -> (bitmap: [UInt64], storedBytes: Int) {
        let n = info.documentCount
        guard let file = info.deletionsFile else {
            guard info.deletedDocuments == 0 else {
                throw PlaidError.corruptIndex(file: directory, detail: "the manifest counts \(info.deletedDocuments) deleted documents but names no deletion file")
            }
            return ([], 0)
        }
        let deletionsPath = (directory as NSString).appendingPathComponent(file)
        let reader = try ComponentReader(path: deletionsPath, component: .deletions, size: .exactly(Segment.bitmapWords(n) * 8),
                                         verifyChecksum: verifyChecksums)
        try expect(reader, bytes: Segment.bitmapWords(n) * 8)
        let deleted = (0..<Segment.bitmapWords(n)).map { reader.payload.loadUnaligned(fromByteOffset: 8 * $0, as: UInt64.self) }
        var documents = 0, tokens = 0
        for d in 0..<n where deleted[d >> 6] & (1 << UInt64(d & 63)) != 0 { documents += 1; tokens += documentLengths[d] }
        guard documents == info.deletedDocuments, tokens == info.deletedTokens else {
            throw PlaidError.corruptIndex(file: deletionsPath, detail: "marks \(documents) documents (\(tokens) tokens) deleted, the manifest says \(info.deletedDocuments) (\(info.deletedTokens))")
        }
        return (deleted, reader.storedBytes)
    }

    /// The metadata database `info` names (nil when it names none) and its file's size.
    private static func openMetadata(directory: String, info: SegmentInfo,
                                     verifyChecksums: Bool) throws -> (metadata: SegmentMetadata?, storedBytes: Int) {
        guard let file = info.metadataFile else { return (nil, 0) }
        let metadataPath = (directory as NSString).appendingPathComponent(file)
        let metadata = try SegmentMetadata(path: metadataPath, fields: info.metadataFields, expectedChecksum: info.metadataChecksum,
                                           verifyChecksum: verifyChecksums)
        return (metadata, (try? FileManager.default.attributesOfItem(atPath: metadataPath)[.size] as? Int) ?? 0)
    }

    static func bitmapWords(_ documents: Int) -> Int { (documents + 63) / 64 }

    @inline(__always)
    public func isDeleted(_ d: Int) -> Bool {
        !deleted.isEmpty && deleted[d >> 6] & (1 << UInt64(d & 63)) != 0
    }

    /// The deletion bitmap as words, for a writer to extend.
    var deletionBitmap: [UInt64] { deleted.isEmpty ? [UInt64](repeating: 0, count: Segment.bitmapWords(info.documentCount)) : deleted }

    /// Pointer to local document d's centroid codes (`info.codeWidth` bytes each).
    @inline(__always)
    func codes(ofDocument d: Int) -> UnsafeRawPointer {
        codeBytes + documentOffsets[d] * info.codeWidth
    }

    /// Local document d as the kernels read it: its codes, its packed residuals (or none), its length.
    @inline(__always)
    func lookupDocument(_ d: Int, residuals withResiduals: Bool) -> plaid_lookup_document {
        let first = documentOffsets[d]
        return plaid_lookup_document(codes: codeBytes + first * info.codeWidth,
                                     residuals: withResiduals ? residuals(ofDocument: d) : nil,
                                     tokens: documentOffsets[d + 1] - first, codeWidth: Int32(info.codeWidth))
    }

    /// The centroid of token t of local document d (codes are little-endian, `info.codeWidth` bytes).
    @inline(__always)
    func code(ofDocument d: Int, token t: Int) -> Int {
        let start = codes(ofDocument: d)
        switch info.codeWidth {
        case 1: return Int(start.load(fromByteOffset: t, as: UInt8.self))
        case 2: return Int(UInt16(littleEndian: start.loadUnaligned(fromByteOffset: 2 * t, as: UInt16.self)))
        default: return Int(UInt32(littleEndian: start.loadUnaligned(fromByteOffset: 4 * t, as: UInt32.self)))
        }
    }

    /// Asks for the line holding local document d's offset (`lookupDocument` reads it), without
    /// waiting for it.
    @inline(__always)
    func prefetchLookup(ofDocument d: Int) {
        documentOffsets.withUnsafeBufferPointer { plaid_prefetch_line($0.baseAddress! + d) }
    }

    /// Pointer to local document d's packed residuals.
    @inline(__always)
    func residuals(ofDocument d: Int) -> UnsafePointer<UInt8> {
        (residuals.payload.baseAddress! + documentOffsets[d] * bytesPerVector).assumingMemoryBound(to: UInt8.self)
    }
}
