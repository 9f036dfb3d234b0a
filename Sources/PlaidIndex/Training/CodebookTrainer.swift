import Foundation
import PlaidCore

/// Trains the codebook of an index: the coarse quantizer's centroids by k-means on a seeded
/// sample of the token vectors, then the residual codec and the outlier distance on held-out
/// vectors. The one trainer of a build (`IndexBuilder`) and of the first batch of an index created
/// empty (`IndexWriter.add`), so that both give the same codebook for the same vectors and
/// settings; it also grows an existing codebook for a batch's outliers.
///
/// Deterministic: the same vectors and settings give the same codebook, bit for bit.
struct CodebookTrainer {
    var nbits: Int
    var kmeans: KMeansParameters
    /// Held-out vectors for the codec; nil: 5% of the sample, at most 50,000 (ColBERTv2's share).
    var heldoutSize: Int?

    init(parameters: BuildParameters) {
        nbits = parameters.nbits
        kmeans = parameters.kmeans
        heldoutSize = parameters.heldoutSize
    }

    /// The trainer of the settings `codebook` records: the bits, k-means iterations and seed the
    /// index was created with, and the default centroid count and sample sizes.
    init(settingsOf codebook: Codebook) {
        nbits = codebook.nbits
        kmeans = KMeansParameters(iterations: codebook.kmeansIterations, seed: codebook.kmeansSeed)
        heldoutSize = nil
    }

    /// Samples vectors, trains the centroids by k-means and fits the residual codec on held-out
    /// vectors. Returns the codebook (naming `centroids-1.plaid`) and the centroids `[k, dim]`
    /// as k-means gave them (the file rounds them to float16).
    func train(on embeddings: DocumentEmbeddingSource, showProgress: Bool) throws -> (codebook: Codebook, centroids: [Float]) {
        let dim = embeddings.dim
        let total = embeddings.tokenCount
        let k = kmeans.centroidCount(embeddings: total)
        let sampleCount = max(k, kmeans.sampleCount(embeddings: total, centroids: k, dim: dim))
        let heldoutCount = min(heldoutSize ?? min(50_000, max(1, sampleCount / 20)), max(1, total / 2))
        var (training, heldout) = try sample(embeddings, count: sampleCount + heldoutCount, heldout: heldoutCount, atLeast: k)
        let trainingCount = training.count / dim
        let (centroids, groupEnds) = trainCentroids(on: training, dim: dim, k: min(k, trainingCount), showProgress: showProgress)
        training = []
        let fit = fitCodec(heldout: &heldout, dim: dim, centroids: centroids)
        let centroidCount = centroids.count / dim
        let codebook = Codebook(dim: dim, nbits: nbits, centroidCount: centroidCount,
                                centroidsFile: Codebook.centroidsFileName(generation: 1),
                                bucketCutoffs: fit.codec.cutoffs, bucketWeights: fit.codec.weights,
                                kmeansIterations: kmeans.iterations, kmeansSeed: kmeans.seed,
                                kmeansSampleSize: trainingCount, averageResidual: fit.averageResidual,
                                outlierDistance: fit.outlierDistance,
                                tokensPerCentroid: Double(total) / Double(centroidCount),
                                trainedCentroidCount: centroidCount, createdBy: "plaid \(PlaidVersion.string)",
                                centroidGroupEnds: groupEnds, model: embeddings.model)
        return (codebook, centroids)
    }

    /// k-means on the sample: flat below `kmeans.twoLevelFrom` centroids, in two levels
    /// from there on (as many groups as `CentroidGroups` would make of the result), with the
    /// groups' ends (nil when flat).
    private func trainCentroids(on training: [Float], dim: Int, k: Int, showProgress: Bool) -> (centroids: [Float], groupEnds: [Int]?) {
        let label = "k-means (\(k) centroids, \(training.count / dim) vectors)"
        guard k >= kmeans.twoLevelFrom else {
            let progress = showProgress ? ProgressReporter(label: label, total: kmeans.iterations, unit: "iterations") : nil
            defer { progress?.finish() }
            return (KMeans.train(points: training, dim: dim, k: k, iterations: kmeans.iterations, seed: kmeans.seed,
                                 progress: { progress?.update($0) }), nil)
        }
        let groups = CentroidGroups.groupCount(centroids: k, probes: CentroidGroups.defaultProbes)
        let progress = showProgress ? ProgressReporter(label: label + " in \(groups) groups", total: groups + 1, unit: "groups") : nil
        defer { progress?.finish() }
        let (centroids, ends) = KMeans.trainInTwoLevels(points: training, dim: dim, k: k, groups: groups, iterations: kmeans.iterations,
                                                        seed: kmeans.seed, progress: { progress?.update($0) })
        return (centroids, ends)
    }

    /// Trains the codebook of an index created empty (`empty`, untrained) on its first batch, as
    /// a build on that batch would. The centroids come back rounded to float16 as stored, so that
    /// the batch is coded against the centroids readers decode with; the codebook keeps the
    /// index's creator, and its model unless it recorded none.
    func trainFirstBatch(_ batch: DocumentEmbeddingSource, of empty: Codebook, showProgress: Bool) throws -> (codebook: Codebook, centroids: [Float]) {
        var (trained, centroids) = try train(on: batch, showProgress: showProgress)
        trained.createdBy = empty.createdBy
        trained.model = empty.model ?? batch.model
        return (trained, centroids.map { Float(Float16($0)) })
    }

    /// Draws `count` token positions by the seed (at most every token) and reads them by random
    /// access; `heldout` of them, chosen by the seed among all but `atLeast`, are held out. Both
    /// come back `[n, dim]`; the held-out set is the training set when none could be held out.
    private func sample(_ embeddings: DocumentEmbeddingSource, count: Int, heldout heldoutCount: Int,
                        atLeast k: Int) throws -> (training: [Float], heldout: [Float]) {
        let dim = embeddings.dim
        let total = embeddings.tokenCount
        var rng = SeededRandom(seed: kmeans.seed)
        let picked = rng.sample(min(total, count), from: total)
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
        return (training, heldout)
    }

    /// Fits the residual codec on the held-out vectors' residuals (`heldout` becomes them); their
    /// squared distances to the nearest centroid set the outlier distance of later additions.
    private func fitCodec(heldout: inout [Float], dim: Int, centroids: [Float])
        -> (codec: ResidualCodec, averageResidual: Float, outlierDistance: Float) {
        let heldoutRows = heldout.count / dim
        var heldoutCodes = [Int32](repeating: 0, count: heldoutRows)
        // Every centroid is scored here, even where the build's assignment probes groups: the
        // outlier distance is a quantile of true distances, and grouped assignment takes it as
        // the distance beyond which its answer deserves a second look.
        let exact = NearestCentroidFinder(centroids: centroids, dim: dim)
        heldout.withUnsafeBufferPointer { h in heldoutCodes.withUnsafeMutableBufferPointer { exact.assign(h.baseAddress!, count: heldoutRows, into: $0.baseAddress!) } }
        var distances = [Float](repeating: 0, count: heldoutRows)
        for r in 0..<heldoutRows {
            let c = Int(heldoutCodes[r])
            for j in 0..<dim {
                heldout[r * dim + j] -= centroids[c * dim + j]
                distances[r] += heldout[r * dim + j] * heldout[r * dim + j]
            }
        }
        let codec = ResidualCodec.train(residuals: heldout, dim: dim, nbits: nbits)
        let averageResidual = heldout.reduce(Float(0)) { $0 + abs($1) } / Float(max(1, heldout.count))
        distances.sort()
        let outlierDistance = distances[min(distances.count - 1, Int(Double(distances.count) * Codebook.outlierQuantile))]
        return (codec, averageResidual, outlierDistance)
    }
}

/// What the growth pass over a batch found, and the centroids it trained.
struct CodebookGrowth {
    /// Tokens of the batch farther from their nearest centroid than the codebook's outlier distance.
    var outlierTokens = 0
    /// Centroids to append, `[n, dim]`, rounded to float16 as stored; empty when the batch grows nothing.
    var centroids: [Float] = []
    /// Every token's nearest centroid as the pass found it, in batch order: kept only when no
    /// centroid is appended (the codes are then final) and the batch is at most
    /// `CodebookTrainer.rememberedCodes` tokens.
    var codes: [Int32]? = nil
}

extension CodebookTrainer {
    /// Tokens of a batch whose growth-pass codes are kept for the segment (16 MB of codes).
    static let rememberedCodes = 1 << 22

    /// Codebook growth (as fast-plaid's and xtr-warp-rs's updates do): a first pass over the batch
    /// finds the tokens farther from their nearest centroid than the build's own 99th-percentile
    /// distance; one new centroid per `tokensPerCentroid` outliers (the build's density) is
    /// trained on them by k-means, with the codebook's k-means settings and its seed offset by
    /// `seedOffset`. Existing codes never change. The outlier sample is a seeded reservoir of at
    /// most 64 MB, so memory stays bounded. A batch with fewer tokens than `tokensPerCentroid`
    /// cannot grow the codebook and makes no pass, nor does a codebook without an outlier distance.
    static func grow(_ codebook: Codebook, quantizer: CoarseQuantizer, codec: ResidualCodec, for batch: DocumentEmbeddingSource,
                     chunkTokens: Int, seedOffset: Int) throws -> CodebookGrowth {
        guard let threshold = codebook.outlierDistance, Double(batch.tokenCount) >= codebook.tokensPerCentroid else { return CodebookGrowth() }
        let remember = batch.tokenCount <= rememberedCodes
        var codes: [Int32] = []
        let dim = codebook.dim
        let capacity = max(1024, (64 << 20) / (4 * dim))
        var sample: [Float] = []
        var outliers = 0
        var rng = SeededRandom(seed: codebook.kmeansSeed &+ UInt64(seedOffset))
        var encoder = ChunkEncoder(quantizer: quantizer, codec: codec)
        batch.prepareSequentialRead()
        for chunk in batch.documentChunks(maxTokens: max(1, chunkTokens)) {
            let count = try encoder.encode(batch, documents: chunk, distancesOnly: true)
            if remember { codes += encoder.codes[0..<count] }
            for t in 0..<count where encoder.distances[t] > threshold {
                outliers += 1
                let row = encoder.vectors[(t * dim)..<((t + 1) * dim)]
                if sample.count < capacity * dim {
                    sample += row
                } else {
                    let slot = Int(rng.next() % UInt64(outliers))
                    if slot < capacity { sample.replaceSubrange((slot * dim)..<((slot + 1) * dim), with: row) }
                }
            }
            batch.releasePages(tokens: batch.offsets[chunk.lowerBound], count: count)
        }
        let newCount = min(Int(Double(outliers) / max(1, codebook.tokensPerCentroid)), sample.count / dim)
        guard newCount >= 1 else { return CodebookGrowth(outlierTokens: outliers, codes: remember ? codes : nil) }
        let grown = KMeans.train(points: sample, dim: dim, k: newCount, iterations: codebook.kmeansIterations,
                                 seed: codebook.kmeansSeed &+ UInt64(seedOffset))
        return CodebookGrowth(outlierTokens: outliers, centroids: grown.map { Float(Float16($0)) })
    }
}

extension Codebook {
    /// The share of the build's held-out vectors that lie within `outlierDistance` of their centroid.
    static let outlierQuantile = 0.99
}
