import Foundation
import PlaidCore

/// Rewrites adjacent segments of an index as one segment of their live documents, in their order,
/// with their codes and residuals copied unchanged (codes widened where the new segment needs a
/// wider code), so that search results are those of the segments it replaces. Memory is bounded by
/// `chunkTokens`, not by the segments. The new segment is staged: nothing names it until the
/// writer commits a manifest that does.
struct SegmentMerger {
    /// The new segment and what the writer must know of it.
    struct Merged {
        var info: SegmentInfo
        var ids: [String]
        var lengths: [Int]
    }

    let indexDirectory: String
    /// Centroids of the codebook now: the merged segment's lists.
    let listCount: Int
    let bytesPerVector: Int
    /// The index's metadata fields, which the merged segment's table has.
    let fields: [MetadataField]
    /// The index's stored-text settings: the merged segment stores its documents' text when set.
    let storedText: StoredTextSettings?
    let chunkTokens: Int

    /// Writes the live documents of `segments` (in this order) as the segment `name`; nil, and no
    /// directory, when none is live. A failure removes the new directory.
    func merge(_ segments: [SegmentInfo], into name: String) throws -> Merged? {
        let target = (indexDirectory as NSString).appendingPathComponent(name)
        var ids: [String] = [], lengths: [Int] = []
        do {
            let writer = try SegmentWriter(directory: target, listCount: listCount, bytesPerVector: bytesPerVector, fields: fields,
                                           storedText: storedText)
            for info in segments {
                let segment = try Segment(directory: (indexDirectory as NSString).appendingPathComponent(info.name), info: info,
                                          bytesPerVector: bytesPerVector, verifyChecksums: false)
                try copyLiveDocuments(of: segment, into: writer, ids: &ids, lengths: &lengths)
            }
            if writer.documentCount > 0 {
                var info = try writer.finish(name: name)
                info.outlierTokens = SegmentMerger.outliersKept(by: segments)
                return Merged(info: info, ids: ids, lengths: lengths)
            }
            try? FileManager.default.removeItem(atPath: target)
            StagingFiles.unregister(target)
            return nil
        } catch {
            try? FileManager.default.removeItem(atPath: target)
            StagingFiles.unregister(target)
            throw error
        }
    }

    /// Appends a segment's live documents to `writer` in runs of about `chunkTokens` tokens,
    /// widening codes to Int32 on the way (the merged segment may use a wider code).
    /// The ids and lengths copied are appended to `allIDs` and `allLengths`.
    private func copyLiveDocuments(of segment: Segment, into writer: SegmentWriter,
                                   ids allIDs: inout [String], lengths allLengths: inout [Int]) throws {
        var ids: [String] = [], lengths: [Int] = [], codes: [Int32] = [], residuals: [UInt8] = []
        var metadata: [ByteExactID: [String: MetadataValue]] = [:], texts: BatchTexts = [:]
        func flush() throws {
            guard !ids.isEmpty else { return }
            try codes.withUnsafeBufferPointer { c in
                try residuals.withUnsafeBytes {
                    try writer.append(ids: ids, lengths: lengths, codes: c, residuals: $0, metadata: { metadata[ByteExactID($0)] },
                                      texts: { texts[ByteExactID($0)] })
                }
            }
            metadata.removeAll(keepingCapacity: true)
            texts.removeAll(keepingCapacity: true)
            allIDs += ids
            allLengths += lengths
            ids.removeAll(keepingCapacity: true); lengths.removeAll(keepingCapacity: true)
            codes.removeAll(keepingCapacity: true); residuals.removeAll(keepingCapacity: true)
        }
        func copy(_ d: Int, fields: [String: MetadataValue]?) throws {
            let n = segment.documentLengths[d]
            if let fields, !fields.isEmpty { metadata[ByteExactID(segment.documentIDs[d])] = fields }
            if let text = segment.text { texts[ByteExactID(segment.documentIDs[d])] = try text.text(of: d) }
            for t in 0..<n { codes.append(Int32(truncatingIfNeeded: segment.code(ofDocument: d, token: t))) }
            residuals.append(contentsOf: UnsafeBufferPointer(start: segment.residuals(ofDocument: d), count: n * bytesPerVector))
            ids.append(segment.documentIDs[d])
            lengths.append(n)
            if codes.count >= chunkTokens { try flush() }
        }
        // Metadata rows come in document order (one per document), so the copy walks them in step.
        if let rows = segment.metadata {
            try rows.forEachRow { d, fields in if !segment.isDeleted(d) { try copy(d, fields: fields) } }
        } else {
            for d in 0..<segment.documentCount where !segment.isDeleted(d) { try copy(d, fields: nil) }
        }
        try flush()
    }

    /// The outlier tokens (`SegmentInfo.outlierTokens`) a merge of `segments` keeps: all of a
    /// segment's without deletions; of one with deletions, which tokens were the outliers is not
    /// recorded, so its count in proportion to the tokens kept. Nil when none had a count.
    static func outliersKept(by segments: [SegmentInfo]) -> Int? {
        let counted = segments.filter { $0.outlierTokens != nil }
        guard !counted.isEmpty else { return nil }
        return counted.reduce(0) { sum, info in
            sum + Int((Double(info.outlierTokens!) * Double(info.liveTokens) / Double(max(1, info.tokenCount))).rounded())
        }
    }
}
