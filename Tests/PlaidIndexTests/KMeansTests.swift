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
}
