import Foundation
import PlaidCore

extension SharedCodebook {
    /// Trains a codebook on the text collection at `collection`, encoded with `encoder`: on all
    /// of it, or on `sampleDocuments` documents drawn with `parameters.kmeans.seed` (the encoding
    /// is the cost; k-means needs only a sample). With a sample and no centroid count given, the
    /// count is the default for the whole collection's tokens, estimated from the sample's
    /// tokens per document, so that the codebook suits the corpus and not only the sample.
    @discardableResult
    public static func train(collection: String, encoder: TextEncoder, at path: String, parameters: BuildParameters = BuildParameters(),
                             sampleDocuments: Int? = nil, overwrite: Bool = false, batchSize: Int = 32,
                             showProgress: Bool = false) throws -> SharedCodebook {
        try AtomicDirectory.checkReplaceable(path, overwrite: overwrite)
        var total = 0
        try TextCollectionReader(path: collection).forEach { _ in total += 1 }
        let selection = sampleDocuments.flatMap { $0 < total ? sample($0, of: total, seed: parameters.kmeans.seed) : nil }
        AtomicDirectory.removeStaleTemporaries(beside: path)
        let directory = AtomicDirectory.temporaryPath(for: path, suffix: "embeddings")
        StagingFiles.register(directory)
        defer {
            try? FileManager.default.removeItem(atPath: directory)
            StagingFiles.unregister(directory)
        }
        _ = try CollectionEncoding.encode(collection, with: encoder, mode: .document, output: directory, float16: false,
                                          batchSize: batchSize, only: selection)
        let documents = try DocumentEmbeddings(directory: directory)
        var parameters = parameters
        if let selection, parameters.kmeans.centroids == nil {
            let estimatedTokens = Double(documents.tokenCount) / Double(selection.count) * Double(total)
            parameters.kmeans.centroids = parameters.kmeans.centroidCount(embeddings: Int(estimatedTokens.rounded()))
        }
        return try train(on: documents, at: path, parameters: parameters, overwrite: overwrite, showProgress: showProgress)
    }

    /// `count` of the positions `0..<total`, drawn without replacement by a seeded partial shuffle.
    static func sample(_ count: Int, of total: Int, seed: UInt64) -> Set<Int> {
        var rng = SeededRandom(seed: seed)
        var swapped: [Int: Int] = [:]
        var chosen = Set<Int>()
        for i in 0..<count {
            let j = i + Int(rng.next() % UInt64(total - i))
            let atJ = swapped[j] ?? j
            swapped[j] = swapped[i] ?? i
            chosen.insert(atJ)
        }
        return chosen
    }

    /// Encodes the text collection at `collection` with `encoder` (the codebook's model) and
    /// codes it into a segment at `path` (`buildSegment`), with the metadata its lines give, and
    /// their title and text when the codebook stores text. The embeddings live in a scratch
    /// folder beside `path` while it runs.
    @discardableResult
    public func buildSegment(collection: String, encoder: TextEncoder, at path: String, overwrite: Bool = false,
                             chunkTokens: Int = 1 << 16, batchSize: Int = 32, showProgress: Bool = false) throws -> SegmentDescriptor {
        // Refused before encoding, the long part.
        try SegmentDirectory.checkWritable(path, overwrite: overwrite)
        try checkEncoder(encoder)
        try FileManager.default.createDirectory(atPath: AtomicDirectory.location(of: path).parent, withIntermediateDirectories: true)
        let metadata = try MetadataReader.fromCollection(path: collection)
        let texts = storedText == nil ? [:] : try StoredTextReader.fromCollection(path: collection).tokenized(by: encoder)
        return try IndexBuilder.withEmbeddings(of: collection, encoder: encoder, beside: path, keepingAt: nil, float16: false,
                                               batchSize: batchSize) { documents, _ in
            try buildSegment(from: documents, metadata: metadata, texts: texts, at: path, overwrite: overwrite,
                             chunkTokens: chunkTokens, showProgress: showProgress)
        }
    }

    /// Refuses an encoder of another dimension or model than the codebook's, before it encodes.
    func checkEncoder(_ encoder: TextEncoder) throws {
        guard encoder.dimension == codebook.dim else {
            throw PlaidError.invalidArgument("the model \(encoder.identity.name) gives vectors of dimension \(encoder.dimension) but the codebook at \(path) has dimension \(codebook.dim); use the model it was trained for")
        }
        if let ours = codebook.model, !encoder.identity.isSameModel(as: ours) {
            throw PlaidError.refused("the model \(encoder.identity.summary) is not the one the codebook at \(path) was trained on, \(ours.summary); use that model")
        }
    }
}

extension IndexBuilder {
    /// Encodes `collection` with `encoder` and builds an index of it coded with `codebook`
    /// (`build(from:at:codebook:)`): what the segments of a distributed build of that collection,
    /// attached in order, search like.
    public static func build(collection: String, encoder: TextEncoder, at path: String, codebook: SharedCodebook,
                             chunkTokens: Int = 1 << 16, overwrite: Bool = false, batchSize: Int = 32,
                             showProgress: Bool = false) throws -> TextBuildSummary {
        try AtomicDirectory.checkReplaceable(path, overwrite: overwrite)
        try codebook.checkEncoder(encoder)
        let metadata = try MetadataReader.fromCollection(path: collection)
        let texts = codebook.storedText == nil ? [:] : try StoredTextReader.fromCollection(path: collection).tokenized(by: encoder)
        return try withEmbeddings(of: collection, encoder: encoder, beside: path, keepingAt: nil, float16: false,
                                  batchSize: batchSize) { documents, encoding in
            let build = try IndexBuilder.build(from: documents, at: path, codebook: codebook, metadata: metadata, texts: texts,
                                               chunkTokens: chunkTokens, overwrite: overwrite, showProgress: showProgress)
            return TextBuildSummary(encoding: encoding, build: build)
        }
    }
}
