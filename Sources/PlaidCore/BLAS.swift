import CBLAS

/// Thin Swift names over the OpenBLAS calls the toolkit makes.
public enum BLAS {
    /// C = alpha · A · Bᵀ + beta · C, all row-major. A is [m, k], B is [n, k], C is [m, n].
    /// Calls `cblas_sgemm(RowMajor, NoTrans, Trans, …)`.
    @inlinable
    public static func matmulTransposedB(
        _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ c: UnsafeMutablePointer<Float>,
        m: Int, n: Int, k: Int, alpha: Float = 1, beta: Float = 0,
        lda: Int? = nil, ldb: Int? = nil, ldc: Int? = nil
    ) {
        guard m > 0, n > 0 else { return }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(m), Int32(n), Int32(k),
                    alpha, a, Int32(lda ?? k), b, Int32(ldb ?? k), beta, c, Int32(ldc ?? n))
    }

    /// C = alpha · A · B + beta · C, all row-major. A is [m, k], B is [k, n], C is [m, n].
    /// Calls `cblas_sgemm(RowMajor, NoTrans, NoTrans, …)`.
    @inlinable
    public static func matmul(
        _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ c: UnsafeMutablePointer<Float>,
        m: Int, n: Int, k: Int, alpha: Float = 1, beta: Float = 0,
        lda: Int? = nil, ldb: Int? = nil, ldc: Int? = nil
    ) {
        guard m > 0, n > 0 else { return }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(m), Int32(n), Int32(k),
                    alpha, a, Int32(lda ?? k), b, Int32(ldb ?? n), beta, c, Int32(ldc ?? n))
    }

    /// Sets the number of threads OpenBLAS uses inside one call (`openblas_set_num_threads`).
    /// Code that parallelises over queries itself sets 1 so the two levels do not oversubscribe.
    public static func setThreadCount(_ count: Int) {
        openblas_set_num_threads(Int32(max(1, count)))
    }

    /// The number of threads OpenBLAS currently uses (`openblas_get_num_threads`).
    public static var threadCount: Int { Int(openblas_get_num_threads()) }
}
