import Foundation
import PlaidCore
import PlaidKernels

/// Why a document matched: for one query token, the document token whose vector scored highest
/// against it, and that score. A document's MaxSim is the sum of its matches' scores.
public struct TokenMatch: Equatable, Sendable {
    /// The query token's position in the query's vectors.
    public var queryToken: Int
    /// The matched token's position in the document's vectors (as the index stores them).
    public var documentToken: Int
    /// The dot product of the two vectors: the query vector and the document's decoded one.
    public var score: Float

    public init(queryToken: Int, documentToken: Int, score: Float) {
        self.queryToken = queryToken; self.documentToken = documentToken; self.score = score
    }
}

extension CompressedIndex {
    /// Each query token's best match among the decoded vectors of the document at `ordinal` (ties
    /// to the earlier document token), in query order; all-zero query vectors (padding) match
    /// nothing and are left out. The scores sum to the exact MaxSim of the decoded vectors, which
    /// `Reranker` gives them; a search's score comes from the same codes through 16-bit lookup
    /// tables (`ResidualLookup`), so it differs from that sum by their rounding at most.
    public func matches(query: UnsafePointer<Float>, tokens nq: Int, document ordinal: Int) -> [TokenMatch] {
        let vectors = reconstruct(document: ordinal)
        let n = vectors.count / dim
        guard n > 0, nq > 0 else { return [] }
        var scores = [Float](repeating: 0, count: n * nq)
        vectors.withUnsafeBufferPointer { d in
            scores.withUnsafeMutableBufferPointer { BLAS.matmulTransposedB(d.baseAddress!, query, $0.baseAddress!, m: n, n: nq, k: dim) }
        }
        return (0..<nq).compactMap { t -> TokenMatch? in
            guard (0..<dim).contains(where: { query[t * dim + $0] != 0 }) else { return nil }
            var best = 0
            for j in 1..<n where scores[j * nq + t] > scores[best * nq + t] { best = j }
            return TokenMatch(queryToken: t, documentToken: best, score: scores[best * nq + t])
        }
    }
}
