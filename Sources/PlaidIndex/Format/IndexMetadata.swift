import Foundation

/// What an index is: its shape, its codec and how it was built. Stored as JSON in `metadata.plaid`.
public struct IndexMetadata: Codable, Equatable, Sendable {
    public var dim: Int
    public var nbits: Int
    public var centroidCount: Int
    public var documentCount: Int
    public var tokenCount: Int
    /// Bytes per stored centroid code: 1, 2 or 4 (the smallest that holds `centroidCount − 1`).
    public var codeWidth: Int
    public var bucketCutoffs: [Float]
    public var bucketWeights: [Float]
    public var kmeansIterations: Int
    public var kmeansSeed: UInt64
    public var kmeansSampleSize: Int
    public var averageResidual: Float
    public var createdBy: String

    public static func codeWidth(forCentroids k: Int) -> Int {
        k <= 1 << 8 ? 1 : (k <= 1 << 16 ? 2 : 4)
    }
}
