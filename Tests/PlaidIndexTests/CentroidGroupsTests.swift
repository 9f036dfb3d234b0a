import XCTest
import PlaidKernels
import PlaidCore
@testable import PlaidIndex

/// Grouped assignment (`CentroidGroups`) against brute force (`NearestCentroidFinder`): exact when
/// every group is probed, within the stated miss rate at the default probes, and the same answer
/// whatever the kernel or the split of the work.
final class CentroidGroupsTests: XCTestCase {
    /// Clustered unit vectors as an index sees them (the synthetic corpus's query tokens: term
    /// directions plus noise), centroids trained on the first half by k-means, the second half to assign.
    private func clusteredSet(centroids k: Int) -> (centroids: [Float], points: [Float], dim: Int) {
        let corpus = SyntheticCorpus(documents: 2_000, dim: 64, terms: 1_024, topics: 64, seed: 5)
        let tokens = corpus.queries(count: 1_000, tokens: 32).values
        let half = tokens.count / 2
        let centroids = KMeans.train(points: Array(tokens[..<half]), dim: 64, k: k, iterations: 4, seed: 9)
        return (centroids, Array(tokens[half...]), 64)
    }

    private func bruteForce(_ centroids: [Float], _ points: [Float], dim: Int) -> [Int32] {
        var codes = [Int32](repeating: -1, count: points.count / dim)
        let finder = NearestCentroidFinder(centroids: centroids, dim: dim)
        points.withUnsafeBufferPointer { p in codes.withUnsafeMutableBufferPointer { finder.assign(p.baseAddress!, count: points.count / dim, into: $0.baseAddress!) } }
        return codes
    }

    private func grouped(_ groups: CentroidGroups, _ points: [Float], method: NearestCentroidFinder.Method = .automatic) -> [Int32] {
        var codes = [Int32](repeating: -1, count: points.count / groups.dim)
        points.withUnsafeBufferPointer { p in
            codes.withUnsafeMutableBufferPointer { groups.assign(p.baseAddress!, count: points.count / groups.dim, into: $0.baseAddress!, method: method) }
        }
        return codes
    }

    func testProbingEveryGroupIsBruteForce() {
        let (centroids, points, dim) = clusteredSet(centroids: 512)
        let all = CentroidGroups(centroids: centroids, dim: dim, probes: 16, groups: 16)
        XCTAssertEqual(all.probes, all.groupCount, "16 probes cover the \(all.groupCount) groups")
        let exact = bruteForce(centroids, points, dim: dim)
        XCTAssertEqual(zip(grouped(all, points), exact).filter { $0 != $1 }.count, 0)
    }

    func testTheDefaultProbesMissFewerThanTheStatedBound() {
        let (centroids, points, dim) = clusteredSet(centroids: 2_048)
        let groups = CentroidGroups(centroids: centroids, dim: dim)
        XCTAssertEqual(groups.members.map(\.count).reduce(0, +), 2_048, "every centroid belongs to one group")
        XCTAssertEqual(Set(groups.members.joined()).count, 2_048)
        let exact = bruteForce(centroids, points, dim: dim)
        let found = grouped(groups, points)
        let misses = zip(exact, found).filter { $0 != $1 }.count
        let rate = Double(misses) / Double(exact.count)
        print("grouped assignment: \(groups.groupCount) groups, \(groups.probes) probes, \(misses) misses in \(exact.count) (\(rate))")
        XCTAssertLessThanOrEqual(rate, CentroidGroups.missRateBound)
        // A miss is a centroid of a probed group, never one nearer than the nearest.
        for (i, (e, f)) in zip(exact, found).enumerated() where e != f {
            let x = points[(i * dim)..<((i + 1) * dim)]
            let dot = { (c: Int32) in zip(x, centroids[(Int(c) * dim)..<((Int(c) + 1) * dim)]).map(*).reduce(0, +) }
            XCTAssertLessThanOrEqual(dot(f), dot(e) + 1e-5)
        }
    }

    /// The second look (more groups for a vector whose answer scores low) only ever replaces an
    /// answer by a nearer centroid, and finds most of what one probe missed.
    func testASecondLookAtLowScoresRecoversMisses() {
        let (centroids, points, dim) = clusteredSet(centroids: 2_048)
        let exact = bruteForce(centroids, points, dim: dim)
        let groups = CentroidGroups(centroids: centroids, dim: dim, probes: 1)
        let first = grouped(groups, points)
        var second = [Int32](repeating: -1, count: exact.count)
        points.withUnsafeBufferPointer { p in
            second.withUnsafeMutableBufferPointer { groups.assign(p.baseAddress!, count: exact.count, into: $0.baseAddress!, recheckBelow: 0.8) }
        }
        let dot = { (i: Int, c: Int32) in zip(points[(i * dim)..<((i + 1) * dim)], centroids[(Int(c) * dim)..<((Int(c) + 1) * dim)]).map(*).reduce(0, +) }
        var lookedAgain = 0
        for i in 0..<exact.count {
            if dot(i, first[i]) >= 0.8 { XCTAssertEqual(second[i], first[i]) } else { lookedAgain += 1 }
            XCTAssertGreaterThanOrEqual(dot(i, second[i]), dot(i, first[i]) - 1e-5)
        }
        let missesBefore = zip(exact, first).filter { $0 != $1 }.count, missesAfter = zip(exact, second).filter { $0 != $1 }.count
        print("second look: \(lookedAgain) of \(exact.count) vectors, misses \(missesBefore) → \(missesAfter)")
        XCTAssertGreaterThan(lookedAgain, 0)
        XCTAssertLessThan(missesAfter * 2, missesBefore)
    }

    /// One probe finds fewer nearest centroids than the default; the bound is not met by accident.
    func testFewerProbesMissMore() {
        let (centroids, points, dim) = clusteredSet(centroids: 2_048)
        let exact = bruteForce(centroids, points, dim: dim)
        let misses = { (probes: Int) in
            zip(exact, self.grouped(CentroidGroups(centroids: centroids, dim: dim, probes: probes), points)).filter { $0 != $1 }.count
        }
        XCTAssertGreaterThan(misses(1), misses(CentroidGroups.defaultProbes))
    }

    /// Without VNNI, an AVX2 CPU runs the AVX2 products, not the plain C ones (six times slower
    /// on a Zen 2, docs/benchmarks.md).
    func testTheFastestKernelTheCPURunsIsChosen() {
        let automatic = NearestCentroidFinder.int8Kernel(for: .automatic)
        if NearestCentroidFinder.hasVNNI {
            XCTAssertEqual(automatic, Int32(PLAID_INT8_KERNEL_VNNI))
        } else if NearestCentroidFinder.hasAVX2 {
            XCTAssertEqual(automatic, Int32(PLAID_INT8_KERNEL_AVX2))
        } else {
            XCTAssertEqual(automatic, Int32(PLAID_INT8_KERNEL_PORTABLE))
        }
        print("CentroidGroupsTests: the grouped assignment runs int8 kernel \(automatic) (1 portable, 2 VNNI, 3 AVX2)")
    }

    func testEveryKernelAndEverySplitGiveTheSameAnswer() {
        let (centroids, points, dim) = clusteredSet(centroids: 1_024)
        let groups = CentroidGroups(centroids: centroids, dim: dim, probes: 2)
        let whole = grouped(groups, points)
        XCTAssertTrue(grouped(groups, points, method: .int8Portable) == whole)
        if NearestCentroidFinder.hasAVX2 { XCTAssertTrue(grouped(groups, points, method: .int8AVX2) == whole) }
        if NearestCentroidFinder.hasVNNI { XCTAssertTrue(grouped(groups, points, method: .int8) == whole) }
        let cut = 1_001
        XCTAssertTrue(grouped(groups, Array(points[..<(cut * dim)])) + grouped(groups, Array(points[(cut * dim)...])) == whole)
        XCTAssertEqual(whole.count, points.count / dim)
    }

    /// The quantizer switches to groups at `groupedAssignmentFrom` centroids; below, it is brute force.
    func testTheQuantizerGroupsOnlyManyCentroids() {
        let (centroids, points, dim) = clusteredSet(centroids: 256)
        XCTAssertGreaterThan(CoarseQuantizer.groupedAssignmentFrom, 256)
        let quantizer = CoarseQuantizer(centroids: centroids, dim: dim)
        var codes = [Int32](repeating: -1, count: points.count / dim)
        points.withUnsafeBufferPointer { p in codes.withUnsafeMutableBufferPointer { quantizer.assign(p.baseAddress!, count: points.count / dim, into: $0.baseAddress!) } }
        XCTAssertTrue(codes == bruteForce(centroids, points, dim: dim))
    }
}
