import Foundation
import PlaidCore
import PlaidKernels

/// Parameters of the k-means that trains the coarse quantizer (faiss: `ClusteringParameters`).
public struct KMeansParameters: Sendable, Equatable {
    /// Number of centroids. `nil` uses PLAID's rule, 2^floor(log2(16·√embeddings)).
    public var centroids: Int?
    /// Lloyd iterations after initialisation (ColBERT's `kmeans_niters` defaults to 4).
    public var iterations: Int
    /// The most iterations a caller may ask for: far past where k-means stops moving, and a
    /// bound on a build's time.
    public static let maximumIterations = 1_000
    /// Seed of the sample, the initial centroids and empty-cluster repairs.
    public var seed: UInt64
    /// Embeddings sampled for training. `nil`: 48 per centroid, at most 1 GiB of vectors and all of them.
    public var sampleSize: Int?

    /// From this many centroids on, k-means runs in two levels and the index records the groups
    /// that search probes (`Codebook.centroidGroupEnds`).
    public var twoLevelFrom: Int

    public init(centroids: Int? = nil, iterations: Int = 4, seed: UInt64 = 42, sampleSize: Int? = nil,
                twoLevelFrom: Int = KMeansParameters.defaultTwoLevelFrom) {
        self.centroids = centroids
        self.twoLevelFrom = twoLevelFrom
        self.iterations = iterations
        self.seed = seed
        self.sampleSize = sampleSize
    }

    /// PLAID's default number of centroids for a collection of `embeddings` token vectors.
    public static func defaultCentroidCount(embeddings: Int) -> Int {
        let target = 16.0 * Double(max(1, embeddings)).squareRoot()
        return 1 << Int(log2(target).rounded(.down))
    }

    public func centroidCount(embeddings: Int) -> Int {
        min(centroids ?? KMeansParameters.defaultCentroidCount(embeddings: embeddings), max(1, embeddings))
    }

    /// Vectors sampled for training: `sampleSize`, else 48 per centroid, at most
    /// `sampleMemoryBudget` bytes of float vectors (the sample is most of a build's memory), and
    /// at most every embedding.
    public func sampleCount(embeddings: Int, centroids k: Int, dim: Int) -> Int {
        min(embeddings, sampleSize ?? min(48 * k, KMeansParameters.sampleMemoryBudget / (4 * max(1, dim))))
    }

    /// Bytes of sampled vectors a default build holds: 1 GiB, 2,097,152 vectors of dimension 128.
    public static let sampleMemoryBudget = 1 << 30

    /// By default k-means runs in two levels (`KMeans.trainInTwoLevels`) from the count from
    /// which assignment probes groups too, so that one threshold switches both.
    public static let defaultTwoLevelFrom = CoarseQuantizer.groupedAssignmentFrom
}

/// Lloyd's k-means with L2 assignment by `NearestCentroidFinder`: argmin‖x − c‖² =
/// argmax(x·c − ½‖c‖²). Deterministic under a seed: the sums are taken in point order on one
/// thread, and each point's assignment does not depend on how work is split.
public enum KMeans {
    /// Trains `k` centroids on `points` ([n, dim], row-major). Returns [k, dim], each row L2-normalised.
    public static func train(points: [Float], dim: Int, k: Int, iterations: Int, seed: UInt64,
                             progress: ((Int) -> Void)? = nil) -> [Float] {
        let n = points.count / dim
        precondition(n >= 1 && k >= 1 && k <= n, "k-means needs 1 ≤ k ≤ number of points")
        var rng = SeededRandom(seed: seed)
        var centroids = [Float](repeating: 0, count: k * dim)
        // Initialise from k distinct points, chosen by the seed.
        let initial = rng.sample(k, from: n)
        for (c, p) in initial.enumerated() {
            for j in 0..<dim { centroids[c * dim + j] = points[p * dim + j] }
        }
        var assignment = [Int32](repeating: 0, count: n)
        for iteration in 0..<iterations {
            assign(points: points, dim: dim, centroids: centroids, k: k, into: &assignment)
            var sums = [Double](repeating: 0, count: k * dim)
            var counts = [Int](repeating: 0, count: k)
            for i in 0..<n {
                let c = Int(assignment[i])
                counts[c] += 1
                for j in 0..<dim { sums[c * dim + j] += Double(points[i * dim + j]) }
            }
            for c in 0..<k {
                if counts[c] == 0 {
                    // An empty cluster restarts at a random point, as faiss does (split instead
                    // would need the largest cluster's members; a random point is simpler and seeded).
                    let p = Int(rng.next() % UInt64(n))
                    for j in 0..<dim { centroids[c * dim + j] = points[p * dim + j] }
                } else {
                    let inv = 1.0 / Double(counts[c])
                    for j in 0..<dim { centroids[c * dim + j] = Float(sums[c * dim + j] * inv) }
                }
            }
            progress?(iteration + 1)
        }
        normalizeRows(&centroids, dim: dim)
        return centroids
    }

    /// Two-level k-means for many centroids: `groups` centroids trained on all the points, then
    /// each group's points split by their own k-means into a share of the `k` centroids
    /// proportional to the group's size (at least one, at most one per point). A flat k-means
    /// compares every point with all k centroids each iteration; this compares it with `groups`,
    /// then with its group's k/groups. Returns the centroids [k, dim], unit rows, group after
    /// group, and where each group's centroids end (exclusive, increasing, the last k; a group
    /// that received no point has no centroids and no end): search probes the centroids in groups.
    /// `progress` receives the groups done (of `groups` + 1: the first level counts as one).
    public static func trainInTwoLevels(points: [Float], dim: Int, k: Int, groups: Int, iterations: Int, seed: UInt64,
                                        progress: ((Int) -> Void)? = nil) -> (centroids: [Float], groupEnds: [Int]) {
        let n = points.count / dim
        precondition(n >= 1 && k >= 1 && k <= n && groups >= 1 && groups <= k, "two-level k-means needs 1 ≤ groups ≤ k ≤ points")
        let centers = train(points: points, dim: dim, k: groups, iterations: iterations, seed: seed)
        var owner = [Int32](repeating: 0, count: n)
        assign(points: points, dim: dim, centroids: centers, k: groups, into: &owner)
        progress?(1)
        var members = [[Int]](repeating: [], count: groups)
        for i in 0..<n { members[Int(owner[i])].append(i) }
        let shares = proportionalShares(of: k, sizes: members.map(\.count))
        var centroids: [Float] = []
        var ends: [Int] = []
        centroids.reserveCapacity(k * dim)
        for g in 0..<groups {
            if shares[g] > 0 {
                var groupPoints = [Float]()
                groupPoints.reserveCapacity(members[g].count * dim)
                for i in members[g] { groupPoints += points[(i * dim)..<((i + 1) * dim)] }
                centroids += train(points: groupPoints, dim: dim, k: shares[g], iterations: iterations, seed: seed &+ UInt64(g + 1))
                ends.append(centroids.count / dim)
            }
            progress?(g + 2)
        }
        return (centroids, ends)
    }

    /// Splits `total` among groups of the given sizes in proportion to them (largest remainders
    /// first, the lower group on ties), each nonempty group getting at least 1 and at most its
    /// size. Needs total ≤ Σ sizes and total ≥ the number of nonempty groups.
    static func proportionalShares(of total: Int, sizes: [Int]) -> [Int] {
        let n = sizes.reduce(0, +)
        let quotas = sizes.map { Double(total) * Double($0) / Double(max(1, n)) }
        var shares = zip(sizes, quotas).map { size, quota in size == 0 ? 0 : min(size, max(1, Int(quota))) }
        var left = total - shares.reduce(0, +)
        let byRemainder = sizes.indices.sorted { a, b in
            let ra = quotas[a] - Double(shares[a]), rb = quotas[b] - Double(shares[b])
            return ra != rb ? ra > rb : a < b
        }
        while left > 0 {
            for g in byRemainder where left > 0 && shares[g] < sizes[g] { shares[g] += 1; left -= 1 }
        }
        while left < 0 {
            for g in byRemainder.reversed() where left < 0 && shares[g] > 1 { shares[g] -= 1; left += 1 }
        }
        return shares
    }

    /// Index of the nearest centroid (L2) of every point, on all cores.
    public static func assign(points: [Float], dim: Int, centroids: [Float], k: Int, into assignment: inout [Int32]) {
        let n = points.count / dim
        let halfNorms = (0..<k).map { c in
            centroids.withUnsafeBufferPointer { 0.5 * plaid_squared_norm($0.baseAddress! + c * dim, dim) }
        }
        let finder = NearestCentroidFinder(centroids: centroids, dim: dim, bias: halfNorms)
        points.withUnsafeBufferPointer { pts in
            assignment.withUnsafeMutableBufferPointer { out in
                finder.assign(pts.baseAddress!, count: n, into: out.baseAddress!)
            }
        }
    }

    static func normalizeRows(_ m: inout [Float], dim: Int) {
        let rows = m.count / dim
        m.withUnsafeMutableBufferPointer { p in
            for r in 0..<rows {
                let row = p.baseAddress! + r * dim
                let norm = plaid_squared_norm(row, dim).squareRoot()
                if norm > 0 { for j in 0..<dim { row[j] /= norm } }
            }
        }
    }
}
