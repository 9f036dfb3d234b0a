import Foundation
import PlaidCore
import PlaidKernels

/// The staged search over a codebook trained in groups (`CompressedIndex.searchGroups`), whose
/// cost follows the candidates it keeps rather than every centroid and every candidate:
///
/// 1. centroid scores — each query token is scored against the group centers, then against the
///    centroids of its own best `groupProbes` groups and the tail only (bounded from 8-bit rows
///    first, and scored in 16 bits where the bounds say the score could matter);
///    the centroids a token scores at or above the threshold, and the tail, are then scored by
///    every token (the rows stage 2 reads);
///    candidate lists — each token's best `ncells` (at least 2) of its scored centroids, and the
///    documents of their lists;
///    candidate selection — each candidate scored from the postings alone: the sum over query
///    tokens of the best score among that token's probed centroids whose list holds it (nothing
///    for a token none of whose lists holds it); the best `candidateBudget` kept;
/// 2. pruned centroid interaction on those, over the rows of step 1: what the dense search's
///    stage 2 computes for the same documents, but for centroids above the threshold that no
///    token scored (they lie outside every token's best groups);
/// 3. the best `ndocs / 4` of stage 2's ranking (the dense search rescored them from every code,
///    which would need a row for every code), and with `budgetsFromScores` as many more down
///    that ranking as the errors of its scores say could still reach the first ten
///    (AdaptiveRescoring.swift);
/// 4. exact MaxSim, as in `Searcher`, once every centroid their codes name has a row.
///
/// Probing every group with an unlimited budget, ndocs = k and ncells ≥ 2 gives the dense
/// search's results with PLAID's fixed budgets (`GroupedSearchTests`). docs/benchmarks.md,
/// "Search at scale", has what the defaults keep.
extension Searcher {
    /// The groups an unfiltered search works in: the index's, but for a snapshot of 2^32
    /// documents or more, whose ordinals the candidate lists' kernel does not hold.
    var searchGroups: CentroidSearchGroups? { index.ordinalCount < 1 << 32 ? index.searchGroups : nil }

    /// Grouped stage 1: each token's probes, and the rows of scores (every token) of the
    /// centroids stage 2 keeps and of those stage 4 reads.
    struct PartialCentroidScores {
        /// Centroids with a row: row r of `values` is centroid ids[r]'s.
        var ids: [Int32]
        /// [ids.count, tokens].
        var values: [Float]
        /// [centroid]: its row in `values` plus 1; 0 when it has none.
        var slot: [UInt32]
        let tokens: Int
        let activeTokens: [Int]
        /// A bound on every |score| (see `CentroidScores.bound`).
        let bound: Float
        /// probes[i]: active token i's best `ncells` centroids and their scores, best first (ties
        /// to the lower centroid).
        var probes: [[(centroid: Int, score: Float)]] = []
        /// Centroids some token scored.
        var scoredCentroids = 0

        /// No rows yet, for `query` [tokens, dim].
        init(index: CompressedIndex, query: UnsafePointer<Float>, tokens nq: Int) {
            let norms = (0..<nq).map { t in plaid_squared_norm(query + t * index.dim, index.dim).squareRoot() }
            ids = []
            values = []
            slot = [UInt32](repeating: 0, count: index.quantizer.count)
            tokens = nq
            activeTokens = (0..<nq).filter { norms[$0] > 0 }
            bound = 1.01 * (norms.max() ?? 0)
        }

        /// Gives every centroid of `centroids` that has none a row (each at most once), scored by
        /// `method` (the grouped search's 16-bit products by default).
        mutating func addRows(_ centroids: [Int], index: CompressedIndex, query: UnsafePointer<Float>,
                              method: CentroidScorer.Method = .int16) {
            var more: [Int32] = []
            for c in centroids where slot[c] == 0 {
                more.append(Int32(c))
                slot[c] = UInt32(ids.count + more.count)
            }
            scoreRows(more, index: index, query: query, method: method)
        }

        /// Appends the rows of `more`, whose slots name the rows after the present ones, in order.
        private mutating func scoreRows(_ more: [Int32], index: CompressedIndex, query: UnsafePointer<Float>,
                                        method: CentroidScorer.Method) {
            guard !more.isEmpty else { return }
            // A new array the rows are scored into, where growing `values` by zeros wrote every
            // new row twice (stage 4 adds thousands).
            let first = values.count, count = first + more.count * tokens
            values = [Float](unsafeUninitializedCapacity: count) { grown, written in
                _ = grown.initialize(from: values)
                index.quantizer.scores(query: query, tokens: tokens, of: more, into: grown.baseAddress! + first, method: method)
                written = count
            }
            ids += more
        }

        /// `body` given the documents at `ordinals` with their codes rewritten as rows of
        /// `values`, and `values`, once every centroid their codes name has a row (scored by
        /// `method`, the grouped search's 16-bit products by default).
        mutating func withRowCodedDocuments<R>(_ ordinals: [Int], index: CompressedIndex, query: UnsafePointer<Float>,
                                               method: CentroidScorer.Method = .int16,
                                               _ body: ([plaid_lookup_document], UnsafePointer<Float>) -> R) -> R {
            var documents = index.lookupDocuments(ordinals, residuals: true)
            let tokenCount = documents.reduce(0) { $0 + $1.tokens }
            var rowCodes = [UInt32](repeating: 0, count: tokenCount), added = [Int32](repeating: 0, count: tokenCount)
            let rows = UInt32(ids.count)
            let count = slot.withUnsafeMutableBufferPointer {
                plaid_rows_of_codes(documents, documents.count, index.quantizer.count, $0.baseAddress!, rows, &added, &rowCodes)
            }
            precondition(count >= 0, "a code past the codebook's \(index.quantizer.count) centroids")  // SIZE_MAX reads as -1; codes are checked at open
            added.removeLast(tokenCount - count)
            scoreRows(added, index: index, query: query, method: method)
            return rowCodes.withUnsafeBufferPointer { rowCodes in
                var start = 0
                for i in documents.indices {
                    documents[i].codes = UnsafeRawPointer(rowCodes.baseAddress! + start)
                    documents[i].codeWidth = 4
                    start += documents[i].tokens
                }
                return values.withUnsafeBufferPointer { body(documents, $0.baseAddress!) }
            }
        }
    }

    /// Grouped stage 1: each active token scores the centroids of its best `probes` groups (by
    /// its scores of their centers) and of the tail, and takes its best `ncells` of them as
    /// probes; every centroid a token scores at or above `threshold` (which stage 2 keeps) gets a
    /// row of scores by every token, as does the tail.
    func partialCentroidScores(query: UnsafePointer<Float>, tokens nq: Int, groups: CentroidSearchGroups, probes: Int,
                               ncells: Int, threshold: Float) -> PartialCentroidScores {
        let dim = index.dim, g = groups.count
        var scores = PartialCentroidScores(index: index, query: query, tokens: nq)
        let active = scores.activeTokens
        var passing = Array(groups.tail)
        if !active.isEmpty {
            var groupScores = [Float](repeating: 0, count: g * nq)
            groups.centers.withUnsafeBufferPointer { BLAS.matmulTransposedB($0.baseAddress!, query, &groupScores, m: g, n: nq, k: dim) }
            let p = min(max(1, probes), g)
            var top = [Int32](repeating: 0, count: active.count * p), heap = [Float](repeating: 0, count: active.count * p)
            plaid_top_centroids(groupScores, g, nq, active.map(Int32.init), active.count, p, &top, &heap)
            // Group-major: each chosen group's centroids are scored for every token that chose it
            // in turn, so that its rows are read from memory once and then from cache.
            var choosers = [[Int]](repeating: [], count: g)
            for i in active.indices { for group in top[(i * p)..<((i + 1) * p)] { choosers[Int(group)].append(i) } }
            let chosenGroups = (0..<g).filter { !choosers[$0].isEmpty }
            scores.scoredCentroids = chosenGroups.reduce(0) { $0 + groups.members(of: $1).count }
            var best = [ProbeChoice](repeating: ProbeChoice(count: max(1, ncells)), count: active.count)
            let room = max(groups.largestGroup, groups.tail.count)
            var own = [Float](repeating: 0, count: room), offsets = [Int32](repeating: 0, count: room)
            var scratch = [Float](repeating: 0, count: 2 * room + max(1, ncells))
            // Groups in centroid order, then the tail (which every token probes among too), so
            // that each token meets its centroids in increasing order and ties go to the lower.
            let visits = chosenGroups.map { (members: groups.members(of: $0), tokens: choosers[$0]) }
                + (groups.tail.isEmpty ? [] : [(members: groups.tail, tokens: Array(active.indices))])
            for visit in visits {
                for i in visit.tokens {
                    // Only the centroids that can matter, at the threshold or among the best
                    // ncells, are scored: each of the others scores below the threshold and
                    // below ncells others or the chosen's worst, where `consider` would pass it
                    // over or keep it only until those displace it.
                    let worst = best[i].chosen.count == best[i].count ? best[i].chosen[best[i].count - 1].score : -Float.infinity
                    let scored = index.quantizer.screenedScores(token: query + active[i] * dim, range: visit.members, threshold: threshold,
                                                                worst: worst, keep: best[i].count, offsets: &offsets, scores: &own,
                                                                scratch: &scratch)
                    for j in 0..<scored {
                        let score = own[j], c = visit.members.lowerBound + Int(offsets[j])
                        if score >= threshold { passing.append(c) }
                        best[i].consider(centroid: c, score: score)
                    }
                }
            }
            scores.probes = best.map(\.chosen)
        }
        scores.addRows(passing, index: index, query: query)
        return scores
    }

    /// One token's best `count` centroids, best first, as they are met in increasing centroid
    /// order (so a tie keeps the lower centroid).
    struct ProbeChoice {
        let count: Int
        var chosen: [(centroid: Int, score: Float)] = []

        init(count: Int) { self.count = count }

        mutating func consider(centroid: Int, score: Float) {
            if chosen.count == count {
                guard score > chosen[count - 1].score else { return }
                chosen.removeLast()
            }
            var at = chosen.count
            while at > 0 && chosen[at - 1].score < score { at -= 1 }
            chosen.insert((centroid, score), at: at)
        }
    }

    /// Candidate lists: the live documents of each active token's top `ncells` scored centroids,
    /// in the order first found, and each one's score from the postings, `credit[i]` for
    /// candidates[i] (the sum over tokens of the best score among the token's probed centroids
    /// whose list holds it).
    func scoredCandidates(_ scores: PartialCentroidScores) -> (candidates: [Int], credit: [Float]) {
        let probes = scores.probes
        // The segments' deletion bitmaps side by side in one array, so that the kernel can be
        // given a pointer into it for each list.
        var deletions: [UInt64] = [], deletionStart: [Int?] = []
        for segment in index.segments {
            deletionStart.append(segment.deleted.isEmpty ? nil : deletions.count)
            deletions += segment.deleted
        }
        var found: [Int] = [], credit: [Float] = []
        deletions.withUnsafeBufferPointer { bits in
            var room = 0, lists: [plaid_probed_list] = []
            for (i, tokenProbes) in probes.enumerated() {
                for probe in tokenProbes {
                    let c = probe.centroid
                    for (s, segment) in index.segments.enumerated() where c < segment.info.listCount {
                        let list = segment.invertedLists.probed(list: c, base: index.segmentBases[s], deleted: deletionStart[s].map { bits.baseAddress! + $0 },
                                                                mark: Int32(i + 1), score: probe.score)
                        room += list.end - list.start  // a posting a byte at most: the recorded lengths may lie where postings went unchecked
                        lists.append(list)
                    }
                }
            }
            // Not cleared first: the kernel writes the first `count` of each.
            var count = 0
            credit = [Float](unsafeUninitializedCapacity: room) { credit, kept in
                found = [Int](unsafeUninitializedCapacity: room) { found, made in
                    count = found.withMemoryRebound(to: Int64.self) {
                        plaid_credit_lists(lists, lists.count, index.ordinalCount, room, $0.baseAddress, credit.baseAddress)
                    }
                    made = max(count, 0)
                }
                kept = max(count, 0)
            }
            precondition(count >= 0, "out of memory crediting \(room) postings")  // SIZE_MAX reads as -1
        }
        return (found, credit)
    }

    /// The `count` of `ordinals` (distinct, non-negative) with the largest scores (`scores[i]`
    /// is ordinals[i]'s, finite; ties to the lower ordinal), in increasing ordinal order; all of
    /// them, sorted, when there are no more.
    static func best(_ count: Int, of ordinals: [Int], scores: [Float]) -> [Int] {
        precondition(scores.count == ordinals.count)
        let room = min(max(count, 0), ordinals.count)
        guard room > 0 else { return [] }
        var kept = [Int](repeating: 0, count: room)
        let made = ordinals.withUnsafeBufferPointer { given in
            kept.withUnsafeMutableBufferPointer { out in
                given.withMemoryRebound(to: Int64.self) { given in
                    out.withMemoryRebound(to: Int64.self) { plaid_select_best(given.baseAddress!, scores, given.count, room, $0.baseAddress!) }
                }
            }
        }
        precondition(made == room, "out of memory selecting \(room) of \(ordinals.count) candidates")  // SIZE_MAX reads as -1
        return kept
    }

    /// The grouped search of one query (no filter).
    func groupedSearch(query: UnsafePointer<Float>, tokens nq: Int, parameters p: SearchParameters, groups: CentroidSearchGroups,
                       trace: inout SearchTrace) -> [SearchResult] {
        var clock = trace.start()
        var scores = partialCentroidScores(query: query, tokens: nq, groups: groups, probes: p.groupProbes, ncells: p.groupedNcells,
                                           threshold: p.centroidScoreThreshold)
        trace.record(.centroidScores, since: &clock, in: scores.scoredCentroids, out: scores.activeTokens.count)
        let ndocs = max(p.ndocs, p.k)
        let (candidates, credit) = scoredCandidates(scores)
        trace.record(.candidates, since: &clock, in: scores.activeTokens.count, out: candidates.count)
        let selected = Searcher.best(p.effectiveCandidateBudget, of: candidates, scores: credit)
        trace.record(.candidateSelection, since: &clock, in: candidates.count, out: selected.count)
        if selected.isEmpty { return [] }
        let ranked = PrunedInteraction(scores: scores, threshold: p.centroidScoreThreshold, index: index).ranked(selected)
        trace.record(.prunedInteraction, since: &clock, in: selected.count, out: min(ndocs, ranked.count))
        // Stage 3 keeps the best ndocs/4 of stage 2's ranking, and, with the budgets from the
        // scores, as many more down it as the errors of the pruned scores say could still reach
        // the first ten (as `rescoredStages` does for the flat search).
        let lookup = ResidualLookup(index: index, query: query, tokens: nq)
        let rescored = rescore(ranked, parameters: p) { exactScores(of: $0, scores: &scores, lookup: lookup, query: query) }
        trace.record(.fullInteraction, seconds: 0, in: ranked.count, out: rescored.scored)
        clock = DispatchTime.now().uptimeNanoseconds
        return rescored.results(trace: &trace, index: index)
    }

    /// Stage 4 of the grouped search: MaxSim of the documents at `ordinals`, after giving every
    /// centroid their codes name a row of scores (the codes are rewritten as rows of `values`).
    private func exactScores(of ordinals: [Int], scores: inout PartialCentroidScores, lookup: ResidualLookup,
                             query: UnsafePointer<Float>) -> [Float] {
        scores.withRowCodedDocuments(ordinals, index: index, query: query) { lookup.scores(of: $0, scoreRows: $1) }
    }

    /// Stage 2 over partial scores: the centroid interaction (16-bit scores, as
    /// `CentroidInteraction`) on the rows of the centroids some token scored at or above the
    /// threshold; every other code is ignored. Stage 3 keeps the best of its ranking: its scores
    /// from every code would need a row for every code of every document it ranks, and adding
    /// the codes below the threshold changed no ranking that mattered here (docs/benchmarks.md).
    struct PrunedInteraction {
        let index: CompressedIndex
        let tokens: Int
        /// Row 0 all Int16.min (ignored), then the kept rows in centroid order.
        let kept: [Int16]
        /// Bit c set where centroid c has a row in `kept`.
        let hasRow: [UInt64]
        /// [word w of hasRow]: the bits set in words 0..<w, so that centroid c's row is 1 + those
        /// and the bits below c's in its word.
        let rowsBefore: [UInt32]
        let unit: Float

        init(scores: PartialCentroidScores, threshold: Float, index: CompressedIndex) {
            let rows = scores.ids.count, nq = scores.tokens
            var keptRowOf = [UInt32](repeating: 0, count: rows)
            var keptCount = 0, unit: Float = 0
            let active = scores.activeTokens.map(Int32.init)
            var full = [Int16](repeating: 0, count: rows * nq)
            var table = [Int16](repeating: 0, count: (rows + 1) * nq)
            scores.values.withUnsafeBufferPointer { values in
                unit = plaid_interaction_tables(values.baseAddress!, rows, nq, active, active.count, scores.bound, threshold,
                                                &full, &keptRowOf, &table, &keptCount)
            }
            // The kept rows in the order of their centroids (`scores` has them in the order added).
            let order = scores.ids.indices.filter { keptRowOf[$0] != 0 }.sorted { scores.ids[$0] < scores.ids[$1] }
            var kept = [Int16](repeating: Int16.min, count: (order.count + 1) * nq)
            var hasRow = [UInt64](repeating: 0, count: (index.quantizer.count + 63) / 64)
            for (r, at) in order.enumerated() {
                let from = Int(keptRowOf[at]) * nq
                kept.replaceSubrange((r + 1) * nq..<(r + 2) * nq, with: table[from..<from + nq])
                let id = Int(scores.ids[at])
                hasRow[id >> 6] |= 1 << UInt64(id & 63)
            }
            var rowsBefore = [UInt32](repeating: 0, count: hasRow.count), before: UInt32 = 0
            for (w, word) in hasRow.enumerated() {
                rowsBefore[w] = before
                before += UInt32(word.nonzeroBitCount)
            }
            self.index = index
            self.tokens = nq
            self.kept = kept
            self.hasRow = hasRow
            self.rowsBefore = rowsBefore
            self.unit = unit
        }

        /// Every one of `ordinals` with its score, to be read best first.
        func ranked(_ ordinals: [Int]) -> Ranking {
            // Where each document's codes lie, found first in one pass: the lookups are
            // independent there, where made one document at a time each one waited on memory.
            let documents = index.lookupDocuments(ordinals, residuals: false)
            var scores = [Float](repeating: 0, count: documents.count)
            let farAhead = index.segments.allSatisfy(\.codesOnHugePages) ? 0 : 32
            plaid_centroid_interactions16(kept, nil, hasRow, rowsBefore, tokens, documents, documents.count, farAhead, unit, &scores)
            return Ranking(scores: scores, documents: ordinals)
        }
    }
}
