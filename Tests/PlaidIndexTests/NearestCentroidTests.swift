import XCTest
import PlaidCore
import PlaidKernels
@testable import PlaidIndex

/// The 8-bit pruning must give the float argmax exactly, on every kernel this CPU runs.
final class NearestCentroidTests: XCTestCase {
    /// Points near centroids, so that many lie close to two of them (near-ties), with shapes that
    /// are not multiples of the kernel's tiles: k = 300 (tiles of 64), dim = 101 (steps of 4),
    /// n = 1,031 (blocks of 64 and 4).
    private func clusteredSet(k: Int, dim: Int, n: Int, seed: UInt64) -> (centroids: [Float], points: [Float]) {
        let centroids = randomUnitVectors(k, dim: dim, seed: seed)
        var rng = SeededRandom(seed: seed + 1)
        var points = [Float](repeating: 0, count: n * dim)
        for i in 0..<n {
            // Halfway between two centroids plus a little noise: the hardest case for pruning.
            let a = Int(rng.next() % UInt64(k)), b = Int(rng.next() % UInt64(k))
            var norm: Float = 0
            for j in 0..<dim {
                let v = 0.5 * (centroids[a * dim + j] + centroids[b * dim + j]) + 0.01 * rng.nextGaussian()
                points[i * dim + j] = v
                norm += v * v
            }
            for j in 0..<dim { points[i * dim + j] /= norm.squareRoot() }
        }
        return (centroids, points)
    }

    private func reference(_ centroids: [Float], _ points: [Float], dim: Int, bias: [Float]?) -> [Int32] {
        let k = centroids.count / dim, n = points.count / dim
        var out = [Int32](repeating: -1, count: n)
        centroids.withUnsafeBufferPointer { c in points.withUnsafeBufferPointer { p in out.withUnsafeMutableBufferPointer { o in
            if let bias {
                bias.withUnsafeBufferPointer { plaid_nearest_exact_float(c.baseAddress!, k, dim, $0.baseAddress!, p.baseAddress!, n, o.baseAddress!) }
            } else {
                plaid_nearest_exact_float(c.baseAddress!, k, dim, nil, p.baseAddress!, n, o.baseAddress!)
            }
        } } }
        return out
    }

    private func assign(_ finder: NearestCentroidFinder, _ points: [Float], method: NearestCentroidFinder.Method) -> (codes: [Int32], rescored: Int) {
        let n = points.count / finder.dim
        var codes = [Int32](repeating: -1, count: n)
        let rescored = points.withUnsafeBufferPointer { p in
            codes.withUnsafeMutableBufferPointer { finder.assign(p.baseAddress!, count: n, into: $0.baseAddress!, method: method) }
        }
        return (codes, rescored)
    }

    /// The int8 kernels this CPU can run; the test says which it ran.
    private var int8Methods: [NearestCentroidFinder.Method] {
        [.int8Portable] + (NearestCentroidFinder.hasAVX2 ? [.int8AVX2] : []) + (NearestCentroidFinder.hasVNNI ? [.int8] : [])
    }

    func testInt8PruningGivesTheExactFloatArgmax() {
        for (k, dim, n) in [(300, 101, 1031), (5, 3, 70), (64, 128, 256), (1, 8, 9)] {
            let (centroids, points) = clusteredSet(k: k, dim: dim, n: n, seed: UInt64(k + dim))
            // Unnormalised centroids with the k-means bias ½‖c‖², and unit ones without bias.
            let scaled = centroids.enumerated().map { $0.element * (0.6 + 0.4 * Float(($0.offset / dim) % 7) / 6) }
            let bias = (0..<k).map { c in 0.5 * (0..<dim).reduce(Float(0)) { $0 + scaled[c * dim + $1] * scaled[c * dim + $1] } }
            for (rows, b) in [(centroids, nil as [Float]?), (scaled, bias)] {
                let expected = reference(rows, points, dim: dim, bias: b)
                let finder = NearestCentroidFinder(centroids: rows, dim: dim, bias: b)
                for method in int8Methods {
                    let (codes, rescored) = assign(finder, points, method: method)
                    XCTAssertEqual(codes, expected, "k \(k) dim \(dim) \(method) bias \(b != nil)")
                    XCTAssertGreaterThanOrEqual(rescored, n, "each point scores at least its best centroid in float")
                }
            }
        }
        print("NearestCentroidTests ran the int8 kernels: \(int8Methods)")
    }

    /// The float32 (sgemm) path sums in another order, so it may differ only where two
    /// centroids' scores tie to float rounding.
    func testFloatProductsAgreeUpToRounding() {
        let dim = 101, k = 300
        let (centroids, points) = clusteredSet(k: k, dim: dim, n: 1031, seed: 77)
        let finder = NearestCentroidFinder(centroids: centroids, dim: dim)
        let (floatCodes, _) = assign(finder, points, method: .float32)
        let expected = reference(centroids, points, dim: dim, bias: nil)
        func score(_ i: Int, _ c: Int32) -> Float {
            (0..<dim).reduce(Float(0)) { $0 + points[i * dim + $1] * centroids[Int(c) * dim + $1] }
        }
        var differing = 0
        for i in 0..<expected.count where floatCodes[i] != expected[i] {
            differing += 1
            XCTAssertEqual(score(i, floatCodes[i]), score(i, expected[i]), accuracy: 1e-5, "point \(i)")
        }
        XCTAssertLessThan(differing, 10)
    }

    /// The pruning is only worth it if few centroids are scored again: on unit vectors of
    /// dimension 128 near 1,024 centroids, well under a tenth of them.
    func testThePruningScoresFewCentroidsInFloat() {
        let dim = 128, k = 1024, n = 2048
        let (centroids, points) = clusteredSet(k: k, dim: dim, n: n, seed: 3)
        let finder = NearestCentroidFinder(centroids: centroids, dim: dim)
        let (_, rescored) = assign(finder, points, method: .int8Portable)
        XCTAssertLessThan(Double(rescored) / Double(n), Double(k) / 10)
    }
}
