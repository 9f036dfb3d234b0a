import Foundation
import PlaidCore
import PlaidKernels

/// A coarse quantizer over the centroids themselves, so that a vector's nearest centroid is found
/// without scoring every centroid: k-means splits the centroids into groups, a vector is scored
/// against every group's center (8-bit products) and then, exactly, against the centroids of its
/// `probes` best groups. With G groups of k/G centroids that is G + probes·k/G products instead of
/// k: at 131,072 centroids, 512 groups and 4 probes, 85 times fewer.
///
/// Contract: the answer is the float argmax over the centroids of the probed groups, by the same
/// float sums as `NearestCentroidFinder`, so it is the brute-force answer whenever the nearest
/// centroid lies in a probed group, and otherwise a centroid a little farther (a miss). Misses
/// are not bounded by proof — in 128 dimensions the triangle bound rules out almost no group — but
/// measured: `CentroidGroupsTests` holds the miss rate under `CentroidGroups.missRateBound`
/// on clustered data, and docs/benchmarks.md reports it on the scale corpora. A miss costs a
/// larger residual for that token, not a wrong document.
///
/// Deterministic: the groups depend only on the centroids, and each vector's answer only on the
/// vector, never on how the work is split among threads. The centroids must be unit vectors (the
/// index's are): there is no bias term.
public final class CentroidGroups: @unchecked Sendable {
    public let dim: Int
    public let probes: Int
    /// Groups that received at least one centroid.
    public var groupCount: Int { members.count }
    /// Each group's centroids, as indices into the full set, ascending.
    public let members: [[Int32]]
    private let memberRows: [[Float]]
    private let memberSets: [OpaquePointer]
    private let centers: OpaquePointer

    /// The miss rate the tests hold the default grouping to, against brute force.
    public static let missRateBound = 0.02
    /// Groups probed per vector by default.
    public static let defaultProbes = 4

    /// The number of groups for `k` centroids: the power of two nearest below √(probes·k), which
    /// balances the G center products against the probes·k/G member products.
    public static func groupCount(centroids k: Int, probes: Int) -> Int {
        let target = Double(max(1, k * probes)).squareRoot()
        return min(k, max(1, 1 << Int(log2(target).rounded(.down))))
    }

    /// Groups `centroids` ([k, dim], unit rows) by k-means with `seed`, into `groups` groups
    /// (nil: `groupCount(centroids:probes:)`).
    public init(centroids: [Float], dim: Int, probes: Int = CentroidGroups.defaultProbes, groups: Int? = nil,
                seed: UInt64 = 0x67726f757073) {
        let k = centroids.count / dim
        precondition(k >= 1 && centroids.count == k * dim)
        self.dim = dim
        let g = min(k, max(1, groups ?? CentroidGroups.groupCount(centroids: k, probes: probes)))
        let trained = KMeans.train(points: centroids, dim: dim, k: g, iterations: 8, seed: seed)
        var owner = [Int32](repeating: 0, count: k)
        KMeans.assign(points: centroids, dim: dim, centroids: trained, k: g, into: &owner)
        var lists = [[Int32]](repeating: [], count: g)
        for c in 0..<k { lists[Int(owner[c])].append(Int32(c)) }
        // k-means repairs empty clusters while it iterates, but the last assignment can still
        // leave one empty: it is dropped, so that every probe finds centroids.
        let kept = (0..<g).filter { !lists[$0].isEmpty }
        members = kept.map { lists[$0] }
        memberRows = members.map { list in list.flatMap { c in centroids[(Int(c) * dim)..<((Int(c) + 1) * dim)] } }
        memberSets = memberRows.map { rows in
            rows.withUnsafeBufferPointer { p in
                guard let set = plaid_int8_centroids_create(p.baseAddress!, nil, rows.count / dim, dim) else {
                    preconditionFailure("out of memory grouping \(k) centroids")
                }
                return set
            }
        }
        let centerRows = kept.flatMap { trained[($0 * dim)..<(($0 + 1) * dim)] }
        guard let made = centerRows.withUnsafeBufferPointer({ plaid_int8_centroids_create($0.baseAddress!, nil, kept.count, dim) }) else {
            preconditionFailure("out of memory grouping \(k) centroids")
        }
        centers = made
        self.probes = min(probes, kept.count, 64)
    }

    deinit {
        plaid_int8_centroids_destroy(centers)
        for set in memberSets { plaid_int8_centroids_destroy(set) }
    }

    /// Vectors per work item: enough that each group gets rows to amortise its call.
    static let blockRows = 16_384

    /// Probes of the second look at a vector whose first answer scored below `recheckBelow`.
    public var recheckProbes: Int { min(groupCount, 64, 4 * probes) }

    /// Writes the nearest centroid among the probed groups of each of `n` vectors into `codes`,
    /// on all cores. A vector whose answer scores below `recheckBelow` (a miss scores far below
    /// a typical token: it is a centroid of another region) is looked at again with
    /// `recheckProbes` groups. `method` picks the 8-bit products (`.float32` and `.automatic`
    /// run VNNI where the CPU has it, the portable C products elsewhere).
    public func assign(_ points: UnsafePointer<Float>, count n: Int, into codes: UnsafeMutablePointer<Int32>,
                       recheckBelow: Float? = nil, method: NearestCentroidFinder.Method = .automatic) {
        guard n > 0 else { return }
        let kernel = NearestCentroidFinder.int8Kernel(for: method)
        let blocks = (n + Self.blockRows - 1) / Self.blockRows
        Parallel.forEach(blocks) { b in
            let start = b * Self.blockRows
            let rows = start..<min(n, start + Self.blockRows)
            let best = assignBlock(points, rows: rows, probes: probes, into: codes, kernel: kernel)
            guard let recheckBelow, recheckProbes > probes else { return }
            let doubtful = rows.filter { best[$0 - start] < recheckBelow }
            guard !doubtful.isEmpty else { return }
            // Gathered so that the second look runs as one block; its answers replace the first.
            var gathered = [Float](repeating: 0, count: doubtful.count * dim)
            for (i, row) in doubtful.enumerated() {
                for j in 0..<dim { gathered[i * dim + j] = points[row * dim + j] }
            }
            var second = [Int32](repeating: 0, count: doubtful.count)
            gathered.withUnsafeBufferPointer { g in
                second.withUnsafeMutableBufferPointer { out in
                    _ = assignBlock(g.baseAddress!, rows: 0..<doubtful.count, probes: recheckProbes, into: out.baseAddress!, kernel: kernel)
                }
            }
            for (i, row) in doubtful.enumerated() { codes[row] = second[i] }
        }
    }

    /// Assigns `rows` of `points` by probing `probes` groups; returns each row's exact score.
    private func assignBlock(_ points: UnsafePointer<Float>, rows: Range<Int>, probes p: Int, into codes: UnsafeMutablePointer<Int32>,
                             kernel: Int32) -> [Float] {
        let m = rows.count, width = (dim + 3) / 4 * 4
        // Each row is quantized once, for the group centers and every probed group.
        var quantizedCodes = [UInt8](repeating: 0, count: m * width)
        var scales = [Float](repeating: 0, count: m), l1 = [Float](repeating: 0, count: m)
        var top = [Int32](repeating: 0, count: m * p)
        var best: [Float] = []
        quantizedCodes.withUnsafeMutableBufferPointer { codesOut in
            scales.withUnsafeMutableBufferPointer { scalesOut in
                l1.withUnsafeMutableBufferPointer { l1Out in
                    var quantized = plaid_int8_rows(codes: codesOut.baseAddress!, scales: scalesOut.baseAddress!, l1: l1Out.baseAddress!)
                    plaid_int8_quantize_rows(points + rows.lowerBound * dim, m, dim, &quantized)
                    let status = plaid_int8_top_columns(centers, &quantized, m, p, &top, kernel)
                    precondition(status == 0, "choosing centroid groups failed (\(status))")
                    best = assignProbes(points, rows: rows, top: top, probes: p, quantized: &quantized, into: codes, kernel: kernel)
                }
            }
        }
        return best
    }

    /// The nearest centroid of each row among its probed groups (`top`, [rows, probes]), the
    /// group calls taking the rows' 8-bit form from `quantized` (indexed from `rows.lowerBound`).
    private func assignProbes(_ points: UnsafePointer<Float>, rows: Range<Int>, top: [Int32], probes p: Int, quantized: inout plaid_int8_rows,
                              into codes: UnsafeMutablePointer<Int32>, kernel: Int32) -> [Float] {
        let m = rows.count
        // Rows by group (a counting sort), for the gathering kernel.
        var offsets = [Int](repeating: 0, count: groupCount + 1)
        for g in top { offsets[Int(g) + 1] += 1 }
        for g in 0..<groupCount { offsets[g + 1] += offsets[g] }
        var byGroup = [Int32](repeating: 0, count: m * p)
        var fill = offsets
        for (i, g) in top.enumerated() {
            byGroup[fill[Int(g)]] = Int32(i / p)
            fill[Int(g)] += 1
        }
        var best = [Float](repeating: -.infinity, count: m)
        var bestIndex = [Int32](repeating: Int32.max, count: m)
        var local = [Int32](repeating: 0, count: m)
        var scores = [Float](repeating: 0, count: m)
        byGroup.withUnsafeBufferPointer { grouped in
            for g in 0..<groupCount where offsets[g + 1] > offsets[g] {
                let count = offsets[g + 1] - offsets[g]
                let status = memberRows[g].withUnsafeBufferPointer { member in
                    plaid_int8_nearest_rows(memberSets[g], member.baseAddress!, points + rows.lowerBound * dim, &quantized,
                                            grouped.baseAddress! + offsets[g], count, &local, &scores, nil, kernel)
                }
                precondition(status == 0, "assigning centroids failed (\(status))")
                for j in 0..<count {
                    let row = Int(grouped[offsets[g] + j])
                    let c = members[g][Int(local[j])]
                    // The brute-force order: the higher exact score, then the lower index.
                    if scores[j] > best[row] || (scores[j] == best[row] && c < bestIndex[row]) {
                        best[row] = scores[j]
                        bestIndex[row] = c
                    }
                }
            }
        }
        for r in 0..<m { codes[rows.lowerBound + r] = bestIndex[r] }
        return best
    }
}
