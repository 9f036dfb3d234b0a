import Foundation
import PlaidCore

/// Parameters of an index build.
public struct BuildParameters: Sendable {
    /// Bits per dimension of the residual codes: 1, 2 or 4.
    public var nbits: Int
    public var kmeans: KMeansParameters
    /// Token vectors read, assigned and encoded per step of the streaming pass. Peak memory
    /// grows with it (about 4·dim + 8 bytes per token of chunk), not with the corpus.
    public var chunkTokens: Int
    /// Held-out vectors for fitting the residual codec (ColBERTv2 holds out 5%, at most 50,000).
    public var heldoutSize: Int?
    /// Whether, and how, the index stores its documents' text (`--store-text`): fixed for the
    /// index's life, so that every segment of it has a full-text table.
    public var storedText: StoredTextSettings?

    public init(nbits: Int = 2, kmeans: KMeansParameters = KMeansParameters(), chunkTokens: Int = 1 << 16, heldoutSize: Int? = nil,
                storedText: StoredTextSettings? = nil) {
        self.nbits = nbits; self.kmeans = kmeans; self.chunkTokens = chunkTokens; self.heldoutSize = heldoutSize
        self.storedText = storedText
    }
}

/// Sizes of what a build wrote.
public struct BuildSummary: Sendable {
    public var manifest: Manifest
    public var bytesOnDisk: Int
    public var seconds: Double
    public var bytesPerToken: Double { Double(bytesOnDisk) / Double(max(1, manifest.tokenCount)) }
}

/// Builds a fresh index from token embeddings, streaming them in chunks, into a temporary
/// directory beside the target that is moved into place only once complete. The result is a
/// version-2 index of one segment at generation 1, the same format `IndexWriter` commits.
public enum IndexBuilder {
    /// `metadata` gives documents' fields (see `MetadataSchema` for the types a field may take);
    /// `texts` their text, stored when `parameters.storedText` is set (a document without one
    /// stores an empty text).
    public static func build(from embeddings: DocumentEmbeddingSource, at indexPath: String,
                             parameters: BuildParameters = BuildParameters(), metadata: BatchMetadata = [:], texts: BatchTexts = [:],
                             overwrite: Bool = false, showProgress: Bool = false) throws -> BuildSummary {
        try build(from: embeddings, at: indexPath, parameters: parameters, shared: nil, metadata: metadata, texts: texts,
                  overwrite: overwrite, showProgress: showProgress)
    }

    /// `build`, trained on `embeddings` or, given `shared`, coded with its codebook.
    static func build(from embeddings: DocumentEmbeddingSource, at indexPath: String, parameters: BuildParameters, shared: SharedCodebook?,
                      metadata: BatchMetadata, texts: BatchTexts, overwrite: Bool, showProgress: Bool) throws -> BuildSummary {
        guard ResidualCodec.supportedBits.contains(parameters.nbits) else {
            throw PlaidError.invalidArgument("nbits must be 1, 2 or 4 (got \(parameters.nbits))")
        }
        guard embeddings.tokenCount > 0 else {
            throw PlaidError.invalidInput(file: embeddings.sourceName, detail: "holds no documents; there is nothing to index")
        }
        let fields = try MetadataSchema.merge([], with: metadata, order: embeddings.ids, source: embeddings.sourceName)
        // Before k-means, the long part: the old index (with overwrite) stays until the new one
        // is complete, so the new one needs its whole size free.
        try DiskSpace.check(needed: estimatedBytes(of: embeddings, parameters: parameters), at: indexPath)
        let started = Date()
        return try AtomicDirectory.create(at: indexPath, overwrite: overwrite) { directory in
            let manifest = try writeIndex(embeddings: embeddings, metadata: metadata, texts: texts, fields: fields, directory: directory,
                                          parameters: parameters, shared: shared, showProgress: showProgress)
            let opened = try CompressedIndex(path: directory, verifyChecksums: false)
            return BuildSummary(manifest: manifest, bytesOnDisk: opened.bytesOnDisk, seconds: Date().timeIntervalSince(started))
        }
    }

    /// A bound on the disk space a build of `source` uses at its peak: per token its residual
    /// bytes, its code, its spilled posting and its posting in the inverted lists; per document
    /// its id, length and metadata row; and the centroids. Compression only lowers it.
    static func estimatedBytes(of source: DocumentEmbeddingSource, parameters: BuildParameters) -> Int64 {
        let residualBytes = Int64(parameters.nbits * source.dim / 8)
        let tokens = Int64(source.tokenCount)
        let idBytes = source.ids.reduce(Int64(0)) { $0 + Int64($1.utf8.count) }
        let centroids = Int64(parameters.kmeans.centroidCount(embeddings: source.tokenCount)) * Int64(source.dim) * 4
        // Stored text is not known here; its size is checked as the segment is written.
        return tokens * (residualBytes + 16) + idBytes + Int64(source.documentCount) * 32 + centroids + (1 << 20)
    }

    /// The largest vector dimension an index may have; readers refuse a manifest claiming more.
    public static let maximumDimension = EmbeddingsLayout.maximumDimension

    /// Creates an index of no documents, to be filled by `IndexWriter.add`: its first batch
    /// trains the centroids and the residual codec with `parameters` (as `build` would on that
    /// batch), and later batches are added as to any index. `model`, when known, is recorded so
    /// that vectors of another model are refused.
    @discardableResult
    public static func createEmpty(at indexPath: String, dim: Int, parameters: BuildParameters = BuildParameters(),
                                   model: ModelIdentity? = nil, overwrite: Bool = false) throws -> Manifest {
        guard ResidualCodec.supportedBits.contains(parameters.nbits) else {
            throw PlaidError.invalidArgument("nbits must be 1, 2 or 4 (got \(parameters.nbits))")
        }
        guard dim > 0, dim % 8 == 0, dim <= maximumDimension else {
            throw PlaidError.invalidArgument("the dimension must be a positive multiple of 8 of at most \(maximumDimension) (got \(dim))")
        }
        if let model, model.dim != dim {
            throw PlaidError.invalidArgument("the model \(model.summary) makes vectors of dimension \(model.dim), not \(dim)")
        }
        return try AtomicDirectory.create(at: indexPath, overwrite: overwrite) { directory in
            let codebook = Codebook(dim: dim, nbits: parameters.nbits, centroidCount: 0,
                                    centroidsFile: Codebook.centroidsFileName(generation: 1), bucketCutoffs: [], bucketWeights: [],
                                    kmeansIterations: parameters.kmeans.iterations, kmeansSeed: parameters.kmeans.seed,
                                    kmeansSampleSize: 0, averageResidual: 0, outlierDistance: nil, tokensPerCentroid: 0,
                                    trainedCentroidCount: 0, createdBy: "plaid \(PlaidVersion.string)", centroidGroupEnds: nil, model: model)
            return try writeIndexWithoutSegments(directory: directory, codebook: codebook, centroids: [], storedText: parameters.storedText)
        }
    }

    /// Writes into `directory` an index of no documents at generation 1: `codebook` (untrained,
    /// or trained with `centroids`) and no segments. What `createEmpty`, a trained codebook
    /// (`SharedCodebook`) and `create(at:codebook:)` are on disk.
    @discardableResult
    static func writeIndexWithoutSegments(directory: String, codebook: Codebook, centroids: [Float],
                                          storedText: StoredTextSettings?) throws -> Manifest {
        var codebook = codebook
        codebook.centroidsFile = Codebook.centroidsFileName(generation: 1)
        try IndexStorage.writeCentroids(centroids, path: (directory as NSString).appendingPathComponent(codebook.centroidsFile))
        let manifest = Manifest(formatVersion: Manifest.formatVersion, generation: 1, codebook: codebook, segments: [],
                                nextSegmentNumber: 0, metadataFields: [], writtenBy: "plaid \(PlaidVersion.string)",
                                storedText: storedText)
        try manifest.commit(to: directory)
        _ = FileManager.default.createFile(atPath: (directory as NSString).appendingPathComponent(IndexLock.fileName), contents: nil)
        return manifest
    }

    /// Writes the index of `embeddings` into `directory`: with the centroids and codec of
    /// `shared` when given (coded as its segments are, without growth), else trained on them.
    static func writeIndex(embeddings: DocumentEmbeddingSource, metadata: BatchMetadata, texts: BatchTexts, fields: [MetadataField],
                           directory: String, parameters: BuildParameters, shared: SharedCodebook? = nil,
                           showProgress: Bool) throws -> Manifest {
        var (codebook, centroids) = try shared.map { ($0.codebook, $0.centroids) }
            ?? CodebookTrainer(parameters: parameters).train(on: embeddings, showProgress: showProgress)
        codebook.centroidsFile = Codebook.centroidsFileName(generation: 1)
        try IndexStorage.writeCentroids(centroids, path: (directory as NSString).appendingPathComponent(codebook.centroidsFile))
        let quantizer = CoarseQuantizer(centroids: centroids, dim: codebook.dim, recheckDistance: codebook.outlierDistance)
        let codec = ResidualCodec(dim: codebook.dim, nbits: codebook.nbits, cutoffs: codebook.bucketCutoffs, weights: codebook.bucketWeights)
        let name = Manifest.segmentName(0)
        let written = try writeSegment(embeddings, metadata: metadata, texts: texts, storedText: parameters.storedText, fields: fields,
                                       directory: (directory as NSString).appendingPathComponent(name), name: name,
                                       quantizer: quantizer, codec: codec, chunkTokens: parameters.chunkTokens, showProgress: showProgress,
                                       countOutliersBeyond: shared == nil ? nil : codebook.outlierDistance)
        var segment = written.info
        if shared != nil { segment.outlierTokens = written.outlierTokens }
        let manifest = Manifest(formatVersion: Manifest.formatVersion, generation: 1, codebook: codebook,
                                segments: [segment], nextSegmentNumber: 1, metadataFields: fields, writtenBy: "plaid \(PlaidVersion.string)",
                                storedText: parameters.storedText)
        try manifest.commit(to: directory)
        // The writer lock's file exists from the start, so that a refused write leaves the directory as it was.
        _ = FileManager.default.createFile(atPath: (directory as NSString).appendingPathComponent(IndexLock.fileName), contents: nil)
        return manifest
    }

    /// Streams every document of `source` through the quantizer and codec into a new segment
    /// directory. Memory is bounded by `chunkTokens`, not by the batch. `assignedCodes`, when
    /// given, are every token's nearest centroid already found by an earlier pass (the growth
    /// pass of `IndexWriter.add`) with these centroids and the same chunks. With `storedText`,
    /// the segment stores `texts` too. With `countOutliersBeyond`, the tokens farther (squared)
    /// from their centroid are counted.
    static func writeSegment(_ source: DocumentEmbeddingSource, metadata: BatchMetadata, texts: BatchTexts,
                             storedText: StoredTextSettings?, fields: [MetadataField],
                             directory: String, name: String, quantizer: CoarseQuantizer, codec: ResidualCodec,
                             chunkTokens: Int, showProgress: Bool, assignedCodes: [Int32]? = nil,
                             countOutliersBeyond threshold: Float? = nil) throws -> (info: SegmentInfo, outlierTokens: Int) {
        let writer = try SegmentWriter(directory: directory, listCount: quantizer.count, bytesPerVector: codec.bytesPerVector, fields: fields,
                                       storedText: storedText)
        let progress = showProgress ? ProgressReporter(label: "encoding residuals", total: source.tokenCount, unit: "tokens") : nil
        var encoder = ChunkEncoder(quantizer: quantizer, codec: codec)
        encoder.outlierDistance = threshold
        source.prepareSequentialRead()
        let bytesPerToken = Int64(codec.bytesPerVector + 16)
        for chunk in source.documentChunks(maxTokens: max(chunkTokens, 1)) {
            let start = source.offsets[chunk.lowerBound]
            // Other writers share the disk: what is left to write must still fit.
            try DiskSpace.check(needed: Int64(source.tokenCount - start) * bytesPerToken, at: directory)
            let count = try encoder.encode(source, documents: chunk,
                                           assigned: assignedCodes?[start..<source.offsets[chunk.upperBound]])
            try encoder.codes.withUnsafeBufferPointer { codes in
                try encoder.packed.withUnsafeBytes { packed in
                    try writer.append(ids: source.ids[chunk], lengths: Array(source.lengths[chunk]), codes: codes, residuals: packed,
                                      metadata: { metadata[$0] }, texts: { texts[ByteExactID($0)] })
                }
            }
            // The input was read once; let its pages go so resident memory stays at the chunk size.
            source.releasePages(tokens: start, count: count)
            progress?.update(source.offsets[chunk.upperBound])
        }
        progress?.finish()
        return (try writer.finish(name: name), encoder.outlierTokens)
    }
}
