import PlaidCore
import PlaidIndex

// What the retrieval service takes and returns: plain values that know nothing of how a front
// end received them. The HTTP routes translate request bodies into these and these into answers.

extension RetrievalService {
    /// Token vectors as a caller gives them: `count` rows of `width` numbers, flattened row after
    /// row. Checked by the service (dimension, finite numbers, norm) before any use.
    struct Vectors: Sendable {
        var values: [Float]
        var count: Int
        var width: Int
    }

    /// A search: its queries as texts or as vectors (exactly one of the two), how many results
    /// (10 when nil), PLAID's parameters where the caller sets them, and a metadata filter with
    /// the values of its `?` placeholders.
    struct Search: Sendable {
        var texts: [String]?
        var vectors: [Vectors]?
        var k: Int?
        var filter: String?
        var filterParameters: [String]?
        var ncells: Int?
        var centroidScoreThreshold: Float?
        var ndocs: Int?
        /// Whether the results carry their documents' metadata.
        var includeMetadata = true
        var mode = SearchMode.plaid
        var fusion = Fusion.standard
        /// Whether the results carry their documents' stored text.
        var includeText = false
        /// Whether the results carry each query token's best match in the document.
        var matches = false
    }

    /// A search's results: `hits[q]` are query q's, best first; `metadata` holds the fields of the
    /// documents among them that have some (none when not asked for), by document number.
    struct SearchResults: Sendable {
        var hits: [[SearchResult]]
        var metadata: [Int: [String: MetadataValue]]
        /// The stored text of the documents among the hits, when asked for, by document number.
        var texts: [Int: DocumentText] = [:]
        /// `matches[q][r]`: the token matches of query q's r-th hit, when asked for.
        var matches: [[[MatchedTokens]]]?
    }

    /// A document to add or rerank: its text or its vectors (exactly one of the two), and its fields.
    struct Document: Sendable {
        var id: String
        var text: String?
        var vectors: Vectors?
        var metadata: [String: MetadataValue]?
    }

    /// A rerank: the query as a text or as vectors (exactly one of the two), the documents to
    /// order by exact MaxSim, and how many to keep (all when nil).
    struct Rerank: Sendable {
        var queryText: String?
        var queryVectors: Vectors?
        var documents: [Document]
        var k: Int?
    }

    /// Texts encoded by the model: `vectors[i]` is text i's, `[tokens][dim]`.
    struct Encoded: Sendable {
        var vectors: [[[Float]]]
        var dim: Int
    }

    /// What a write did (`AddSummary`, `DeleteSummary`), the commit that holds it, and the live
    /// documents after it.
    struct Written<Summary: Sendable>: Sendable {
        var summary: Summary
        var generation: Int
        var documents: Int
    }
}
