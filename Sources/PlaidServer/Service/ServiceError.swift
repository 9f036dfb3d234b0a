import Foundation
import PlaidIndex

/// What the retrieval service refuses, or cannot do now, in its own terms: which limit a request
/// exceeds (the value and the maximum), which input is missing, contradicts another or is
/// malformed, and when the model or the index is not there to serve it. It names no status code,
/// JSON field or command-line option: a front end phrases each case in its own terms (HTTP:
/// `APIError.from`). Library errors (`PlaidError`) are not wrapped; they pass through as they are.
enum ServiceError: Error {
    /// `value` is over the configured `maximum` of `limit`, in `input`.
    case limitExceeded(Limit, value: Int, maximum: Int, in: Input)
    /// A search parameter outside `1...maximum`.
    case outOfRange(Parameter, value: Int, maximum: Int)
    /// A list that needs at least one item has none.
    case empty(Input)
    /// Neither of the two ways to give `choice` (as text, as vectors) was used.
    case missing(Choice)
    /// Both were.
    case contradicting(Choice)
    /// Metadata given with document `document` of a rerank, which stores nothing.
    case metadataInRerank(document: Int)
    /// Filter parameters without a filter to bind them to.
    case filterParametersWithoutFilter
    /// Vectors that cannot be searched or stored.
    case invalidVectors(Input, VectorProblem)
    /// Text to encode, and no model to encode it.
    case noModel(Input)
    /// A search in a mode that reads the queries' text (bm25, hybrid) given only vectors.
    case textModeWithoutTexts(SearchMode)
    /// A write to a service that serves searches only.
    case readOnly
    /// The index cannot be searched or written now, because of `cause`; every request (search)
    /// or the next write tries again.
    case indexUnavailable(IndexAccess, cause: Error)
    /// The request ran past its deadline, of `seconds` from its start.
    case timeout(seconds: Double)

    enum Limit: Equatable, Sendable {
        /// Items of one request: queries, documents, ids or texts.
        case items
        /// Texts the model encodes for one request.
        case texts
        /// UTF-8 bytes of one text.
        case textBytes
        /// Vectors of one query given as vectors.
        case queryVectors
        /// A query's vectors times k, what its search costs grow with (the value is their product).
        case vectorsTimesK(vectors: Int, k: Int)
        /// UTF-8 bytes of the stored texts one answer carries (`include_text`).
        case answerTextBytes
        /// Results one answer carries (queries × k), with an entry per query token of each when
        /// matches are asked for.
        case results(queries: Int, k: Int, matchedTokens: Int?)
    }

    enum Parameter: Equatable, Sendable {
        /// Results per query.
        case k
        /// Centroids probed per query vector.
        case ncells
        /// Candidate documents scored in full.
        case ndocs
    }

    /// The part of a request an error is about.
    enum Input: Equatable, Sendable {
        /// A search's queries given as texts, and text `i` of them.
        case queryTexts, queryText(Int)
        /// A search's queries given as vectors, and query `i`'s vectors.
        case queryVectorSets, queryVectors(Int)
        /// A rerank's query, given as a text or as vectors.
        case rerankQueryText, rerankQueryVectors
        /// The documents of an add or a rerank, document `i`'s text and its vectors.
        case documents, documentText(Int), documentVectors(Int)
        /// The ids of a delete.
        case ids
        /// The texts of an encoding, and text `i` of them.
        case texts, text(Int)
        /// A search's request for its results' stored text.
        case includeText
    }

    /// What is given either as text or as vectors, never both.
    enum Choice: Equatable, Sendable {
        case searchQueries
        case rerankQuery
        case document(Int)
    }

    enum VectorProblem: Equatable, Sendable {
        /// No vectors at all.
        case none
        /// Vectors of `found` numbers where the index's have `expected`.
        case dimension(found: Int, expected: Int)
        /// Number `column` of vector `row` is NaN or infinite.
        case notFinite(row: Int, column: Int)
        /// Vector `row` is longer than any the index can score.
        case norm(row: Int, norm: Double, maximum: Double)
    }

    enum IndexAccess: Equatable, Sendable {
        /// The last commit cannot be opened for searching.
        case search
        /// The index cannot be opened for writing.
        case write
    }
}
