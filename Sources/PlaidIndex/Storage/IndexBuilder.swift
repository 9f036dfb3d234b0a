import Foundation
import PlaidCore
import PlaidKernels

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

    public init(nbits: Int = 2, kmeans: KMeansParameters = KMeansParameters(), chunkTokens: Int = 1 << 16, heldoutSize: Int? = nil) {
        self.nbits = nbits; self.kmeans = kmeans; self.chunkTokens = chunkTokens; self.heldoutSize = heldoutSize
    }
}

/// Sizes of what a build wrote.
public struct BuildSummary: Sendable {
    public var metadata: IndexMetadata
    public var bytesOnDisk: Int
    public var seconds: Double
    public var bytesPerToken: Double { Double(bytesOnDisk) / Double(max(1, metadata.tokenCount)) }
}

/// Builds an index from token embeddings on disk, streaming them in chunks, into a temporary
/// directory beside the target that is renamed into place only once complete.
public enum IndexBuilder {
    public static func build(from embeddings: DocumentEmbeddings, at indexPath: String,
                             parameters: BuildParameters = BuildParameters(), overwrite: Bool = false,
                             showProgress: Bool = false) throws -> BuildSummary {
        guard ResidualCodec.supportedBits.contains(parameters.nbits) else {
            throw PlaidError.invalidArgument("nbits must be 1, 2 or 4 (got \(parameters.nbits))")
        }
        guard embeddings.tokenCount > 0 else {
            throw PlaidError.invalidInput(file: EmbeddingsLayout.documentLengths, detail: "holds no documents; there is nothing to index")
        }
        let started = Date()
        return try AtomicDirectory.create(at: indexPath, overwrite: overwrite) { directory in
            let metadata = try writeComponents(embeddings: embeddings, directory: directory,
                                               parameters: parameters, showProgress: showProgress)
            let bytes = IndexComponent.allCases.reduce(0) { total, component in
                let path = (directory as NSString).appendingPathComponent(component.fileName)
                return total + ((try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0)
            }
            return BuildSummary(metadata: metadata, bytesOnDisk: bytes, seconds: Date().timeIntervalSince(started))
        }
    }

    static func writeComponents(embeddings: DocumentEmbeddings, directory: String,
                                parameters: BuildParameters, showProgress: Bool) throws -> IndexMetadata {
        let dim = embeddings.dim
        let total = embeddings.tokenCount
        let k = parameters.kmeans.centroidCount(embeddings: total)
        let sampleCount = max(k, parameters.kmeans.sampleCount(embeddings: total, centroids: k))
        let heldoutCount = min(parameters.heldoutSize ?? min(50_000, max(1, sampleCount / 20)), max(1, total / 2))

        // 1. Sample vectors for k-means and the codec, chosen by the seed, read by random access.
        var rng = SeededRandom(seed: parameters.kmeans.seed)
        let picked = rng.sample(min(total, sampleCount + heldoutCount), from: total)
        var order = Array(0..<picked.count)
        order.shuffle(using: &rng)
        let heldoutPositions = Set(order.prefix(min(heldoutCount, picked.count - k)))
        var training: [Float] = []
        var heldout: [Float] = []
        training.reserveCapacity((picked.count - heldoutPositions.count) * dim)
        var row = [Float](repeating: 0, count: dim)
        // The sample is read in file order; pages behind the reader are released as it goes, so
        // resident memory holds the sample, not the pages it was read from.
        var released = 0
        for (position, token) in picked.enumerated() {
            try row.withUnsafeMutableBufferPointer { try embeddings.copyTokens(start: token, count: 1, into: $0.baseAddress!) }
            if heldoutPositions.contains(position) { heldout += row } else { training += row }
            if token - released >= 1 << 15 {
                embeddings.releasePages(tokens: released, count: token - released)
                released = token
            }
        }
        embeddings.releasePages(tokens: 0, count: total)
        if heldout.isEmpty { heldout = training }

        // 2. Coarse quantizer.
        let trainingCount = training.count / dim
        let kmeansProgress = showProgress ? ProgressReporter(label: "k-means (\(k) centroids, \(trainingCount) vectors)", total: parameters.kmeans.iterations, unit: "iterations") : nil
        let centroids = KMeans.train(points: training, dim: dim, k: min(k, trainingCount),
                                     iterations: parameters.kmeans.iterations, seed: parameters.kmeans.seed,
                                     progress: { kmeansProgress?.update($0) })
        kmeansProgress?.finish()
        training = []
        let quantizer = CoarseQuantizer(centroids: centroids, dim: dim)

        // 3. Residual codec from the held-out vectors' residuals.
        let heldoutRows = heldout.count / dim
        var heldoutCodes = [Int32](repeating: 0, count: heldoutRows)
        heldout.withUnsafeBufferPointer { h in heldoutCodes.withUnsafeMutableBufferPointer { quantizer.assign(h.baseAddress!, count: heldoutRows, into: $0.baseAddress!) } }
        for r in 0..<heldoutRows {
            let c = Int(heldoutCodes[r])
            for j in 0..<dim { heldout[r * dim + j] -= centroids[c * dim + j] }
        }
        let codec = ResidualCodec.train(residuals: heldout, dim: dim, nbits: parameters.nbits)
        let averageResidual = heldout.reduce(Float(0)) { $0 + abs($1) } / Float(max(1, heldout.count))
        heldout = []

        // 4. Stream every document: assign, encode residuals, record postings.
        let width = IndexMetadata.codeWidth(forCentroids: quantizer.count)
        let codesWriter = try ComponentWriter(directory: directory, component: .codes)
        let residualWriter = try ComponentWriter(directory: directory, component: .residuals)
        let lists = try InvertedListsBuilder(listCount: quantizer.count, scratchDirectory: directory)
        let progress = showProgress ? ProgressReporter(label: "encoding residuals", total: total, unit: "tokens") : nil
        let chunkTokens = max(parameters.chunkTokens, 1)
        var vectors = [Float](repeating: 0, count: chunkTokens * dim)
        var codes = [Int32](repeating: 0, count: chunkTokens)
        var packed = [UInt8](repeating: 0, count: chunkTokens * codec.bytesPerVector)
        embeddings.embeddings.file.adviseSequential()
        for chunk in embeddings.documentChunks(maxTokens: chunkTokens) {
            let start = embeddings.offsets[chunk.lowerBound]
            let count = embeddings.offsets[chunk.upperBound] - start
            if count > codes.count {
                vectors = [Float](repeating: 0, count: count * dim)
                codes = [Int32](repeating: 0, count: count)
                packed = [UInt8](repeating: 0, count: count * codec.bytesPerVector)
            }
            try vectors.withUnsafeMutableBufferPointer { v in
                try embeddings.copyTokens(start: start, count: count, into: v.baseAddress!)
                codes.withUnsafeMutableBufferPointer { quantizer.assign(v.baseAddress!, count: count, into: $0.baseAddress!) }
                centroids.withUnsafeBufferPointer { cen in
                    for t in 0..<count {
                        let c = Int(codes[t])
                        let row = v.baseAddress! + t * dim
                        for j in 0..<dim { row[j] -= cen[c * dim + j] }
                    }
                }
                packed.withUnsafeMutableBufferPointer { codec.encode(residuals: v.baseAddress!, count: count, into: $0.baseAddress!) }
            }
            try packed.withUnsafeBytes { try residualWriter.append(UnsafeRawBufferPointer(rebasing: $0[0..<count * codec.bytesPerVector])) }
            try appendCodes(codes, count: count, width: width, to: codesWriter)
            try codes.withUnsafeBufferPointer { c in
                for d in chunk {
                    let range = (embeddings.offsets[d] - start)..<(embeddings.offsets[d + 1] - start)
                    try lists.add(document: d, codes: UnsafeBufferPointer(rebasing: c[range]))
                }
            }
            // The input was read once; let its pages go so resident memory stays at the chunk size.
            embeddings.releasePages(tokens: start, count: count)
            progress?.update(embeddings.offsets[chunk.upperBound])
        }
        progress?.finish()
        _ = try codesWriter.finishRaw()
        _ = try residualWriter.finishRaw()
        let listWriter = try ComponentWriter(directory: directory, component: .invertedLists)
        try lists.finish(into: listWriter)
        _ = try listWriter.finishRaw()

        // 5. The small components.
        let metadata = IndexMetadata(
            dim: dim, nbits: parameters.nbits, centroidCount: quantizer.count,
            documentCount: embeddings.documentCount, tokenCount: total, codeWidth: width,
            bucketCutoffs: codec.cutoffs, bucketWeights: codec.weights,
            kmeansIterations: parameters.kmeans.iterations, kmeansSeed: parameters.kmeans.seed,
            kmeansSampleSize: trainingCount, averageResidual: averageResidual, createdBy: "plaid \(PlaidVersion.string)")
        try IndexStorage.writeSmallComponents(directory: directory, metadata: metadata, centroids: centroids,
                                              documentLengths: embeddings.lengths, documentIDs: embeddings.ids)
        return metadata
    }

    static func appendCodes(_ codes: [Int32], count: Int, width: Int, to writer: ComponentWriter) throws {
        switch width {
        case 1: try writer.append(contentsOf: codes[0..<count].map { UInt8($0) })
        case 2: try writer.append(contentsOf: codes[0..<count].map { UInt16($0).littleEndian })
        default: try writer.append(contentsOf: codes[0..<count].map { UInt32($0).littleEndian })
        }
    }
}

public enum PlaidVersion {
    public static let string = "0.1.0"
}
