import XCTest
import PlaidCore
@testable import PlaidIndex

final class KMeansTests: XCTestCase {
    func testDeterministicUnderASeed() {
        let points = randomUnitVectors(2000, dim: 16, seed: 5)
        let a = KMeans.train(points: points, dim: 16, k: 32, iterations: 5, seed: 9)
        let b = KMeans.train(points: points, dim: 16, k: 32, iterations: 5, seed: 9)
        let c = KMeans.train(points: points, dim: 16, k: 32, iterations: 5, seed: 10)
        XCTAssertEqual(a, b)
        XCTAssertNotEqual(a, c)
    }

    func testCentroidsAreNormalised() {
        let points = randomUnitVectors(500, dim: 24, seed: 1)
        let centroids = KMeans.train(points: points, dim: 24, k: 16, iterations: 3, seed: 2)
        for c in 0..<16 {
            let norm = (0..<24).reduce(Float(0)) { $0 + centroids[c * 24 + $1] * centroids[c * 24 + $1] }.squareRoot()
            XCTAssertEqual(norm, 1, accuracy: 1e-5)
        }
    }

    func testEveryPointGoesToItsNearestCentroid() {
        let dim = 16, k = 40
        let points = randomUnitVectors(3000, dim: dim, seed: 21)
        // Unnormalised centroids exercise the −½‖c‖² bias of the L2 assignment.
        var rng = SeededRandom(seed: 4)
        let centroids = (0..<k * dim).map { _ in rng.nextGaussian() * 0.7 }
        var assignment = [Int32](repeating: -1, count: 3000)
        KMeans.assign(points: points, dim: dim, centroids: centroids, k: k, into: &assignment)
        for i in 0..<3000 {
            var best = 0, bestDistance = Float.infinity
            for c in 0..<k {
                var d: Float = 0
                for j in 0..<dim { let x = points[i * dim + j] - centroids[c * dim + j]; d += x * x }
                if d < bestDistance { bestDistance = d; best = c }
            }
            XCTAssertEqual(Int(assignment[i]), best, "point \(i)")
        }
    }

    func testDefaultCentroidCountFollowsPLAID() {
        XCTAssertEqual(KMeansParameters.defaultCentroidCount(embeddings: 1_000_000), 8192) // 16·1000 = 16000 → 2^13
        XCTAssertEqual(KMeansParameters.defaultCentroidCount(embeddings: 10_000), 1024)    // 1600 → 2^10
    }

    /// Shares follow the sizes, add up to the total, and give every nonempty group at least one
    /// centroid and no group more centroids than points.
    func testProportionalSharesAddUpAndRespectTheLimits() {
        XCTAssertEqual(KMeans.proportionalShares(of: 10, sizes: [50, 30, 20]), [5, 3, 2])
        XCTAssertEqual(KMeans.proportionalShares(of: 4, sizes: [97, 1, 1, 1]), [1, 1, 1, 1])
        XCTAssertEqual(KMeans.proportionalShares(of: 6, sizes: [2, 0, 100]), [1, 0, 5])
        for (total, sizes) in [(7, [3, 3, 3]), (100, [1, 500, 2, 0, 40]), (9, [1, 1, 1, 1, 1, 1, 1, 1, 1])] {
            let shares = KMeans.proportionalShares(of: total, sizes: sizes)
            XCTAssertEqual(shares.reduce(0, +), total, "\(sizes)")
            for (share, size) in zip(shares, sizes) {
                XCTAssertLessThanOrEqual(share, size)
                XCTAssertEqual(share == 0, size == 0)
            }
        }
    }

    /// Two-level k-means gives k unit centroids, the same under the same seed, near the points.
    func testTwoLevelKMeansIsSeededAndCoversThePoints() {
        let dim = 16, k = 64
        let points = randomUnitVectors(4_000, dim: dim, seed: 8)
        let (a, ends) = KMeans.trainInTwoLevels(points: points, dim: dim, k: k, groups: 8, iterations: 4, seed: 3)
        let b = KMeans.trainInTwoLevels(points: points, dim: dim, k: k, groups: 8, iterations: 4, seed: 3)
        XCTAssertEqual(a.count, k * dim)
        XCTAssertEqual(a, b.centroids)
        XCTAssertEqual(ends, b.groupEnds)
        XCTAssertNotEqual(a, KMeans.trainInTwoLevels(points: points, dim: dim, k: k, groups: 8, iterations: 4, seed: 4).centroids)
        // The groups split the centroids: ends increase, and the last is k.
        XCTAssertEqual(ends.last, k)
        XCTAssertEqual(ends, ends.sorted())
        XCTAssertEqual(Set(ends).count, ends.count)
        XCTAssertGreaterThan(ends.first ?? 0, 0)
        for c in 0..<k {
            let norm = (0..<dim).reduce(Float(0)) { $0 + a[c * dim + $1] * a[c * dim + $1] }.squareRoot()
            XCTAssertEqual(norm, 1, accuracy: 1e-5)
        }
        // Its centroids quantize about as well as flat k-means's: mean best score within 5%.
        let flat = KMeans.train(points: points, dim: dim, k: k, iterations: 4, seed: 3)
        func meanBest(_ centroids: [Float]) -> Float {
            var codes = [Int32](repeating: 0, count: 4_000)
            KMeans.assign(points: points, dim: dim, centroids: centroids, k: k, into: &codes)
            return (0..<4_000).reduce(Float(0)) { sum, i in
                sum + (0..<dim).reduce(Float(0)) { $0 + points[i * dim + $1] * centroids[Int(codes[i]) * dim + $1] }
            } / 4_000
        }
        XCTAssertGreaterThan(meanBest(a), 0.95 * meanBest(flat))
    }

    /// The sample grows with the centroids up to the memory budget, then stops.
    func testTheSampleStopsAtTheMemoryBudget() {
        let defaults = KMeansParameters()
        XCTAssertEqual(defaults.sampleCount(embeddings: 10_000_000, centroids: 8_192, dim: 128), 48 * 8_192)
        XCTAssertEqual(defaults.sampleCount(embeddings: 100_000_000, centroids: 131_072, dim: 128),
                       KMeansParameters.sampleMemoryBudget / (4 * 128))
        XCTAssertEqual(defaults.sampleCount(embeddings: 1_000, centroids: 64, dim: 128), 1_000)
    }
}
