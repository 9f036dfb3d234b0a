import Foundation
import PlaidCore
import PlaidKernels

/// The coarse quantizer: the normalised centroids and the assignment of a vector to its
/// nearest one (faiss: `Level1Quantizer`). For unit vectors and unit centroids the nearest
/// centroid in L2 is the one of largest inner product.
public struct CoarseQuantizer: Sendable {
    /// [count, dim], row-major, each row of unit norm.
    public let centroids: [Float]
    public let dim: Int
    public var count: Int { centroids.count / dim }

    public init(centroids: [Float], dim: Int) {
        precondition(centroids.count % dim == 0)
        self.centroids = centroids
        self.dim = dim
    }

    /// Nearest centroid of each of `count` vectors ([count, dim]).
    public func assign(_ vectors: UnsafePointer<Float>, count n: Int, into codes: UnsafeMutablePointer<Int32>) {
        centroids.withUnsafeBufferPointer { cen in
            CoarseQuantizer.nearest(points: vectors, count: n, dim: dim, centroids: cen.baseAddress!,
                                    k: count, bias: nil, into: codes)
        }
    }

    /// Rows of points per BLAS product: large enough for sgemm to run near peak (measured here:
    /// 27 GFLOP/s per core at 256 rows, 33 at 1024, for 8192 centroids of dimension 128), small
    /// enough that the [block, k] score matrix stays at tens of MB.
    static let blockRows = 1024

    /// argmax over c of (x·c − bias[c]) for each point, in blocks, on all cores.
    /// Each block is one sgemm with OpenBLAS on a single thread, so results do not depend on the thread count.
    static func nearest(points: UnsafePointer<Float>, count n: Int, dim: Int, centroids: UnsafePointer<Float>,
                        k: Int, bias: [Float]?, into out: UnsafeMutablePointer<Int32>) {
        // Fewer rows per block when there are many centroids, so each thread's score block stays
        // near 32 MB whatever the corpus size.
        let blockRows = min(CoarseQuantizer.blockRows, max(16, (32 << 20) / (4 * k)))
        let blocks = (n + blockRows - 1) / blockRows
        let previousThreads = BLAS.threadCount
        BLAS.setThreadCount(1)
        defer { BLAS.setThreadCount(previousThreads) }
        Parallel.forEach(blocks) { b in
            let start = b * blockRows
            let rows = min(blockRows, n - start)
            let scores = UnsafeMutablePointer<Float>.allocate(capacity: rows * k)
            defer { scores.deallocate() }
            BLAS.matmulTransposedB(points + start * dim, centroids, scores, m: rows, n: k, k: dim)
            if let bias {
                bias.withUnsafeBufferPointer { plaid_argmax_rows(scores, rows, k, $0.baseAddress!, out + start) }
            } else {
                plaid_argmax_rows(scores, rows, k, nil, out + start)
            }
        }
    }
}
