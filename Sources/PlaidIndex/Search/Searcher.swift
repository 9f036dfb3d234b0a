import Foundation
import PlaidCore
import PlaidKernels

/// PLAID's staged search over a `CompressedIndex`:
/// 1. candidate generation — score query tokens against all centroids with one product, take
///    each token's top `ncells` centroids and union their inverted lists;
/// 2. centroid pruning — approximate scores from the codes of centroids scoring ≥ t_cs only,
///    keep the best `ndocs`;
/// 3. centroid interaction — approximate scores from all codes, keep the best `ndocs/4`;
/// 4. exact rerank — MaxSim from those documents' codes and residuals (q·c from stage 1 plus q·r
///    from the residual buckets, nothing decompressed), return the top k.
///
/// On a codebook trained in groups (`CompressedIndex.searchGroups`, from 16,384 centroids on), an
/// unfiltered search runs the grouped stages instead (GroupedSearch.swift), which score only each
/// query token's best groups of centroids.
///
/// Each stage is a function of its own and records its time and candidates in a `SearchTrace`.
/// With a `DocumentFilter`, only the documents it allows are ever returned. A filter matching at
/// most `parameters.exactScoringTokens` tokens skips the stages: every allowed document is scored
/// exactly (stage 4 alone). A wider one restricts candidate generation to allowed documents,
/// probes `ncells / share` centroids per query token (share: the fraction of documents allowed),
/// and doubles that until at least `ndocs` allowed candidates are found (or all of them, or every
/// centroid is probed), so that few matches never leave the later stages short of candidates.
public struct Searcher: Sendable {
    public let index: CompressedIndex

    public init(index: CompressedIndex) { self.index = index }

    /// Queries whose stage 1 runs as one product in a batch search: the centroids are read once
    /// for all of them (see `CentroidScorer`). Results are the same as one query at a time.
    static let stageOneBatch = 4

    /// Searches a batch of queries on `threads` threads; each query's result does not depend
    /// on the thread count. `queries` is [count, tokensPerQuery, dim].
    /// `onQueryDone` receives each query's number and seconds (its share of its batch's stage 1
    /// included), and `onTrace` its stages; both are called under a lock, one query at a time.
    public func search(queries: QueryEmbeddings, parameters: SearchParameters, filter: DocumentFilter? = nil,
                       threads: Int = Parallel.defaultThreadCount, onTrace: ((Int, SearchTrace) -> Void)? = nil,
                       onQueryDone: ((Int, Double) -> Void)? = nil) -> [[SearchResult]] {
        precondition(queries.dim == index.dim, "query dimension \(queries.dim) differs from the index's \(index.dim)")
        var results = [[SearchResult]](repeating: [], count: queries.count)
        let previousThreads = BLAS.threadCount
        BLAS.setThreadCount(1)
        defer { BLAS.setThreadCount(previousThreads) }
        let perQuery = queries.tokensPerQuery * queries.dim, nq = queries.tokensPerQuery
        let batch = Self.stageOneBatch, batches = (queries.count + batch - 1) / batch
        let lock = NSLock()
        queries.values.withUnsafeBufferPointer { all in
            Parallel.forEach(batches, threads: threads) { b in
                let first = b * batch, count = min(batch, queries.count - first)
                let started = DispatchTime.now().uptimeNanoseconds
                let scores = runsStages(parameters, filter) && !(filter == nil && searchGroups != nil)
                    ? centroidScores(queries: all.baseAddress! + first * perQuery, count: count, tokens: nq) : nil
                let stageOne = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9 / Double(count)
                for i in 0..<count {
                    let q = first + i, queryStarted = DispatchTime.now().uptimeNanoseconds
                    var queryTrace = SearchTrace()
                    if let scores {
                        queryTrace.record(.centroidScores, seconds: stageOne, in: index.quantizer.count, out: scores[i].activeTokens.count)
                    }
                    let r = search(query: all.baseAddress! + q * perQuery, tokens: nq, parameters: parameters, filter: filter,
                                   scores: scores?[i], trace: &queryTrace)
                    let seconds = stageOne + Double(DispatchTime.now().uptimeNanoseconds - queryStarted) / 1e9
                    lock.lock()
                    results[q] = r
                    onTrace?(q, queryTrace)
                    onQueryDone?(q, seconds)
                    lock.unlock()
                }
            }
        }
        return results
    }

    /// Searches one query ([tokens, dim]).
    public func search(query: UnsafePointer<Float>, tokens nq: Int, parameters p: SearchParameters,
                       filter: DocumentFilter? = nil) -> [SearchResult] {
        var trace = SearchTrace()
        return search(query: query, tokens: nq, parameters: p, filter: filter, trace: &trace)
    }

    /// Searches one query ([tokens, dim]), recording each stage's time and candidates in `trace`.
    public func search(query: UnsafePointer<Float>, tokens nq: Int, parameters p: SearchParameters,
                       filter: DocumentFilter? = nil, trace: inout SearchTrace) -> [SearchResult] {
        search(query: query, tokens: nq, parameters: p, filter: filter, scores: nil, trace: &trace)
    }

    /// Whether a search runs the stages: not on an empty index or filter, nor on a filter narrow
    /// enough to score every match exactly.
    private func runsStages(_ p: SearchParameters, _ filter: DocumentFilter?) -> Bool {
        guard index.documentCount > 0 else { return false }
        guard let filter else { return true }
        return filter.count > 0 && filter.tokens > p.exactScoringTokens
    }

    /// One query's search, from stage 1's `scores` when a batch computed them (and recorded
    /// their time), else computing them.
    private func search(query: UnsafePointer<Float>, tokens nq: Int, parameters p: SearchParameters, filter: DocumentFilter?,
                        scores precomputed: CentroidScores?, trace: inout SearchTrace) -> [SearchResult] {
        if index.documentCount == 0 || filter?.count == 0 { return [] }
        if let filter, filter.tokens <= p.exactScoringTokens {
            var clock = trace.start()
            let results = exactScores(of: filter.ordinals, query: query, tokens: nq, k: p.k)
            trace.record(.exact, since: &clock, in: filter.count, out: results.count)
            return results
        }
        if filter == nil, let groups = searchGroups {
            return groupedSearch(query: query, tokens: nq, parameters: p, groups: groups, trace: &trace)
        }
        var clock = trace.start()
        let scores: CentroidScores
        if let precomputed {
            scores = precomputed
        } else {
            scores = centroidScores(queries: query, count: 1, tokens: nq)[0]
            trace.record(.centroidScores, since: &clock, in: index.quantizer.count, out: scores.activeTokens.count)
        }
        let candidates = generateCandidates(scores, parameters: p, filter: filter)
        trace.record(.candidates, since: &clock, in: scores.activeTokens.count, out: candidates.count)
        if candidates.isEmpty { return [] }
        let ndocs = max(p.ndocs, p.k)
        let interaction = CentroidInteraction(index: index, scores: scores, threshold: p.centroidScoreThreshold)
        let pruned = interaction.best(ndocs, of: candidates, pruned: true)
        trace.record(.prunedInteraction, since: &clock, in: candidates.count, out: pruned.count)
        let full = interaction.best(max(ndocs / 4, p.k), of: pruned, pruned: false)
        trace.record(.fullInteraction, since: &clock, in: pruned.count, out: full.count)
        let results = exactScores(of: full, centroidScores: scores, query: query, k: p.k)
        trace.record(.exact, since: &clock, in: full.count, out: results.count)
        return results
    }

    /// Stage 1, first half: every centroid's score against every query token.
    struct CentroidScores {
        /// Laid out [centroid, query token] from `offset` in `storage` (a batch's queries share
        /// one array), so one centroid's scores against all query tokens are contiguous for the
        /// interaction kernel.
        var storage: [Float]
        var offset: Int
        var tokens: Int
        /// Query tokens that are not zero rows (zero rows pad short queries; they match nothing,
        /// so they probe nothing and prune nothing).
        var activeTokens: [Int]
        /// A bound on every |score|: the largest query-token norm (the centroids are unit
        /// vectors, stored as float16 and scored in 16 bits, hence the margin).
        var bound: Float

        func withValues<R>(_ body: (UnsafePointer<Float>) -> R) -> R {
            storage.withUnsafeBufferPointer { body($0.baseAddress! + offset) }
        }
    }

    /// Stage 1's scores of `count` queries [count, tokens, dim], in one product.
    func centroidScores(queries: UnsafePointer<Float>, count: Int, tokens nq: Int) -> [CentroidScores] {
        let k = index.quantizer.count
        var values = [Float](repeating: 0, count: count * k * nq)
        values.withUnsafeMutableBufferPointer { index.quantizer.scores(queries: queries, count: count, tokens: nq, into: $0.baseAddress!) }
        return (0..<count).map { b in
            let query = queries + b * nq * index.dim
            let norms = (0..<nq).map { t in plaid_squared_norm(query + t * index.dim, index.dim).squareRoot() }
            return CentroidScores(storage: values, offset: b * k * nq, tokens: nq, activeTokens: (0..<nq).filter { norms[$0] > 0 },
                                  bound: 1.01 * (norms.max() ?? 0))
        }
    }

    /// Stage 1, second half: each active token's top `ncells` centroids, and the union of their
    /// inverted lists, as sorted ordinals (segment after segment, so ties rank as in the compacted
    /// index). Deleted documents, and documents the filter does not allow, never become candidates.
    func generateCandidates(_ scores: CentroidScores, parameters p: SearchParameters, filter: DocumentFilter?) -> [Int] {
        let k = index.quantizer.count, nq = scores.tokens
        let ndocs = max(p.ndocs, p.k)
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
        let tokens = scores.activeTokens.map(Int32.init)
        while true {
            var newlyProbed: [Int] = []
            var top = [Int32](repeating: 0, count: tokens.count * ncells)
            var heap = [Float](repeating: 0, count: tokens.count * ncells)
            scores.withValues { plaid_top_centroids($0, k, nq, tokens, tokens.count, ncells, &top, &heap) }
            for c in top where probed.insert(Int(c)).inserted { newlyProbed.append(Int(c)) }
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
            guard let filter, candidates.count < min(ndocs, filter.count), ncells < k, !scores.activeTokens.isEmpty else { break }
            ncells = min(k, ncells * 2)
        }
        candidates.sort()
        return candidates
    }

    /// Stages 2 and 3: approximate scores from the documents' centroid codes alone, on the
    /// centroid scores rounded to 16 bits (a relative error under 2e-5 of the largest score, far
    /// below what separates candidates), which halves the table the random code lookups read.
    struct CentroidInteraction {
        let index: CompressedIndex
        let tokens: Int
        /// [centroid, query token] in units of `unit`.
        let full: [Int16]
        /// Stage 2's table: row 0 all Int16.min (ignored by the kernel), then the rows of the
        /// centroids whose best score over the active tokens reaches the threshold, found
        /// through `rowOf` [centroid]. A few hundred of 8,192 centroids pass on SciFact, so the
        /// rows stay in L1 where `full` (512 KB) did not.
        let kept: [Int16]
        let rowOf: [UInt32]
        let unit: Float

        init(index: CompressedIndex, scores: CentroidScores, threshold: Float) {
            let k = index.quantizer.count, nq = scores.tokens
            var rowOf = [UInt32](repeating: 0, count: k)
            var keptCount = 0, unit: Float = 0
            let active = scores.activeTokens.map(Int32.init)
            // The kernel writes every entry of `full` and the rows of `kept` it reports, so
            // neither is cleared first (1 MB a query otherwise).
            var kept: [Int16] = []
            let full = [Int16](unsafeUninitializedCapacity: k * nq) { fullBuffer, fullCount in
                kept = [Int16](unsafeUninitializedCapacity: (k + 1) * nq) { keptBuffer, count in
                    unit = scores.withValues {
                        plaid_interaction_tables($0, k, nq, active, active.count, scores.bound, threshold, fullBuffer.baseAddress!,
                                                 &rowOf, keptBuffer.baseAddress!, &keptCount)
                    }
                    count = (keptCount + 1) * nq
                }
                fullCount = k * nq
            }
            self.unit = unit
            self.index = index
            self.tokens = nq
            self.full = full
            self.kept = kept
            self.rowOf = rowOf
        }

        /// The `count` best of `ordinals` by the interaction (codes of pruned centroids ignored
        /// when `pruned`), in score order; all of them, in their order, when there are no more.
        func best(_ count: Int, of ordinals: [Int], pruned: Bool) -> [Int] {
            guard ordinals.count > count else { return ordinals }
            var top = TopK(k: count)
            (pruned ? kept : full).withUnsafeBufferPointer { table in
                rowOf.withUnsafeBufferPointer { rows in
                    for (i, ordinal) in ordinals.enumerated() {
                        if i + 4 < ordinals.count { index.prefetchCodes(ofDocument: ordinals[i + 4]) }
                        let (segmentNumber, d) = index.locate(ordinal)
                        let segment = index.segments[segmentNumber]
                        let score = plaid_centroid_interaction16(table.baseAddress!, pruned ? rows.baseAddress! : nil, tokens,
                                                                 segment.codes(ofDocument: d), Int32(segment.info.codeWidth),
                                                                 segment.documentLengths[d], unit)
                        top.insert(score: score, document: ordinal)
                    }
                }
            }
            return top.items.map(\.document)
        }
    }

    /// Stage 4: MaxSim of the query against each document at `ordinals`, from its codes and
    /// residuals without decompressing them: q·(c + r) = q·c + q·r, where q·c is stage 1's
    /// centroid score and q·r is read from a table built once per query: each group of residual
    /// bits' product with the query tokens for every value it can hold (WARP's implicit
    /// decompression, here over every token of the candidates). A 2-bit residual of dimension
    /// 384 is 128 lookups of a 32-token row (6-bit groups) instead of 384 multiply-adds per query
    /// token. The entries are 16-bit and summed in 16 bits, with a unit per query token that rules
    /// out overflow; a token's q·r is within dim·nbits/8 of its units of the float value. The
    /// table (512 KB at dimension 384) is aligned to cache lines, since its rows are read at
    /// random; staged_search.c says why the groups are 6 bits wide (measurements:
    /// docs/benchmarks.md, "Design measurements"). The documents go to the kernel in one
    /// call, which reads their tokens in chunks that run across documents. The best `k`, best first.
    func exactScores(of ordinals: [Int], centroidScores scores: CentroidScores, query: UnsafePointer<Float>, k: Int) -> [SearchResult] {
        let documents = ordinals.map { ordinal -> plaid_lookup_document in
            let (segmentNumber, d) = index.locate(ordinal)
            let segment = index.segments[segmentNumber]
            return plaid_lookup_document(codes: segment.codes(ofDocument: d), residuals: segment.residuals(ofDocument: d),
                                         tokens: segment.documentLengths[d], codeWidth: Int32(segment.info.codeWidth))
        }
        return scores.withValues { exactScores(of: ordinals, documents: documents, scoreRows: $0, query: query, tokens: scores.tokens, k: k) }
    }

    /// Stage 4 on `documents` (those at `ordinals`), whose codes name rows of `scoreRows` [row, tokens]:
    /// the centroid scores of the codes.
    func exactScores(of ordinals: [Int], documents: [plaid_lookup_document], scoreRows: UnsafePointer<Float>, query: UnsafePointer<Float>,
                     tokens nq: Int, k: Int) -> [SearchResult] {
        let dim = index.dim
        var queryT = [Float](repeating: 0, count: dim * nq)
        for t in 0..<nq { for j in 0..<dim { queryT[j * nq + t] = query[t * dim + j] } }
        let nbits = Int32(index.codec.nbits)
        // Aligned to cache lines, so that a row of 32 query tokens is one line, not two.
        let lookupBytes = UnsafeMutableRawPointer.allocate(byteCount: plaid_residual_lookup_count(dim, nbits, nq) * 2, alignment: 64)
        defer { lookupBytes.deallocate() }
        let lookup = lookupBytes.bindMemory(to: Int16.self, capacity: plaid_residual_lookup_count(dim, nbits, nq))
        var scratch = [Float](repeating: 0, count: 21 * nq)  // the table build needs 21 rows of nq, the kernel 2
        var units = [Float](repeating: 0, count: nq)
        plaid_residual_lookup_build(queryT, nq, dim, nbits, index.codec.weights, lookup, &units, &scratch)
        var documentScores = [Float](repeating: 0, count: ordinals.count)
        plaid_maxsim_from_lookup(scoreRows, lookup, units, nq, dim, nbits, documents, documents.count, &documentScores, &scratch)
        var final = TopK(k: k)
        for (ordinal, score) in zip(ordinals, documentScores) { final.insert(score: score, document: ordinal) }
        return final.sorted().map { SearchResult(document: $0.document, id: index.documentID($0.document), score: $0.score) }
    }

    /// MaxSim of the query against each document at `ordinals`, decompressed from its residuals;
    /// the best `k`, best first. For a narrow filter, which has no stage 1 to take centroid scores from.
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
