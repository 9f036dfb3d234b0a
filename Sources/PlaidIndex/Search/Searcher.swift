import Foundation
import PlaidCore
import PlaidKernels

/// PLAID's staged search over a `CompressedIndex`:
/// 1. candidate generation — score query tokens against all centroids with one product, take
///    each token's top `ncells` centroids (and those within `probeMargin` of its best) and union
///    their inverted lists;
/// 2. centroid pruning — approximate scores from the codes of centroids scoring ≥ t_cs only,
///    keep the best `ndocs`;
/// 3. centroid interaction — approximate scores from all codes, keep the best `ndocs/4`;
/// 4. exact rerank — MaxSim from those documents' codes and residuals (q·c from stage 1 plus q·r
///    from the residual buckets, nothing decompressed), return the top k.
/// With `budgetsFromScores` (the default), stage 2 is skipped: every candidate is ranked by
/// stage 3's score, and the cut before stage 4 starts at `ndocs/4` and moves down that ranking
/// while the exact scores show that documents past it could still reach the first ten results
/// (AdaptiveRescoring.swift).
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
            let results = exactScores(of: filter.ordinals, query: query, tokens: nq, k: p.returnedResults)
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
        return rescoredStages(candidates: candidates, scores: scores, query: query, parameters: p, trace: &trace, clock: &clock)
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

    /// Each of `tokens`' `ncells` best centroids, and past them those within `margin` of its best
    /// centroid's score, up to `SearchParameters.probeWidening` · ncells in all: a token between
    /// centroids (a rare word, which k-means gave no centroid of its own) scores several almost
    /// equally, and its documents may sit in any of their lists. Token after token, each token's
    /// centroids best first.
    func probedCentroids(_ scores: CentroidScores, tokens: [Int32], ncells: Int, margin: Float) -> [Int32] {
        let k = index.quantizer.count
        let width = margin > 0 ? min(k, SearchParameters.probeWidening * ncells) : ncells
        var top = [Int32](repeating: 0, count: tokens.count * width)
        var heap = [Float](repeating: 0, count: tokens.count * width)
        scores.withValues { plaid_top_centroids($0, k, scores.tokens, tokens, tokens.count, width, &top, &heap) }
        guard width > ncells else { return top }
        var chosen: [Int32] = []
        for t in 0..<tokens.count {
            var ranked: [(score: Float, centroid: Int32)] = []
            for j in 0..<width { ranked.append((heap[t * width + j], top[t * width + j])) }
            ranked.sort { $0.score > $1.score || ($0.score == $1.score && $0.centroid < $1.centroid) }
            let floor = ranked[0].score - margin
            for (rank, item) in ranked.enumerated() where rank < ncells || item.score >= floor { chosen.append(item.centroid) }
        }
        return chosen
    }

    /// Stage 1, second half: each active token's top `ncells` centroids (and those within
    /// `probeMargin` of its best, `probedCentroids`), and the union of their inverted lists, as
    /// sorted ordinals (segment after segment, so ties rank as in the compacted index). Deleted
    /// documents, and documents the filter does not allow, never become candidates.
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
            let top = probedCentroids(scores, tokens: tokens, ncells: ncells, margin: p.probeMargin)
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

        /// A document and its interaction score.
        typealias Scored = (score: Float, document: Int)

        /// Every one of `ordinals` with its pruned interaction score (P), to be read best first.
        func rankedPruned(_ ordinals: [Int]) -> Ranking {
            Ranking(scores: scored(ordinals, pruned: true), documents: ordinals)
        }

        /// Every one of `ordinals` with its full interaction score (A), to be read best first.
        func rankedFull(_ ordinals: [Int]) -> Ranking {
            Ranking(scores: scored(ordinals, pruned: false), documents: ordinals)
        }

        /// The interaction score of each of `ordinals`, codes of pruned centroids ignored when `pruned`.
        private func scored(_ ordinals: [Int], pruned: Bool) -> [Float] {
            (pruned ? kept : full).withUnsafeBufferPointer { table in
                rowOf.withUnsafeBufferPointer { rows in
                    ordinals.enumerated().map { (i, ordinal) in
                        if i + 4 < ordinals.count { index.prefetchCodes(ofDocument: ordinals[i + 4]) }
                        let (segmentNumber, d) = index.locate(ordinal)
                        let segment = index.segments[segmentNumber]
                        return plaid_centroid_interaction16(table.baseAddress!, pruned ? rows.baseAddress! : nil, tokens,
                                                            segment.codes(ofDocument: d), Int32(segment.info.codeWidth),
                                                            segment.documentLengths[d], unit)
                    }
                }
            }
        }
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
