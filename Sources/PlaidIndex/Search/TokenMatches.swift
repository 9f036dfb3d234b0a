import Foundation
import PlaidCore

/// Why a document matched: for one query token, the document token whose vector scored highest
/// against it, and that score. A document's MaxSim is the sum of its matches' scores.
public struct TokenMatch: Equatable, Sendable {
    /// The query token's position in the query's vectors.
    public var queryToken: Int
    /// The matched token's position in the document's vectors (as the index stores them).
    public var documentToken: Int
    /// The score of the pair as the search's last stage computes it: the query vector against the
    /// token's centroid and its residual (through the residual lookup table).
    public var score: Float

    public init(queryToken: Int, documentToken: Int, score: Float) {
        self.queryToken = queryToken; self.documentToken = documentToken; self.score = score
    }
}

extension Searcher {
    /// For each document of `ordinals`: each query token's best match among its tokens (the first
    /// of equal scores), in query order, as the search's exact stage scores them, so that the
    /// scores summed in query order are the document's search score exactly. All-zero query
    /// vectors (padding) add nothing and are left out. Costs the scores of the centroids the
    /// documents' codes name (by the unfiltered search's stage 1 method; on CPUs with AVX2 both
    /// are 16-bit products with exact sums, so each row equals stage 1's however it is computed),
    /// the query's residual table, and about an exact scoring per document.
    public func matches(query: UnsafePointer<Float>, tokens nq: Int, documents ordinals: [Int]) -> [[TokenMatch]] {
        guard nq > 0, !ordinals.isEmpty else { return ordinals.map { _ in [] } }
        var scores = PartialCentroidScores(index: index, query: query, tokens: nq)
        let active = Set(scores.activeTokens)
        let lookup = ResidualLookup(index: index, query: query, tokens: nq)
        let method: CentroidScorer.Method = searchGroups == nil ? .automatic : .int16
        return scores.withRowCodedDocuments(ordinals, index: index, query: query, method: method) { documents, rows in
            documents.map { document in
                lookup.matches(of: document, scoreRows: rows).enumerated().compactMap { t, best in
                    guard active.contains(t), best.token >= 0 else { return nil }
                    return TokenMatch(queryToken: t, documentToken: best.token, score: best.score)
                }
            }
        }
    }
}
