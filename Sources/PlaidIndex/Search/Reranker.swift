import Foundation
import PlaidCore
import PlaidKernels

/// Exact MaxSim of one query against documents given by their vectors: no index, as PyLate's
/// `rank.rerank`. For reranking a first-stage run (BM25's top 100, say); `plaid rerank` and the
/// server's `/rerank` use it.
public enum Reranker {
    /// A document to rerank: its id and its token vectors, `[tokens, dim]` flattened.
    public struct Document: Sendable {
        public var id: String
        public var vectors: [Float]
        public init(id: String, vectors: [Float]) { self.id = id; self.vectors = vectors }
    }

    /// The documents sorted by MaxSim against `query` (`[queryTokens, dim]`; zero rows, which pad
    /// short queries, add nothing), best first, at most `k` of them. Ties keep the input order.
    /// `SearchResult.document` is the document's position in `documents`.
    public static func rerank(query: [Float], dim: Int, documents: [Document], k: Int? = nil) -> [SearchResult] {
        precondition(dim > 0 && query.count % dim == 0, "the query holds whole vectors of dimension \(dim)")
        let nq = query.count / dim
        var top = TopK(k: min(k ?? documents.count, documents.count))
        var scores: [Float] = []
        query.withUnsafeBufferPointer { q in
            for (position, document) in documents.enumerated() {
                precondition(document.vectors.count % dim == 0, "document \(document.id) holds whole vectors of dimension \(dim)")
                let n = document.vectors.count / dim
                guard n > 0, nq > 0 else { top.insert(score: 0, document: position); continue }
                if scores.count < n * nq { scores = [Float](repeating: 0, count: n * nq) }
                let score: Float = document.vectors.withUnsafeBufferPointer { d in
                    scores.withUnsafeMutableBufferPointer { s in
                        BLAS.matmulTransposedB(d.baseAddress!, q.baseAddress!, s.baseAddress!, m: n, n: nq, k: dim)
                        return plaid_maxsim_from_scores(s.baseAddress!, n, nq)
                    }
                }
                top.insert(score: score, document: position)
            }
        }
        return top.sorted().map { SearchResult(document: $0.document, id: documents[$0.document].id, score: $0.score) }
    }
}
