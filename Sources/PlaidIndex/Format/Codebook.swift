import Foundation
import PlaidCore

/// The codebook every segment of an index is coded against: the coarse quantizer's centroids
/// (in the file `centroidsFile`), the residual codec, and how they were trained. Existing codes
/// never change: growing the codebook only appends centroids.
public struct Codebook: Codable, Equatable, Sendable {
    public var dim: Int
    public var nbits: Int
    public var centroidCount: Int
    /// The centroids file in the index directory, `[centroidCount, dim]` float16.
    public var centroidsFile: String
    public var bucketCutoffs: [Float]
    public var bucketWeights: [Float]
    public var kmeansIterations: Int
    public var kmeansSeed: UInt64
    public var kmeansSampleSize: Int
    public var averageResidual: Float
    /// Squared L2 distance to the nearest centroid below which 99% of the build's held-out
    /// vectors fell. An added vector farther than this is an outlier, and enough outliers grow
    /// the codebook. `nil` for an index first built by a version-1 plaid, which did not record
    /// it: such an index never grows its codebook.
    public var outlierDistance: Float?
    /// Tokens per centroid of the first build (`tokens / centroids`): the density at which
    /// outliers are clustered into new centroids.
    public var tokensPerCentroid: Double
    /// Centroids the first build trained; the rest were appended by later additions.
    public var trainedCentroidCount: Int
    /// The plaid that built the index.
    public var createdBy: String
    /// Where each group of trained centroids ends (exclusive, increasing, at most
    /// `trainedCentroidCount`): two-level k-means trains the centroids group after group, and
    /// search scores only the groups nearest each query token (`CentroidSearchGroups`). Centroids
    /// past the last end (appended by later additions) belong to no group and are always scored.
    /// `nil` for a codebook trained flat (below `KMeansParameters.twoLevelFrom` centroids, by
    /// default 16,384) or by a plaid that did not record groups: its searches score every centroid.
    public var centroidGroupEnds: [Int]?
    /// The model whose vectors the index holds, when the build knew it (text collections, and
    /// embeddings that `plaid encode` wrote).
    public var model: ModelIdentity?

    /// Whether centroids and the residual codec exist. An index created empty
    /// (`IndexBuilder.createEmpty`) has neither until its first batch trains them, as a build would.
    public var isTrained: Bool { centroidCount > 0 }
}

extension Codebook {
    /// The codebook of a version-1 index, whose metadata file held the same facts.
    init(version1 m: IndexMetadata) {
        self.init(dim: m.dim, nbits: m.nbits, centroidCount: m.centroidCount,
                  centroidsFile: IndexComponent.centroids.fileName, bucketCutoffs: m.bucketCutoffs,
                  bucketWeights: m.bucketWeights, kmeansIterations: m.kmeansIterations, kmeansSeed: m.kmeansSeed,
                  kmeansSampleSize: m.kmeansSampleSize, averageResidual: m.averageResidual, outlierDistance: nil,
                  tokensPerCentroid: Double(m.tokenCount) / Double(max(1, m.centroidCount)),
                  trainedCentroidCount: m.centroidCount, createdBy: m.createdBy, centroidGroupEnds: nil, model: nil)
    }

    static func centroidsFileName(generation: Int) -> String { "centroids-\(generation).plaid" }
}

extension Codebook {
    /// Refuses vectors this codebook cannot code, naming `holder` (what holds it, "the index at
    /// P"): a source with no documents (`purpose`: what there would be nothing to do), vectors of
    /// another dimension, and vectors another model made.
    func checkCanCode(_ source: DocumentEmbeddingSource, holder: String, purpose: String) throws {
        guard source.documentCount > 0, source.tokenCount > 0 else {
            throw PlaidError.invalidInput(file: source.sourceName, detail: "holds no documents; there is nothing to \(purpose)")
        }
        guard source.dim == dim else {
            throw PlaidError.invalidInput(file: source.sourceName, detail: "has embeddings of dimension \(source.dim) but \(holder) has dimension \(dim); encode with the model of \(holder)")
        }
        if let theirs = source.model, let ours = model, !theirs.isSameModel(as: ours) {
            throw PlaidError.refused("\(source.sourceName) was encoded with the model \(theirs.summary) but \(holder) holds vectors of \(ours.summary); encode with the model of \(holder)")
        }
    }
}
