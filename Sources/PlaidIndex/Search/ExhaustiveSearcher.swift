import Foundation
import PlaidCore
import PlaidKernels

/// Exact MaxSim of every query against every document of the uncompressed embeddings: the
/// reference the staged search is measured against. Cost: 2·queryTokens·corpusTokens·dim flops per query.
public struct ExhaustiveSearcher: Sendable {
    public let documents: DocumentEmbeddings

    public init(documents: DocumentEmbeddings) { self.documents = documents }

    /// Queries are scored in blocks against the corpus streamed in chunks of whole documents,
    /// one block per thread, so each product is a large sgemm.
    /// With `include`, only documents (by position) for which it returns true are ranked.
    public func search(queries: QueryEmbeddings, k: Int, threads: Int = Parallel.defaultThreadCount,
                       queriesPerBlock: Int = 32, chunkTokens: Int = 4096,
                       include: (@Sendable (Int) -> Bool)? = nil) throws -> [[SearchResult]] {
        precondition(queries.dim == documents.dim, "query dimension \(queries.dim) differs from the documents' \(documents.dim)")
        let dim = documents.dim, nq = queries.tokensPerQuery
        let blocks = (queries.count + queriesPerBlock - 1) / queriesPerBlock
        var tops = [TopK](repeating: TopK(k: k), count: queries.count)
        let previousThreads = BLAS.threadCount
        BLAS.setThreadCount(1)
        defer { BLAS.setThreadCount(previousThreads) }
        // Chunks of whole documents, converted once and shared by all threads.
        let chunks = documents.documentChunks(maxTokens: chunkTokens)
        try tops.withUnsafeMutableBufferPointer { tops in
        for chunk in chunks {
            let start = documents.offsets[chunk.lowerBound]
            let count = documents.offsets[chunk.upperBound] - start
            var vectors = [Float](repeating: 0, count: count * dim)
            try vectors.withUnsafeMutableBufferPointer { try documents.copyTokens(start: start, count: count, into: $0.baseAddress!) }
            vectors.withUnsafeBufferPointer { v in
                queries.values.withUnsafeBufferPointer { qv in
                    Parallel.forEach(blocks, threads: threads) { b in
                        let firstQuery = b * queriesPerBlock
                        let blockQueries = min(queriesPerBlock, queries.count - firstQuery)
                        let rows = blockQueries * nq
                        // scores: [tokens of chunk, query tokens of block]
                        let scores = UnsafeMutablePointer<Float>.allocate(capacity: count * rows)
                        defer { scores.deallocate() }
                        BLAS.matmulTransposedB(v.baseAddress!, qv.baseAddress! + firstQuery * nq * dim, scores, m: count, n: rows, k: dim)
                        var maxes = [Float](repeating: 0, count: rows)
                        for doc in chunk.lowerBound..<chunk.upperBound where include?(doc) ?? true {
                            let t0 = documents.offsets[doc] - start, t1 = documents.offsets[doc + 1] - start
                            maxes.withUnsafeMutableBufferPointer { m in
                                for j in 0..<rows { m[j] = -Float.infinity }
                                for t in t0..<t1 { plaid_rowmax_accumulate(scores + t * rows, m.baseAddress!, rows) }
                            }
                            for q in 0..<blockQueries {
                                var s: Float = 0
                                for j in 0..<nq { s += maxes[q * nq + j] }
                                tops[firstQuery + q].insert(score: s, document: doc)
                            }
                        }
                    }
                }
            }
            documents.releasePages(tokens: start, count: count)
        }
        }
        return tops.map { top in
            top.sorted().map { SearchResult(document: $0.document, id: documents.ids[$0.document], score: $0.score) }
        }
    }
}
