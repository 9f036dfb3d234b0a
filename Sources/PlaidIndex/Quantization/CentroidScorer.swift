import Foundation
import PlaidCore
import PlaidKernels

/// Every centroid's inner product with every token of a query: stage 1 of the staged search.
/// Shapes: centroids [k, dim], queries [queries, tokens, dim], scores [queries, k, tokens] (one
/// centroid's scores against all tokens of a query contiguous).
///
/// Two ways:
/// - `.int16` (CPUs with AVX2; AVX-512 VNNI where present): the centroids rounded once to 16-bit
///   rows (half the bytes of float, no repacking per query) and multiplied in exact int32 sums
///   (centroid_scores.c). A score is off by at most (s_c·‖q‖₁ + s_t·‖c‖₁)/2 + s_c·s_t·dim/4 for
///   the row units s_c ≈ ‖c‖₁/65,535 and s_t = max|q|/32,767: for unit vectors of dimension 384,
///   under 2e-3 in the worst case and about 7e-5 typically, far below what the 2-bit residuals
///   leave. Faster than OpenBLAS sgemm with AVX2 and more so with VNNI (docs/benchmarks.md,
///   "Design measurements").
/// - `.float32`: one sgemm (OpenBLAS, single-threaded).
public final class CentroidScorer: @unchecked Sendable {
    public enum Method: Sendable, Equatable {
        /// `.int16` where the CPU has AVX2, `.float32` elsewhere.
        case automatic
        case float32
        /// 16-bit products with the best kernel this CPU has (VNNI, else AVX2).
        case int16
        /// 16-bit products in plain C (slow; the reference for tests).
        case int16Portable
        /// 16-bit products with the AVX2 kernel; needs `hasAVX2`.
        case int16AVX2
    }

    public let centroids: [Float]
    public let dim: Int
    public var count: Int { centroids.count / dim }

    /// Whether this CPU runs the AVX2 products (all of this project's machines do).
    public static let hasAVX2 = plaid_int16_scores_has_avx2() != 0

    private let lock = NSLock()
    private var quantized: OpaquePointer?
    private var screen: OpaquePointer?

    public init(centroids: [Float], dim: Int) {
        precondition(dim > 0 && centroids.count % dim == 0)
        self.centroids = centroids
        self.dim = dim
    }

    deinit {
        plaid_int8_screen_destroy(screen)
        plaid_int16_centroids_destroy(quantized)
    }

    /// The method `.automatic` stands for on this CPU.
    public static func resolved(_ method: Method) -> Method {
        method == .automatic ? (hasAVX2 ? .int16 : .float32) : method
    }

    /// Writes scores[b · count · tokens + c · tokens + t] = centroid c · token t of query b for
    /// `queries` queries [queries, tokens, dim] (scores [queries, count, tokens]), on the calling
    /// thread. With VNNI the batch reads the centroids once for all its queries: one query at a
    /// time reads them (6 MB at dimension 384) from L3 every time.
    public func scores(queries: UnsafePointer<Float>, count queryCount: Int = 1, tokens: Int,
                       into scores: UnsafeMutablePointer<Float>, method: Method = .automatic) {
        guard tokens > 0, count > 0, queryCount > 0 else { return }
        let kernel: Int32
        switch CentroidScorer.resolved(method) {
        case .float32, .automatic:
            centroids.withUnsafeBufferPointer { cen in
                for b in 0..<queryCount {
                    BLAS.matmulTransposedB(cen.baseAddress!, queries + b * tokens * dim, scores + b * count * tokens,
                                           m: count, n: tokens, k: dim)
                }
            }
            return
        case .int16: kernel = Int32(PLAID_INT16_KERNEL_AUTOMATIC)
        case .int16Portable: kernel = Int32(PLAID_INT16_KERNEL_PORTABLE)
        case .int16AVX2: kernel = Int32(PLAID_INT16_KERNEL_AVX2)
        }
        let status = plaid_int16_centroid_scores(quantizedCentroids(), queries, queryCount, tokens, scores, kernel)
        precondition(status == 0, status == -1 ? "the AVX2 kernel needs AVX2" : "out of memory scoring centroids")
    }

    /// Writes scores[r · tokens + t] = centroid ids[r] · token t of one query [tokens, dim], the
    /// same floats `scores(queries:...)` gives those centroids (`.float32`: one dot product per
    /// product of the gathered rows, which may differ from the full one in the last bits). Every
    /// id must be below `count`.
    public func scores(query: UnsafePointer<Float>, tokens: Int, of ids: [Int32], into scores: UnsafeMutablePointer<Float>,
                       method: Method = .automatic) {
        guard tokens > 0, !ids.isEmpty else { return }
        let kernel: Int32
        switch CentroidScorer.resolved(method) {
        case .float32, .automatic:
            var rows = [Float](repeating: 0, count: ids.count * dim)
            for (r, id) in ids.enumerated() {
                precondition(id >= 0 && Int(id) < count, "a centroid id beyond \(count)")
                rows.replaceSubrange((r * dim)..<((r + 1) * dim), with: centroids[(Int(id) * dim)..<((Int(id) + 1) * dim)])
            }
            rows.withUnsafeBufferPointer { BLAS.matmulTransposedB($0.baseAddress!, query, scores, m: ids.count, n: tokens, k: dim) }
            return
        case .int16: kernel = Int32(PLAID_INT16_KERNEL_AUTOMATIC)
        case .int16Portable: kernel = Int32(PLAID_INT16_KERNEL_PORTABLE)
        case .int16AVX2: kernel = Int32(PLAID_INT16_KERNEL_AVX2)
        }
        let status = plaid_int16_centroid_scores_of(quantizedCentroids(), ids, ids.count, query, tokens, scores, kernel)
        precondition(status == 0, status == -1 ? "the AVX2 kernel needs AVX2" : status == -3 ? "a centroid id beyond \(count)" : "out of memory scoring centroids")
    }

    /// Writes the scores of `token` [dim] against the centroids of each range in `ranges`, range
    /// after range, with the 16-bit method (`.float32` and `.automatic` take the best kernel):
    /// the floats `scores(queries:...)` gives those pairs.
    public func scores(token: UnsafePointer<Float>, ranges: [Range<Int>], into scores: UnsafeMutablePointer<Float>,
                       method: Method = .int16) {
        guard !ranges.isEmpty else { return }
        let kernel: Int32
        switch method {
        case .int16Portable: kernel = Int32(PLAID_INT16_KERNEL_PORTABLE)
        case .int16AVX2: kernel = Int32(PLAID_INT16_KERNEL_AVX2)
        default: kernel = Int32(PLAID_INT16_KERNEL_AUTOMATIC)
        }
        let starts = ranges.map { Int32($0.lowerBound) }, counts = ranges.map { Int32($0.count) }
        let status = plaid_int16_token_scores(quantizedCentroids(), token, starts, counts, ranges.count, scores, kernel)
        precondition(status == 0, status == -1 ? "the AVX2 kernel needs AVX2" : status == -3 ? "a centroid range beyond \(count)" : "out of memory scoring centroids")
    }

    /// The scores of `token` [dim] against centroids `range` that could matter, screened by
    /// their 8-bit rows (plaid_int16_token_screened_scores): those that could reach `threshold`,
    /// or be among the range's best `keep` while above `worst`, in increasing order, offsets[i]
    /// being the i-th one's offset in the range and scores[i] what `scores(token:ranges:into:)`
    /// gives it. Every other centroid of the range scores below `threshold`, and either below
    /// `worst` or below `keep` others of the range. offsets and scores: room for range.count;
    /// scratch: 2 · range.count + keep floats. Returns how many were scored.
    public func screenedScores(token: UnsafePointer<Float>, range: Range<Int>, threshold: Float, worst: Float, keep: Int,
                               offsets: UnsafeMutablePointer<Int32>, scores: UnsafeMutablePointer<Float>,
                               scratch: UnsafeMutablePointer<Float>, method: Method = .int16) -> Int {
        guard !range.isEmpty else { return 0 }
        let kernel: Int32
        switch method {
        case .int16Portable: kernel = Int32(PLAID_INT16_KERNEL_PORTABLE)
        case .int16AVX2: kernel = Int32(PLAID_INT16_KERNEL_AVX2)
        default: kernel = Int32(PLAID_INT16_KERNEL_AUTOMATIC)
        }
        let (table, screen) = screenedCentroids()
        let status = plaid_int16_token_screened_scores(table, screen, token, Int32(range.lowerBound), Int32(range.count), threshold, worst,
                                                       max(keep, 0), offsets, scores, scratch, kernel)
        precondition(status >= 0, status == -1 ? "the AVX2 kernel needs AVX2" : status == -3 ? "a centroid range beyond \(count)" : "out of memory scoring centroids")
        return Int(status)
    }

    /// The 16-bit rows and their 8-bit screen, the screen made on first use (half the 16-bit
    /// rows' bytes), only for the searches that screen.
    private func screenedCentroids() -> (OpaquePointer, OpaquePointer) {
        let table = quantizedCentroids()
        lock.lock(); defer { lock.unlock() }
        if let screen { return (table, screen) }
        guard let made = plaid_int8_screen_create(table) else { preconditionFailure("out of memory screening \(count) centroids") }
        screen = made
        return (table, made)
    }

    /// The 16-bit rows, made on first use (6 MB for 8,192 centroids of dimension 384), so that
    /// building an index never pays for them.
    private func quantizedCentroids() -> OpaquePointer {
        lock.lock(); defer { lock.unlock() }
        if let quantized { return quantized }
        let made = centroids.withUnsafeBufferPointer { plaid_int16_centroids_create($0.baseAddress!, count, dim) }
        guard let made else { preconditionFailure("out of memory quantizing \(count) centroids") }
        quantized = made
        return made
    }
}
