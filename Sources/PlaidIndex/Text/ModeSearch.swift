import Foundation
import PlaidCore

/// Searches in one `SearchMode`: PLAID over the token vectors, BM25 over the stored text, or the
/// two rankings fused (`Fusion`), each `Fusion.depth(k:)` deep. PLAID's list comes from the search
/// for k (`SearchParameters.resultDepth`), so a hybrid search costs PLAID's search at k plus
/// BM25's, and with a question of no words returns PLAID's first k. A filter applies to both. A
/// text mode on an index without stored text is refused when this is made.
public struct ModeSearch: Sendable {
    public let index: CompressedIndex
    public let mode: SearchMode
    public let fusion: Fusion
    private let lexical: LexicalSearcher?

    public init(index: CompressedIndex, mode: SearchMode, fusion: Fusion = .standard) throws {
        self.index = index
        self.mode = mode
        self.fusion = fusion
        lexical = mode == .plaid ? nil : try LexicalSearcher(index: index)
    }

    /// Whether the mode reads the questions' text, and their embeddings.
    public var needsText: Bool { mode != .plaid }
    public var needsEmbeddings: Bool { mode != .bm25 }

    /// One query: `question` its text (for BM25), `query` its `tokens` vectors (for PLAID).
    public func search(question: String?, query: UnsafePointer<Float>?, tokens: Int, parameters: SearchParameters,
                       filter: DocumentFilter? = nil) throws -> [SearchResult] {
        switch mode {
        case .plaid:
            return try Searcher(index: index).search(query: try vectors(query), tokens: tokens, parameters: parameters, filter: filter)
        case .bm25:
            return try lexical!.search(try text(question), k: parameters.k, filter: filter)
        case .hybrid:
            let plaid = try Searcher(index: index).search(query: try vectors(query), tokens: tokens, parameters: deeper(parameters), filter: filter)
            let bm25 = try lexical!.search(try text(question), k: Fusion.depth(k: parameters.k), filter: filter)
            return fusion.fuse(plaid: plaid, lexical: bm25, k: parameters.k)
        }
    }

    /// Every query, with progress on stderr: `questions` their texts (for BM25), `queries` their
    /// embeddings (for PLAID), in the same order. Returns the results, each query's latency in
    /// seconds, and PLAID's stage totals.
    public func searchTimed(questions: [String]?, queries: QueryEmbeddings?, parameters: SearchParameters,
                            filter: DocumentFilter? = nil, threads: Int) throws -> (results: [[SearchResult]], latencies: [Double], trace: SearchTrace) {
        if let questions, let queries, questions.count != queries.count {
            throw PlaidError.invalidArgument("\(questions.count) query texts but \(queries.count) query embeddings; give one of each per query")
        }
        var plaid: (results: [[SearchResult]], latencies: [Double], trace: SearchTrace)?
        if needsEmbeddings {
            plaid = Searcher(index: index).searchTimed(queries: try vectors(queries), parameters: mode == .hybrid ? deeper(parameters) : parameters,
                                                       filter: filter, threads: threads)
        }
        guard needsText else { return plaid! }
        let texts = try text(questions)
        var results: [[SearchResult]] = [], latencies: [Double] = []
        for (q, question) in texts.enumerated() {
            let started = DispatchTime.now().uptimeNanoseconds
            let bm25 = try lexical!.search(question, k: mode == .hybrid ? Fusion.depth(k: parameters.k) : parameters.k, filter: filter)
            results.append(plaid.map { fusion.fuse(plaid: $0.results[q], lexical: bm25, k: parameters.k) } ?? bm25)
            latencies.append(Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9 + (plaid?.latencies[q] ?? 0))
        }
        return (results, latencies, plaid?.trace ?? SearchTrace())
    }

    private func deeper(_ parameters: SearchParameters) -> SearchParameters {
        var p = parameters
        p.resultDepth = Fusion.depth(k: parameters.k)
        return p
    }

    private func vectors<T>(_ value: T?) throws -> T {
        guard let value else { throw PlaidError.invalidArgument("a \(mode.rawValue) search needs the queries' embeddings") }
        return value
    }

    private func text<T>(_ value: T?) throws -> T {
        guard let value else { throw PlaidError.invalidArgument("a \(mode.rawValue) search needs the queries' text, not only their embeddings; give a query text file") }
        return value
    }
}
