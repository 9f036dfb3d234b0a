import Foundation
import PlaidCore

/// The groups of a codebook's centroids that search probes: the contiguous runs of centroids
/// two-level k-means trained together (`Codebook.centroidGroupEnds`), each with a center, the
/// mean of its centroids. Stage 1 scores a query token against the centers, and only the
/// centroids of its best groups against the token (`Searcher`, grouped stage 1).
///
/// Centroids past the last group (appended by later additions) form the tail, which every
/// search scores in full.
public struct CentroidSearchGroups: Sendable {
    /// Exclusive ends of the groups, increasing; group g is `ends[g-1]..<ends[g]` (from 0 for g = 0).
    public let ends: [Int]
    /// [groups, dim]: each group's mean centroid.
    public let centers: [Float]
    /// Centroids in no group.
    public let tail: Range<Int>
    public var count: Int { ends.count }
    /// The most centroids a group has.
    public let largestGroup: Int

    public func members(of g: Int) -> Range<Int> { (g == 0 ? 0 : ends[g - 1])..<ends[g] }

    /// Whether `ends` can describe the groups of a codebook of `centroidCount` centroids of which
    /// the first `trained` were trained: nonempty, positive, strictly increasing, within `trained`.
    public static func isValid(ends: [Int], trained: Int, centroidCount: Int) -> Bool {
        guard let first = ends.first, let last = ends.last, first > 0, last <= trained, trained <= centroidCount else { return false }
        return zip(ends, ends.dropFirst()).allSatisfy { $0 < $1 }
    }

    /// The groups `ends` over `centroids` ([count, dim]); `ends` must be valid for them.
    public init(centroids: [Float], dim: Int, ends: [Int]) {
        let total = centroids.count / dim
        precondition(CentroidSearchGroups.isValid(ends: ends, trained: ends.last ?? 0, centroidCount: total))
        var centers = [Float](repeating: 0, count: ends.count * dim)
        centroids.withUnsafeBufferPointer { rows in
            centers.withUnsafeMutableBufferPointer { out in
                var start = 0
                for (g, end) in ends.enumerated() {
                    let center = out.baseAddress! + g * dim
                    for c in start..<end {
                        let row = rows.baseAddress! + c * dim
                        for j in 0..<dim { center[j] += row[j] }
                    }
                    let scale = 1 / Float(end - start)
                    for j in 0..<dim { center[j] *= scale }
                    start = end
                }
            }
        }
        self.ends = ends
        self.centers = centers
        largestGroup = zip(ends, [0] + ends).map { $0 - $1 }.max() ?? 0
        tail = (ends.last ?? 0)..<total
    }
}
