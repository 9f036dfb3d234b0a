import Foundation
import PlaidCore

/// The coarse quantizer: the normalised centroids and the assignment of a vector to its
/// nearest one (faiss: `Level1Quantizer`). For unit vectors and unit centroids the nearest
/// centroid in L2 is the one of largest inner product.
public struct CoarseQuantizer: Sendable {
    /// [count, dim], row-major, each row of unit norm.
    public var centroids: [Float] { finder.centroids }
    public var dim: Int { finder.dim }
    public var count: Int { finder.count }
    /// Holds the centroids and, once a vector is assigned, their 8-bit form.
    private let finder: NearestCentroidFinder

    public init(centroids: [Float], dim: Int) {
        precondition(centroids.count % dim == 0)
        finder = NearestCentroidFinder(centroids: centroids, dim: dim)
    }

    /// Nearest centroid of each of `count` vectors ([count, dim]), on all cores.
    public func assign(_ vectors: UnsafePointer<Float>, count n: Int, into codes: UnsafeMutablePointer<Int32>) {
        finder.assign(vectors, count: n, into: codes)
    }
}
