import Foundation
import PlaidCore
import PlaidKernels

/// The nearest of `k` centroids for many vectors: argmax over c of (x·c − bias[c]), the first c
/// on ties. With unit centroids and no bias this is the nearest in L2; k-means passes
/// bias = ½‖c‖² for centroids that are not unit. Shapes: centroids [k, dim], points [n, dim],
/// codes [n].
///
/// Two ways to the same answer:
/// - `.int8` (CPUs with AVX-512 VNNI): 8-bit products with a proven error bound prune the
///   centroids, and the few the bound cannot rule out are scored in float (nearest_centroid.c).
///   About four times fewer cycles per product than float, and the answer is the float argmax.
///   `.int8AVX2` computes the same integer products with AVX2 (the same answer, bit for bit);
///   the grouped assignment (`CentroidGroups`) uses it where the CPU lacks VNNI.
/// - `.float32`: one sgemm per block of vectors, then an argmax per row.
/// Both find the same centroid up to the float rounding of near-ties (the sums differ in order).
public final class NearestCentroidFinder: @unchecked Sendable {
    public enum Method: Sendable, Equatable {
        /// `.int8` where the CPU has AVX-512 VNNI, `.float32` elsewhere.
        case automatic
        case float32
        /// 8-bit pruning with the AVX-512 VNNI products; needs `hasVNNI`.
        case int8
        /// 8-bit pruning with the AVX2 products; needs `hasAVX2`.
        case int8AVX2
        /// 8-bit pruning with the plain C products (slow; for tests on any CPU).
        case int8Portable
    }

    public let centroids: [Float]
    public let dim: Int
    public let bias: [Float]?
    public var count: Int { centroids.count / dim }

    /// Whether this CPU runs the VNNI products.
    public static let hasVNNI = plaid_int8_nearest_has_vnni() != 0
    /// Whether this CPU runs the AVX2 products.
    public static let hasAVX2 = plaid_int8_nearest_has_avx2() != 0

    /// The 8-bit kernel a method runs (`PLAID_INT8_KERNEL_…`): the one it names (`.int8` where
    /// the CPU has VNNI), or for the others the fastest this CPU runs (VNNI, else AVX2, else the
    /// plain C products).
    static func int8Kernel(for method: Method) -> Int32 {
        switch method {
        case .int8Portable: return Int32(PLAID_INT8_KERNEL_PORTABLE)
        case .int8 where hasVNNI: return Int32(PLAID_INT8_KERNEL_VNNI)
        case .int8AVX2: return Int32(PLAID_INT8_KERNEL_AVX2)
        case .automatic, .float32, .int8:
            return Int32(hasVNNI ? PLAID_INT8_KERNEL_VNNI : hasAVX2 ? PLAID_INT8_KERNEL_AVX2 : PLAID_INT8_KERNEL_PORTABLE)
        }
    }

    private let lock = NSLock()
    private var quantized: OpaquePointer?

    public init(centroids: [Float], dim: Int, bias: [Float]? = nil) {
        precondition(dim > 0 && centroids.count % dim == 0 && (bias == nil || bias!.count == centroids.count / dim))
        self.centroids = centroids
        self.dim = dim
        self.bias = bias
    }

    deinit { plaid_int8_centroids_destroy(quantized) }

    /// The method `.automatic` stands for on this CPU.
    public static func resolved(_ method: Method) -> Method {
        method == .automatic ? (hasVNNI ? .int8 : .float32) : method
    }

    /// Writes the nearest centroid of each of `n` points into `codes`, on all cores.
    /// Returns how many centroids the int8 methods scored in float (0 for `.float32`).
    @discardableResult
    public func assign(_ points: UnsafePointer<Float>, count n: Int, into codes: UnsafeMutablePointer<Int32>,
                       method: Method = .automatic) -> Int {
        guard n > 0, count > 0 else { return 0 }
        switch NearestCentroidFinder.resolved(method) {
        case .float32, .automatic:
            assignByFloatProducts(points, count: n, into: codes)
            return 0
        case .int8, .int8AVX2, .int8Portable:
            return assignByInt8Products(points, count: n, into: codes, kernel: NearestCentroidFinder.int8Kernel(for: method))
        }
    }

    /// Points per work item of the int8 path: enough to amortise the kernel's buffers.
    static let int8BlockRows = 2048

    private func assignByInt8Products(_ points: UnsafePointer<Float>, count n: Int, into codes: UnsafeMutablePointer<Int32>,
                                       kernel: Int32) -> Int {
        let quantized = quantizedCentroids()
        let blocks = (n + Self.int8BlockRows - 1) / Self.int8BlockRows
        var rescored = [UInt64](repeating: 0, count: blocks)
        rescored.withUnsafeMutableBufferPointer { rescoredPerBlock in
            centroids.withUnsafeBufferPointer { cen in
                Parallel.forEach(blocks) { b in
                    let start = b * Self.int8BlockRows
                    let rows = min(Self.int8BlockRows, n - start)
                    let status = plaid_int8_nearest(quantized, cen.baseAddress!, points + start * dim, rows,
                                                    codes + start, rescoredPerBlock.baseAddress! + b, kernel)
                    precondition(status == 0, status == -1 ? "the VNNI kernel needs AVX-512 VNNI" : "out of memory assigning centroids")
                }
            }
        }
        return Int(rescored.reduce(0, +))
    }

    private func quantizedCentroids() -> OpaquePointer {
        lock.lock(); defer { lock.unlock() }
        if let quantized { return quantized }
        let made = centroids.withUnsafeBufferPointer { cen in
            withOptionalPointer(bias) { plaid_int8_centroids_create(cen.baseAddress!, $0, count, dim) }
        }
        guard let made else { preconditionFailure("out of memory quantizing \(count) centroids") }
        quantized = made
        return made
    }

    /// Rows of points per BLAS product: large enough for sgemm to run near its peak
    /// (docs/benchmarks.md, "Design measurements").
    static let floatBlockRows = 1024

    /// One sgemm per block with OpenBLAS on a single thread, so results do not depend on the thread count.
    private func assignByFloatProducts(_ points: UnsafePointer<Float>, count n: Int, into codes: UnsafeMutablePointer<Int32>) {
        let k = count
        // Fewer rows per block when there are many centroids, so that each thread's score block
        // stays at 16 MB: below glibc's largest mmap threshold, the freed block is reused rather
        // than mapped and faulted in again for each block.
        let blockRows = min(Self.floatBlockRows, max(16, (16 << 20) / (4 * k)))
        let blocks = (n + blockRows - 1) / blockRows
        let previousThreads = BLAS.threadCount
        BLAS.setThreadCount(1)
        defer { BLAS.setThreadCount(previousThreads) }
        centroids.withUnsafeBufferPointer { cen in
            withOptionalPointer(bias) { biasPointer in
                Parallel.forEach(blocks) { b in
                    let start = b * blockRows
                    let rows = min(blockRows, n - start)
                    let scores = UnsafeMutablePointer<Float>.allocate(capacity: rows * k)
                    defer { scores.deallocate() }
                    BLAS.matmulTransposedB(points + start * dim, cen.baseAddress!, scores, m: rows, n: k, k: dim)
                    plaid_argmax_rows(scores, rows, k, biasPointer, codes + start)
                }
            }
        }
    }
}

private func withOptionalPointer<R>(_ array: [Float]?, _ body: (UnsafePointer<Float>?) -> R) -> R {
    guard let array else { return body(nil) }
    return array.withUnsafeBufferPointer { body($0.baseAddress) }
}
