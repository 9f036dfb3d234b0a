import Foundation
import PlaidCore

/// Writes one new segment directory: codes and residuals streamed to disk as documents are
/// appended, postings spilled to scratch files, and the small components at the end. Nothing in
/// the directory is part of the index until a manifest names it.
final class SegmentWriter {
    let directory: String
    let listCount: Int
    let codeWidth: Int
    private let bytesPerVector: Int
    private let codesWriter: ComponentWriter
    private let residualWriter: ComponentWriter
    private let lists: InvertedListsBuilder
    private let metadata: MetadataWriter
    private let text: TextStoreWriter?
    private var ids: [String] = []
    private var lengths: [Int] = []
    private var tokens = 0

    /// Creates `directory` (removing what a killed writer may have left there) for a segment
    /// whose codes name `listCount` centroids and whose metadata table has `fields`; with
    /// `storedText`, the segment also stores its documents' text.
    init(directory: String, listCount: Int, bytesPerVector: Int, fields: [MetadataField], storedText: StoredTextSettings?) throws {
        self.directory = directory
        self.listCount = listCount
        self.bytesPerVector = bytesPerVector
        codeWidth = IndexMetadata.codeWidth(forCentroids: listCount)
        try? FileManager.default.removeItem(atPath: directory)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false)
        StagingFiles.register(directory)   // until a manifest names it (IndexWriter) or the build is in place
        codesWriter = try ComponentWriter(directory: directory, component: .codes)
        residualWriter = try ComponentWriter(directory: directory, component: .residuals)
        lists = try InvertedListsBuilder(listCount: listCount, scratchDirectory: directory)
        metadata = try MetadataWriter(path: (directory as NSString).appendingPathComponent(MetadataStore.fileName), fields: fields)
        text = try storedText.map { try TextStoreWriter(path: (directory as NSString).appendingPathComponent(TextStore.fileName), settings: $0) }
    }

    var documentCount: Int { ids.count }

    /// Appends documents in order: `lengths[i]` tokens each, whose centroid codes and packed
    /// residuals (`bytesPerVector` each) lie back to back in `codes` and `residuals`; `metadata`
    /// gives the fields of each id (documents without an entry get nulls) and `texts` its text,
    /// when the segment stores text (documents without one store an empty text).
    func append<S: Sequence>(ids newIDs: S, lengths newLengths: [Int], codes: UnsafeBufferPointer<Int32>,
                             residuals: UnsafeRawBufferPointer, metadata values: (String) -> [String: MetadataValue]?,
                             texts: (String) -> DocumentText? = { _ in nil }) throws where S.Element == String {
        let count = newLengths.reduce(0, +)
        precondition(codes.count >= count && residuals.count >= count * bytesPerVector)
        try residualWriter.append(UnsafeRawBufferPointer(rebasing: residuals[0..<count * bytesPerVector]))
        try SegmentWriter.appendCodes(UnsafeBufferPointer(rebasing: codes[0..<count]), width: codeWidth, to: codesWriter)
        var start = 0
        for length in newLengths {
            try lists.add(document: lengths.count, codes: UnsafeBufferPointer(rebasing: codes[start..<start + length]))
            lengths.append(length)
            start += length
        }
        for id in newIDs {
            try metadata.append(document: ids.count, id: id, values: values(id))
            try text?.append(document: ids.count, id: id, text: texts(id))
            ids.append(id)
        }
        precondition(ids.count == lengths.count)
        tokens += count
    }

    /// Completes every file, flushes them and the directory, and describes the segment.
    func finish(name: String) throws -> SegmentInfo {
        _ = try codesWriter.finishRaw()
        _ = try residualWriter.finishRaw()
        let listWriter = try ComponentWriter(directory: directory, component: .invertedLists)
        try lists.finish(into: listWriter)
        _ = try listWriter.finishRaw()
        let idBytes = try IndexStorage.writeDocuments(directory: directory, lengths: lengths, ids: ids)
        let checksum = try metadata.finish()
        let textChecksum = try text?.finish()
        AtomicDirectory.syncDirectory(directory)
        return SegmentInfo(name: name, documentCount: ids.count, tokenCount: tokens, listCount: listCount,
                           codeWidth: codeWidth, deletionsFile: nil, deletedDocuments: 0, deletedTokens: 0,
                           metadataFile: MetadataStore.fileName, metadataChecksum: checksum, metadataFields: metadata.fields,
                           documentIDBytes: idBytes, textFile: text == nil ? nil : TextStore.fileName, textChecksum: textChecksum)
    }

    static func appendCodes(_ codes: UnsafeBufferPointer<Int32>, width: Int, to writer: ComponentWriter) throws {
        switch width {
        case 1: try writer.append(contentsOf: codes.map { UInt8($0) })
        case 2: try writer.append(contentsOf: codes.map { UInt16($0).littleEndian })
        default: try writer.append(contentsOf: codes.map { UInt32($0).littleEndian })
        }
    }
}
