import Foundation
import PlaidCore

/// The coarse quantizer: the normalised centroids, the assignment of a vector to its nearest
/// one (faiss: `Level1Quantizer`), and a query's scores against all of them. For unit vectors
/// and unit centroids the nearest centroid in L2 is the one of largest inner product.
///
/// From `groupedAssignmentFrom` centroids on, `assign` goes through `CentroidGroups` (a few
/// groups of centroids per vector instead of all of them, with a measured miss rate); below it,
/// every centroid is scored and the answer is exact.
public struct CoarseQuantizer: Sendable {
    /// The centroid count from which assignment probes groups of centroids (see `CentroidGroups`).
    public static let groupedAssignmentFrom = 16_384
    /// [count, dim], row-major, each row of unit norm.
    public var centroids: [Float] { finder.centroids }
    public var dim: Int { finder.dim }
    public var count: Int { finder.count }
    /// Holds the centroids and, once a vector is assigned, their 8-bit form.
    private let finder: NearestCentroidFinder
    /// Holds the centroids' 16-bit form once a query is scored.
    private let scorer: CentroidScorer
    /// Made on the first grouped assignment: searching never needs it.
    private let groups = LazyCentroidGroups()

    /// For grouped assignment: a vector farther than this squared distance from the centroid
    /// its groups gave is looked at again with more groups (`CentroidGroups.assign`). Writers
    /// set it to the codebook's outlier distance; nil: no second look.
    public let recheckDistance: Float?

    public init(centroids: [Float], dim: Int, recheckDistance: Float? = nil) {
        precondition(centroids.count % dim == 0)
        self.recheckDistance = recheckDistance
        finder = NearestCentroidFinder(centroids: centroids, dim: dim)
        scorer = CentroidScorer(centroids: centroids, dim: dim)
    }

    /// scores[b][c · tokens + t] = centroid c · token t of query b ([queries, count, tokens]), for
    /// queries [queries, tokens, dim], on the calling thread.
    public func scores(queries: UnsafePointer<Float>, count queryCount: Int = 1, tokens: Int,
                       into scores: UnsafeMutablePointer<Float>, method: CentroidScorer.Method = .automatic) {
        scorer.scores(queries: queries, count: queryCount, tokens: tokens, into: scores, method: method)
    }

    /// scores[r · tokens + t] = centroid ids[r] · token t of one query [tokens, dim]: the floats
    /// `scores(queries:...)` gives those centroids.
    public func scores(query: UnsafePointer<Float>, tokens: Int, of ids: [Int32], into scores: UnsafeMutablePointer<Float>,
                       method: CentroidScorer.Method = .automatic) {
        scorer.scores(query: query, tokens: tokens, of: ids, into: scores, method: method)
    }

    /// The scores of `token` [dim] against the centroids of each of `ranges`, range after range,
    /// in 16 bits: what `scores(queries:...)` gives those pairs with `.int16`.
    public func scores(token: UnsafePointer<Float>, ranges: [Range<Int>], into scores: UnsafeMutablePointer<Float>) {
        scorer.scores(token: token, ranges: ranges, into: scores)
    }

    /// `scorer.screenedScores`: the 16-bit scores of `token` against the centroids of `range`
    /// that could reach `threshold` or the range's best `keep` above `worst`, with their offsets.
    public func screenedScores(token: UnsafePointer<Float>, range: Range<Int>, threshold: Float, worst: Float, keep: Int,
                               offsets: UnsafeMutablePointer<Int32>, scores: UnsafeMutablePointer<Float>,
                               scratch: UnsafeMutablePointer<Float>) -> Int {
        scorer.screenedScores(token: token, range: range, threshold: threshold, worst: worst, keep: keep, offsets: offsets,
                              scores: scores, scratch: scratch)
    }

    /// Nearest centroid of each of `count` vectors ([count, dim]), on all cores.
    public func assign(_ vectors: UnsafePointer<Float>, count n: Int, into codes: UnsafeMutablePointer<Int32>) {
        if count >= Self.groupedAssignmentFrom {
            // Unit vectors and centroids: ‖x − c‖² = 2 − 2·x·c.
            groups.get(centroids: finder.centroids, dim: dim).assign(vectors, count: n, into: codes,
                                                                    recheckBelow: recheckDistance.map { 1 - $0 / 2 })
        } else {
            finder.assign(vectors, count: n, into: codes)
        }
    }
}

/// The centroid groups of a quantizer, made once on first use by whichever thread gets there.
private final class LazyCentroidGroups: @unchecked Sendable {
    private let lock = NSLock()
    private var groups: CentroidGroups?

    func get(centroids: [Float], dim: Int) -> CentroidGroups {
        lock.lock(); defer { lock.unlock() }
        if let groups { return groups }
        let made = CentroidGroups(centroids: centroids, dim: dim)
        groups = made
        return made
    }
}
