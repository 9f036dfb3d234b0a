import Foundation
import PlaidCore
import PlaidKernels

/// PLAID's staged search over a `CompressedIndex`:
/// 1. candidate generation — score query tokens against all centroids with one product, take
///    each token's top `ncells` centroids and union their inverted lists;
/// 2. centroid pruning — approximate scores from the codes of centroids scoring ≥ t_cs only,
///    keep the best `ndocs`;
/// 3. centroid interaction — approximate scores from all codes, keep the best `ndocs/4`;
/// 4. exact rerank — decompress those documents' residuals and compute MaxSim, return the top k.
///
/// With a `DocumentFilter`, only the documents it allows are ever returned. A filter matching at
/// most `parameters.exactScoringTokens` tokens skips the stages: every allowed document is scored
/// exactly (stage 4 alone). A wider one restricts candidate generation to allowed documents,
/// probes `ncells / share` centroids per query token (share: the fraction of documents allowed),
/// and doubles that until at least `ndocs` allowed candidates are found (or all of them, or every
/// centroid is probed), so that few matches never leave the later stages short of candidates.
public struct Searcher: Sendable {
    public let index: CompressedIndex

    public init(index: CompressedIndex) { self.index = index }

    /// Searches a batch of queries on `threads` threads; each query's result does not depend
    /// on the thread count. `queries` is [count, tokensPerQuery, dim].
    public func search(queries: QueryEmbeddings, parameters: SearchParameters, filter: DocumentFilter? = nil,
                       threads: Int = Parallel.defaultThreadCount,
                       onQueryDone: ((Int, Double) -> Void)? = nil) -> [[SearchResult]] {
        precondition(queries.dim == index.dim, "query dimension \(queries.dim) differs from the index's \(index.dim)")
        var results = [[SearchResult]](repeating: [], count: queries.count)
        let previousThreads = BLAS.threadCount
        BLAS.setThreadCount(1)
        defer { BLAS.setThreadCount(previousThreads) }
        let perQuery = queries.tokensPerQuery * queries.dim
        let lock = NSLock()
        queries.values.withUnsafeBufferPointer { all in
            Parallel.forEach(queries.count, threads: threads) { q in
                let started = DispatchTime.now().uptimeNanoseconds
                let r = search(query: all.baseAddress! + q * perQuery, tokens: queries.tokensPerQuery, parameters: parameters, filter: filter)
                let seconds = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
                lock.lock()
                results[q] = r
                onQueryDone?(q, seconds)
                lock.unlock()
            }
        }
        return results
    }

    /// Searches one query ([tokens, dim]).
    public func search(query: UnsafePointer<Float>, tokens nq: Int, parameters p: SearchParameters,
                       filter: DocumentFilter? = nil) -> [SearchResult] {
        let index = self.index
        let k = index.quantizer.count
        let dim = index.dim
        if index.documentCount == 0 || filter?.count == 0 { return [] }
        if let filter, filter.tokens <= p.exactScoringTokens {
            return exactScores(of: filter.ordinals, query: query, tokens: nq, k: p.k)
        }
        // Stage 1: centroid scores, laid out [centroid, query token] so one centroid's scores
        // against all query tokens are contiguous for the interaction kernel.
        var centroidScores = [Float](repeating: 0, count: k * nq)
        index.quantizer.centroids.withUnsafeBufferPointer { cen in
            centroidScores.withUnsafeMutableBufferPointer { s in
                BLAS.matmulTransposedB(cen.baseAddress!, query, s.baseAddress!, m: k, n: nq, k: dim)
            }
        }
        // Zero rows pad short queries; they match nothing, so they probe nothing and prune nothing.
        let activeTokens = (0..<nq).filter { t in plaid_squared_norm(query + t * dim, dim) > 0 }
        let ndocs = max(p.ndocs, p.k)
        // Candidates are ordinals: segment after segment, so ties rank as in the compacted index.
        // Deleted documents, and documents the filter does not allow, never become candidates.
        var seen = [Bool](repeating: false, count: index.ordinalCount)
        var candidates: [Int] = []
        var probed = Set<Int>()
        var ncells = min(max(1, p.ncells), k)
        if let filter {
            // A filter keeping a share s of the documents keeps about s of each list: probing
            // ncells/s centroids finds about as many candidates as the unfiltered search.
            let share = Double(filter.count) / Double(max(1, index.documentCount))
            ncells = min(k, max(ncells, Int((Double(ncells) / share).rounded(.up))))
        }
        while true {
            var newlyProbed: [Int] = []
            for t in activeTokens {
                var best = TopK(k: ncells)
                for c in 0..<k { best.insert(score: centroidScores[c * nq + t], document: c) }
                for item in best.items where probed.insert(item.document).inserted { newlyProbed.append(item.document) }
            }
            for c in newlyProbed.sorted() {
                for (s, segment) in index.segments.enumerated() where c < segment.info.listCount {
                    let base = index.segmentBases[s]
                    segment.invertedLists.forEachDocument(inList: c) { d in
                        let ordinal = base + d
                        if !seen[ordinal] && !segment.isDeleted(d) && (filter?.allows(ordinal) ?? true) {
                            seen[ordinal] = true
                            candidates.append(ordinal)
                        }
                    }
                }
            }
            guard let filter, candidates.count < min(ndocs, filter.count), ncells < k, !activeTokens.isEmpty else { break }
            ncells = min(k, ncells * 2)
        }
        candidates.sort()
        if candidates.isEmpty { return [] }

        // Stage 2: centroid pruning.
        var keep = [UInt64](repeating: 0, count: (k + 63) / 64)
        for c in 0..<k {
            var best = -Float.infinity
            for t in activeTokens { best = max(best, centroidScores[c * nq + t]) }
            if best >= p.centroidScoreThreshold { keep[c >> 6] |= 1 << UInt64(c & 63) }
        }
        var scratch = [Float](repeating: 0, count: nq)
        func interaction(_ ordinal: Int, pruned: Bool) -> Float {
            let (segmentNumber, d) = index.locate(ordinal)
            let segment = index.segments[segmentNumber]
            let width = Int32(segment.info.codeWidth)
            return centroidScores.withUnsafeBufferPointer { s in
                scratch.withUnsafeMutableBufferPointer { sc in
                    if pruned {
                        return keep.withUnsafeBufferPointer { kp in
                            plaid_centroid_interaction(s.baseAddress!, nq, segment.codes(ofDocument: d), width,
                                                       segment.documentLengths[d], kp.baseAddress!, sc.baseAddress!)
                        }
                    }
                    return plaid_centroid_interaction(s.baseAddress!, nq, segment.codes(ofDocument: d), width,
                                                      segment.documentLengths[d], nil, sc.baseAddress!)
                }
            }
        }
        var stage2 = candidates
        if candidates.count > ndocs {
            var top = TopK(k: ndocs)
            for d in candidates { top.insert(score: interaction(d, pruned: true), document: d) }
            stage2 = top.items.map(\.document)
        }

        // Stage 3: centroid interaction with every code.
        let rerankCount = max(ndocs / 4, p.k)
        var stage3 = stage2
        if stage2.count > rerankCount {
            var top = TopK(k: rerankCount)
            for d in stage2 { top.insert(score: interaction(d, pruned: false), document: d) }
            stage3 = top.items.map(\.document)
        }

        // Stage 4: exact MaxSim on the decompressed residuals.
        return exactScores(of: stage3, query: query, tokens: nq, k: p.k)
    }

    /// MaxSim of the query against each document at `ordinals`, decompressed from its residuals;
    /// the best `k`, best first.
    func exactScores(of ordinals: [Int], query: UnsafePointer<Float>, tokens nq: Int, k: Int) -> [SearchResult] {
        let dim = index.dim
        var final = TopK(k: k)
        var decoded = [Float](repeating: 0, count: 256 * dim)
        var scores = [Float](repeating: 0, count: 256 * nq)
        for ordinal in ordinals {
            let (segmentNumber, d) = index.locate(ordinal)
            let segment = index.segments[segmentNumber]
            let n = segment.documentLengths[d]
            if n * dim > decoded.count { decoded = [Float](repeating: 0, count: n * dim); scores = [Float](repeating: 0, count: n * nq) }
            let score: Float = decoded.withUnsafeMutableBufferPointer { dec in
                index.decoder.decode(packed: segment.residuals(ofDocument: d), codes: segment.codes(ofDocument: d),
                                     codeWidth: segment.info.codeWidth, count: n, into: dec.baseAddress!)
                return scores.withUnsafeMutableBufferPointer { s in
                    BLAS.matmulTransposedB(dec.baseAddress!, query, s.baseAddress!, m: n, n: nq, k: dim)
                    return plaid_maxsim_from_scores(s.baseAddress!, n, nq)
                }
            }
            final.insert(score: score, document: ordinal)
        }
        return final.sorted().map { SearchResult(document: $0.document, id: index.documentID($0.document), score: $0.score) }
    }
}
