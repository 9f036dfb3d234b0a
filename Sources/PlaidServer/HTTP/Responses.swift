import Foundation
import PlaidIndex

// The JSON bodies the API answers with (docs/openapi.json). Keys are snake_case by explicit
// coding keys: an encoder-wide key strategy would rename metadata fields too.

/// `POST /search`: `results[q]` are query q's hits, best first.
struct SearchResponse: Encodable, Sendable {
    struct Hit: Encodable, Sendable {
        var id: String
        var score: Float
        /// The document's fields; absent when it has none or the request asked for none.
        var metadata: [String: MetadataValue]?
        /// The document's stored title and text, with `include_text`; absent otherwise (and the
        /// title when it has none).
        var title: String?
        var text: String?
        /// With `matches`: each query token's best document token and the score of that match,
        /// and their sum, the document's MaxSim (its score in plaid mode, not in bm25 or hybrid).
        var matches: [MatchedTokens]?
        var maxsim: Float?
    }
    var results: [[Hit]]
    var tookMs: Double

    enum CodingKeys: String, CodingKey { case results, tookMs = "took_ms" }
}

/// `POST /documents`.
struct AddResponse: Encodable, Sendable {
    /// Documents new to the index.
    var added: Int
    /// Live documents of the same ids that were replaced (upsert).
    var replaced: Int
    var tokens: Int
    /// Centroids appended for the batch's outlier vectors.
    var newCentroids: Int
    /// The commit that holds the change.
    var generation: Int
    /// Live documents after the commit.
    var documents: Int

    enum CodingKeys: String, CodingKey { case added, replaced, tokens, newCentroids = "new_centroids", generation, documents }
}

/// `DELETE /documents`.
struct DeleteResponse: Encodable, Sendable {
    var deleted: Int
    /// Ids that named no live document.
    var unknown: Int
    var unknownIDs: [String]
    var generation: Int
    var documents: Int

    enum CodingKeys: String, CodingKey { case deleted, unknown, unknownIDs = "unknown_ids", generation, documents }
}

/// `POST /rerank`: the documents, best first.
struct RerankResponse: Encodable, Sendable {
    struct Hit: Encodable, Sendable { var id: String; var score: Float }
    var results: [Hit]
    var tookMs: Double

    enum CodingKeys: String, CodingKey { case results, tookMs = "took_ms" }
}

/// `POST /encode`: `embeddings[i]` is text i's vectors, `[tokens][dim]`.
struct EncodeResponse: Encodable, Sendable {
    var embeddings: [[[Float]]]
    var dim: Int
}
