import PlaidCore
import PlaidIndex

// Between the API's JSON bodies (Requests.swift, Responses.swift) and the service's inputs and
// results (ServiceInputs.swift): fields are moved, never checked here; the service checks them.

extension Matrix {
    var input: RetrievalService.Vectors { .init(values: values, count: rows, width: width) }
}

extension SearchRequest {
    var input: RetrievalService.Search {
        .init(texts: queries, vectors: queryEmbeddings?.map(\.input), k: k, filter: filter, filterParameters: filterParams,
              ncells: ncells, centroidScoreThreshold: centroidScoreThreshold, ndocs: ndocs, includeMetadata: includeMetadata ?? true,
              mode: mode ?? .plaid, fusion: fusion ?? .standard, includeText: includeText ?? false, matches: matches ?? false)
    }
}

extension DocumentInput {
    var input: RetrievalService.Document { .init(id: id, text: text, vectors: embeddings?.input, metadata: metadata) }
}

extension RerankRequest {
    var input: RetrievalService.Rerank {
        .init(queryText: query, queryVectors: queryEmbeddings?.input, documents: documents.map(\.input), k: k)
    }
}

extension EncodeRequest.Mode {
    var embeddingMode: EmbeddingMode {
        switch self {
        case .query: return .query
        case .document: return .document
        }
    }
}

extension SearchResponse {
    init(_ results: RetrievalService.SearchResults, tookMs: Double) {
        self.init(results: results.hits.enumerated().map { q, hits in
            hits.enumerated().map { r, hit in
                let text = results.texts[hit.document]
                return Hit(id: hit.id, score: hit.score, metadata: results.metadata[hit.document], title: text?.title, text: text?.text,
                           matches: results.matches?[q][r],
                           maxsim: results.matches.map { MatchedTokens.maxSim(of: $0[q][r]) })
            }
        }, tookMs: tookMs)
    }
}

extension AddResponse {
    init(_ written: RetrievalService.Written<AddSummary>) {
        let summary = written.summary
        self.init(added: summary.documents - summary.replaced, replaced: summary.replaced, tokens: summary.tokens,
                  newCentroids: summary.newCentroids, generation: written.generation, documents: written.documents)
    }
}

extension DeleteResponse {
    init(_ written: RetrievalService.Written<DeleteSummary>) {
        self.init(deleted: written.summary.deleted, unknown: written.summary.unknown.count, unknownIDs: written.summary.unknown,
                  generation: written.generation, documents: written.documents)
    }
}

extension RerankResponse {
    init(_ ranked: [SearchResult], tookMs: Double) {
        self.init(results: ranked.map { Hit(id: $0.id, score: $0.score) }, tookMs: tookMs)
    }
}
