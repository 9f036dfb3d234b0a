import XCTest
import PlaidCore
@testable import PlaidIndex

final class RerankerTests: XCTestCase {
    /// Reranking equals exhaustive MaxSim over the same vectors: same order, same scores.
    func testRerankIsExactMaxSim() throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let (corpus, embeddings) = try smallCorpus(documents: 120, in: directory)
        let queries = corpus.queries(count: 5, tokens: 12)
        let exact = try ExhaustiveSearcher(documents: embeddings).search(queries: queries, k: 120)
        let documents = try (0..<120).reversed().map { d -> Reranker.Document in
            var v = [Float](repeating: 0, count: embeddings.lengths[d] * embeddings.dim)
            try v.withUnsafeMutableBufferPointer { try embeddings.copyTokens(start: embeddings.offsets[d], count: embeddings.lengths[d], into: $0.baseAddress!) }
            return Reranker.Document(id: embeddings.ids[d], vectors: v)
        }
        let perQuery = queries.tokensPerQuery * queries.dim
        for q in 0..<queries.count {
            let query = Array(queries.values[(q * perQuery)..<((q + 1) * perQuery)])
            let reranked = Reranker.rerank(query: query, dim: queries.dim, documents: documents, k: 15)
            XCTAssertEqual(reranked.map(\.id), exact[q].prefix(15).map(\.id))
            for (r, e) in zip(reranked, exact[q]) { XCTAssertEqual(r.score, e.score, accuracy: 1e-4) }
            XCTAssertEqual(Reranker.rerank(query: query, dim: queries.dim, documents: documents).count, 120)
        }
        // Equal scores keep the input order.
        let twins = [Reranker.Document(id: "b", vectors: documents[0].vectors), Reranker.Document(id: "a", vectors: documents[0].vectors)]
        XCTAssertEqual(Reranker.rerank(query: Array(queries.values[0..<perQuery]), dim: queries.dim, documents: twins).map(\.id), ["b", "a"])
    }
}
