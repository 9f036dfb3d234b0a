import Foundation
import PlaidCore

extension SharedCodebook {
    /// Codes `source` with this codebook into a new segment directory at `path`, for
    /// `IndexWriter.attach`: self-checking (checksummed files) and recording the codebook's
    /// identity, its model and text settings, and how many tokens lay beyond the outlier
    /// distance (a segment never grows the codebook; they are coded all the same). Memory is
    /// bounded by `chunkTokens`, as for a build. `metadata` and `texts` are as for
    /// `IndexBuilder.build`; texts are stored when the codebook says so. The segment is written
    /// beside `path` and moved into place once complete: a build that fails leaves what was at
    /// `path`, and one that is killed leaves a hidden `.NAME.building-TAG` directory that the next
    /// build there removes.
    @discardableResult
    public func buildSegment(from source: DocumentEmbeddingSource, metadata: BatchMetadata = [:], texts: BatchTexts = [:],
                             at path: String, overwrite: Bool = false, chunkTokens: Int = 1 << 16,
                             showProgress: Bool = false) throws -> SegmentDescriptor {
        try checkCompatible(source)
        try EmbeddingsLayout.checkUnique(source.ids, file: source.sourceName)
        let fields = try MetadataSchema.merge([], with: metadata, order: source.ids, source: source.sourceName)
        let (target, parent, name) = AtomicDirectory.location(of: path)
        AtomicDirectory.restoreInterruptedReplacement(parent: parent, name: name)
        try SegmentDirectory.checkWritable(path, overwrite: overwrite)
        try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true)
        AtomicDirectory.removeStaleTemporaries(parent: parent, name: name)
        try DiskSpace.check(needed: Int64(source.tokenCount) * Int64(codec.bytesPerVector + 16), at: parent)
        // Written beside the target and moved into place once complete, so that a build that fails
        // (bad input found while streaming, a full disk) leaves the segment it was to replace.
        let temporary = AtomicDirectory.temporaryPath(for: target, suffix: "building")
        defer {
            try? FileManager.default.removeItem(atPath: temporary)
            StagingFiles.unregister(temporary)
        }
        let written = try IndexBuilder.writeSegment(source, metadata: metadata, texts: texts, storedText: storedText, fields: fields,
                                                    directory: temporary, name: "", quantizer: quantizer, codec: codec,
                                                    chunkTokens: chunkTokens, showProgress: showProgress,
                                                    countOutliersBeyond: codebook.outlierDistance)
        var segment = written.info
        segment.outlierTokens = written.outlierTokens
        let descriptor = SegmentDescriptor(formatVersion: SegmentDescriptor.formatVersion,
                                           codebookIdentity: codebook.identity(centroids: centroids, listCount: segment.listCount),
                                           dim: codebook.dim, nbits: codebook.nbits, model: source.model ?? codebook.model,
                                           storedText: storedText, segment: segment, writtenBy: "plaid \(PlaidVersion.string)")
        try descriptor.write(directory: temporary)
        try SegmentDirectory.moveIntoPlace(temporary, at: target, overwrite: overwrite)
        return descriptor
    }

    /// Refuses vectors of another dimension or model than the codebook's.
    func checkCompatible(_ source: DocumentEmbeddingSource) throws {
        try codebook.checkCanCode(source, holder: "the codebook at \(path)", purpose: "code")
    }
}

extension IndexBuilder {
    /// Builds an index of `embeddings` coded with `codebook` exactly as its segments are
    /// (`SharedCodebook.buildSegment`): no training and no growth, the codebook's bits and text
    /// settings. One machine building so and many building segments that are then attached give
    /// the same search results.
    public static func build(from embeddings: DocumentEmbeddingSource, at indexPath: String, codebook: SharedCodebook,
                             metadata: BatchMetadata = [:], texts: BatchTexts = [:], chunkTokens: Int = 1 << 16,
                             overwrite: Bool = false, showProgress: Bool = false) throws -> BuildSummary {
        try codebook.checkCompatible(embeddings)
        let parameters = BuildParameters(nbits: codebook.codebook.nbits, chunkTokens: chunkTokens, storedText: codebook.storedText)
        return try build(from: embeddings, at: indexPath, parameters: parameters, shared: codebook, metadata: metadata, texts: texts,
                         overwrite: overwrite, showProgress: showProgress)
    }

    /// Creates an index of no documents with `codebook` (and its text settings), to attach
    /// segments coded with it to (`IndexWriter.attach`).
    @discardableResult
    public static func create(at indexPath: String, codebook: SharedCodebook, overwrite: Bool = false) throws -> Manifest {
        try AtomicDirectory.create(at: indexPath, overwrite: overwrite) { directory in
            try writeIndexWithoutSegments(directory: directory, codebook: codebook.codebook, centroids: codebook.centroids,
                                          storedText: codebook.storedText)
        }
    }
}
