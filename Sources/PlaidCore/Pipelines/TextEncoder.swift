import Foundation

/// A model that turns texts into token vectors: what the libraries' text pipelines (build, add,
/// evaluation, the server) need of an encoder. PlaidEncoder's `ColBERTEncoder` is one; the
/// pipelines depend on this protocol, not on a model's implementation. Calls are not
/// concurrent: a caller that shares an encoder between threads serialises them.
public protocol TextEncoder: AnyObject {
    /// Dimension of each token vector.
    var dimension: Int { get }
    /// Vectors per encoded query.
    var queryLength: Int { get }
    /// What embeddings and indexes record of the model.
    var identity: ModelIdentity { get }
    /// Model input tokens run so far, for throughput reports.
    var tokensProcessed: Int { get }
    /// Each text's document vectors, `[tokens · dimension]`, in input order; `progress` receives
    /// the number of texts done after each batch.
    func encodeDocuments(_ texts: [String], batchSize: Int, progress: ((Int) -> Void)?) throws -> [[Float]]
    /// Each text's query vectors, `[queryLength · dimension]` (fewer for a model without expansion).
    func encodeQueries(_ texts: [String], batchSize: Int) throws -> [[Float]]
    /// Queries in the form search takes, padded to `queryLength` vectors each.
    func encodeQueryEmbeddings(ids: [String], texts: [String], batchSize: Int) throws -> QueryEmbeddings
    /// The token each of a query's vectors stands for, as the tokenizer writes it.
    func queryTokenTexts(_ text: String) -> [String]
    /// The token each of a document's vectors stands for, and where it lies in `text`; nil when
    /// its vectors do not stand for tokens one by one (pooled).
    func documentTokens(_ text: String) -> [DocumentToken]?
    /// The token of vocabulary id `id`, as the tokenizer writes it.
    func tokenText(ofID id: Int) -> String?
}

/// The token a document vector stands for: as the tokenizer writes it (`##ing`), and where it
/// came from in the text the encoder read.
public struct DocumentToken: Equatable, Sendable {
    /// The token's id in the model's vocabulary.
    public var id: Int
    public var text: String
    /// Unicode scalar offsets (Python's string indices) into that text; nil for a token that
    /// stands for none of it (`[CLS]`, a marker) or could not be placed.
    public var span: Range<Int>?

    public init(id: Int, text: String, span: Range<Int>?) {
        self.id = id
        self.text = text
        self.span = span
    }
}

extension TextEncoder {
    /// An encoder that cannot name its tokens names none: matches then carry positions only.
    public func queryTokenTexts(_ text: String) -> [String] { [] }
    public func documentTokens(_ text: String) -> [DocumentToken]? { nil }
    public func tokenText(ofID id: Int) -> String? { nil }

    /// The one way texts become vectors in plaid: `texts` as documents or queries, `chunk` texts
    /// per call to the model, with `beforeEachChunk` run before each call (a deadline check
    /// stops a long request between chunks) and `progress` given the texts done so far.
    public func vectors(of texts: [String], as mode: EmbeddingMode, chunk: Int, batchSize: Int,
                        beforeEachChunk: () throws -> Void = {}, progress: ((Int) -> Void)? = nil) throws -> [[Float]] {
        var vectors: [[Float]] = []
        vectors.reserveCapacity(texts.count)
        for start in stride(from: 0, to: texts.count, by: max(chunk, 1)) {
            try beforeEachChunk()
            let part = Array(texts[start..<min(start + max(chunk, 1), texts.count)])
            switch mode {
            case .query:
                vectors += try encodeQueries(part, batchSize: batchSize)
            case .document:
                vectors += try encodeDocuments(part, batchSize: batchSize) { done in progress?(start + done) }
            }
            progress?(start + part.count)
        }
        return vectors
    }
}
