import Foundation
import PlaidCore
import PlaidKernels

/// The staged search over a codebook trained in groups (`CompressedIndex.searchGroups`), whose
/// cost follows the candidates it keeps rather than the centroids and the corpus:
///
/// 1. centroid scores — each query token scored against the group centers, then every query
///    token against the centroids of the union of each token's best `groupProbes` groups (and
///    the tail), not against all centroids;
///    candidate lists — each token's top `ncells` of those centroids, and their lists' documents;
///    candidate selection — each candidate scored from the postings alone: the sum over query
///    tokens of the best score among that token's probed centroids whose list holds it; the best
///    `candidateBudget` kept (a document no probed list of a token holds gets nothing for it);
/// 2. pruned centroid interaction on those, from the scored centroids at or above the threshold;
/// 3. centroid interaction on the best `ndocs`, after scoring every centroid their codes name;
/// 4. exact MaxSim on the best `ndocs / 4`, as in `Searcher`.
///
/// Stages 2–4 compute what the dense search does for the same documents; what differs is which
/// documents reach them (the selection) and that stage 2 ignores codes of unscored centroids, as
/// it ignores those below the threshold.
extension Searcher {
    /// Stage 1's scores of some centroids.
    struct PartialCentroidScores {
        /// The scored centroids: row r of `values` is centroid ids[r]'s.
        var ids: [Int32]
        /// [ids.count, tokens].
        var values: [Float]
        /// [centroid]: its row in `values` plus 1; 0 when not scored.
        var slot: [UInt32]
        let tokens: Int
        let activeTokens: [Int]
        /// A bound on every |score| (see `CentroidScores.bound`).
        let bound: Float

        /// Scores the centroids among `codes` not scored yet.
        mutating func scoreCodes(of documents: [Int], in index: CompressedIndex, query: UnsafePointer<Float>) {
            var more: [Int32] = []
            let pending = UInt32.max
            for ordinal in documents {
                let (s, d) = index.locate(ordinal)
                let segment = index.segments[s]
                let codes = segment.codes(ofDocument: d), width = segment.info.codeWidth
                for i in 0..<segment.documentLengths[d] {
                    let code = Searcher.code(at: i, in: codes, width: width)
                    if slot[code] == 0 { slot[code] = pending; more.append(Int32(code)) }
                }
            }
            guard !more.isEmpty else { return }
            let first = ids.count
            values += [Float](repeating: 0, count: more.count * tokens)
            values.withUnsafeMutableBufferPointer {
                index.quantizer.scores(query: query, tokens: tokens, of: more, into: $0.baseAddress! + first * tokens)
            }
            for (r, id) in more.enumerated() { slot[Int(id)] = UInt32(first + r + 1) }
            ids += more
        }
    }

    /// Grouped stage 1: the scores of the centroids of each active token's best `probes` groups.
    func partialCentroidScores(query: UnsafePointer<Float>, tokens nq: Int, groups: CentroidSearchGroups, probes: Int) -> PartialCentroidScores {
        let dim = index.dim, g = groups.count
        let norms = (0..<nq).map { t in plaid_squared_norm(query + t * dim, dim).squareRoot() }
        let active = (0..<nq).filter { norms[$0] > 0 }
        var chosen = [Bool](repeating: false, count: g)
        if !active.isEmpty {
            var groupScores = [Float](repeating: 0, count: g * nq)
            groups.centers.withUnsafeBufferPointer { BLAS.matmulTransposedB($0.baseAddress!, query, &groupScores, m: g, n: nq, k: dim) }
            let p = min(max(1, probes), g)
            var top = [Int32](repeating: 0, count: active.count * p), heap = [Float](repeating: 0, count: active.count * p)
            plaid_top_centroids(groupScores, g, nq, active.map(Int32.init), active.count, p, &top, &heap)
            for group in top { chosen[Int(group)] = true }
        }
        var ids: [Int32] = []
        for group in 0..<g where chosen[group] { ids += groups.members(of: group).map(Int32.init) }
        ids += groups.tail.map(Int32.init)
        var values = [Float](repeating: 0, count: ids.count * nq)
        values.withUnsafeMutableBufferPointer { index.quantizer.scores(query: query, tokens: nq, of: ids, into: $0.baseAddress!) }
        var slot = [UInt32](repeating: 0, count: index.quantizer.count)
        for (r, id) in ids.enumerated() { slot[Int(id)] = UInt32(r + 1) }
        return PartialCentroidScores(ids: ids, values: values, slot: slot, tokens: nq, activeTokens: active,
                                     bound: 1.01 * (norms.max() ?? 0))
    }

    /// Candidate lists: the live documents of each active token's top `ncells` scored centroids,
    /// in the order first found, and each one's score from the postings, `credit[i]` for
    /// candidates[i] (the sum over tokens of the best score among the token's probed centroids
    /// whose list holds it).
    func scoredCandidates(_ scores: PartialCentroidScores, ncells: Int) -> (candidates: [Int], credit: [Float]) {
        let nq = scores.tokens, rows = scores.ids.count
        let n = min(max(1, ncells), rows)
        let active = scores.activeTokens
        guard n > 0, !active.isEmpty else { return ([], []) }
        var top = [Int32](repeating: 0, count: active.count * n), heap = [Float](repeating: 0, count: active.count * n)
        scores.values.withUnsafeBufferPointer { plaid_top_centroids($0.baseAddress!, rows, nq, active.map(Int32.init), active.count, n, &top, &heap) }
        // Best probe first, so that a document in several of a token's lists is credited the best of them.
        typealias Probe = (row: Int, score: Float)
        let probes: [[Probe]] = (0..<active.count).map { i in
            let probes: [Probe] = (0..<n).map { j in (row: Int(top[i * n + j]), score: heap[i * n + j]) }
            return probes.sorted { a, b in a.score != b.score ? a.score > b.score : a.row < b.row }
        }
        // The segments' deletion bitmaps side by side in one array, so that the kernel can be
        // given a pointer into it for each list.
        var deletions: [UInt64] = [], deletionStart: [Int?] = []
        for segment in index.segments {
            deletionStart.append(segment.deleted.isEmpty ? nil : deletions.count)
            deletions += segment.deleted
        }
        var found: [Int64] = [], credit: [Float] = []
        let count = deletions.withUnsafeBufferPointer { bits -> Int in
            var room = 0, lists: [plaid_probed_list] = []
            for (i, tokenProbes) in probes.enumerated() {
                for probe in tokenProbes {
                    let c = Int(scores.ids[probe.row])
                    for (s, segment) in index.segments.enumerated() where c < segment.info.listCount {
                        room += segment.invertedLists.count(ofList: c)
                        lists.append(segment.invertedLists.probed(list: c, base: index.segmentBases[s], deleted: deletionStart[s].map { bits.baseAddress! + $0 },
                                                                  mark: Int32(i + 1), score: probe.score))
                    }
                }
            }
            found = [Int64](repeating: 0, count: room)
            credit = [Float](repeating: 0, count: room)
            let count = plaid_credit_lists(lists, lists.count, index.ordinalCount, &found, &credit)
            precondition(count != Int.max, "out of memory crediting \(room) postings")
            return count
        }
        credit.removeLast(credit.count - count)
        let candidates = found.prefix(count).map { Int($0) }
        return (candidates, credit)
    }

    /// The `count` of `ordinals` with the largest scores (`scores[i]` is ordinals[i]'s; ties to
    /// the lower ordinal), in increasing ordinal order; all of them, sorted, when there are no more.
    static func best(_ count: Int, of ordinals: [Int], scores: [Float]) -> [Int] {
        guard ordinals.count > count else { return ordinals.sorted() }
        guard count > 0 else { return [] }
        var values = scores
        let threshold = Searcher.largest(count, in: &values)
        var kept: [Int] = [], ties: [Int] = []
        kept.reserveCapacity(count)
        for (ordinal, score) in zip(ordinals, scores) {
            if score > threshold { kept.append(ordinal) } else if score == threshold { ties.append(ordinal) }
        }
        ties.sort()
        kept += ties.prefix(count - kept.count)
        return kept.sorted()
    }

    /// The `k`-th largest of `values` (1 ≤ k ≤ count), which it reorders (quickselect).
    static func largest(_ k: Int, in values: inout [Float]) -> Float {
        precondition(k >= 1 && k <= values.count)
        let target = k - 1
        return values.withUnsafeMutableBufferPointer { v -> Float in
            var lo = 0, hi = v.count - 1
            while lo < hi {
                // Median of three as the pivot; descending order.
                let mid = lo + (hi - lo) / 2
                let a = v[lo], b = v[mid], c = v[hi]
                let pivot = max(min(a, b), min(max(a, b), c))
                var i = lo, j = hi
                while i <= j {
                    while v[i] > pivot { i += 1 }
                    while v[j] < pivot { j -= 1 }
                    if i <= j { v.swapAt(i, j); i += 1; j -= 1 }
                }
                if target <= j { hi = j } else if target >= i { lo = i } else { return v[target] }
            }
            return v[target]
        }
    }

    /// The grouped search of one query (no filter).
    func groupedSearch(query: UnsafePointer<Float>, tokens nq: Int, parameters p: SearchParameters, groups: CentroidSearchGroups,
                       trace: inout SearchTrace) -> [SearchResult] {
        var clock = trace.start()
        var scores = partialCentroidScores(query: query, tokens: nq, groups: groups, probes: p.groupProbes)
        trace.record(.centroidScores, since: &clock, in: scores.ids.count, out: scores.activeTokens.count)
        let ndocs = max(p.ndocs, p.k)
        let (candidates, credit) = scoredCandidates(scores, ncells: p.ncells)
        trace.record(.candidates, since: &clock, in: scores.activeTokens.count, out: candidates.count)
        let selected = Searcher.best(p.effectiveCandidateBudget, of: candidates, scores: credit)
        trace.record(.candidateSelection, since: &clock, in: candidates.count, out: selected.count)
        if selected.isEmpty { return [] }
        let pruned = PartialInteraction(scores: scores, threshold: p.centroidScoreThreshold, index: index).best(ndocs, of: selected)
        trace.record(.prunedInteraction, since: &clock, in: selected.count, out: pruned.count)
        let full = PartialInteraction(scores: scores, threshold: nil, index: index).best(max(ndocs / 4, p.k), of: pruned)
        trace.record(.fullInteraction, since: &clock, in: pruned.count, out: full.count)
        scores.scoreCodes(of: full, in: index, query: query)
        // Stage 4 reads each code's row of scores: the codes are rewritten as rows of `values`.
        var rows: [UInt32] = []
        var starts: [Int] = []
        for ordinal in full {
            let (s, d) = index.locate(ordinal)
            let segment = index.segments[s]
            let codes = segment.codes(ofDocument: d), width = segment.info.codeWidth
            starts.append(rows.count)
            for i in 0..<segment.documentLengths[d] { rows.append(scores.slot[Searcher.code(at: i, in: codes, width: width)] - 1) }
        }
        let results = rows.withUnsafeBufferPointer { rowCodes in
            let documents = full.enumerated().map { (j, ordinal) -> plaid_lookup_document in
                let (s, d) = index.locate(ordinal)
                let segment = index.segments[s]
                return plaid_lookup_document(codes: UnsafeRawPointer(rowCodes.baseAddress! + starts[j]), residuals: segment.residuals(ofDocument: d),
                                             tokens: segment.documentLengths[d], codeWidth: 4)
            }
            return scores.values.withUnsafeBufferPointer {
                exactScores(of: full, documents: documents, scoreRows: $0.baseAddress!, query: query, tokens: nq, k: p.k)
            }
        }
        trace.record(.exact, since: &clock, in: full.count, out: results.count)
        return results
    }

    /// Token i's centroid in a document's codes of `width` bytes.
    @inline(__always)
    static func code(at i: Int, in codes: UnsafeRawPointer, width: Int) -> Int {
        switch width {
        case 1: return Int(codes.load(fromByteOffset: i, as: UInt8.self))
        case 2: return Int(codes.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))
        default: return Int(codes.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self))
        }
    }

    /// Stages 2 and 3 over partial scores: the centroid interaction (16-bit scores, as
    /// `CentroidInteraction`) through a map from centroid to row; unscored centroids, and with a
    /// threshold those whose best score is below it, map to the ignored row 0.
    struct PartialInteraction {
        let index: CompressedIndex
        let tokens: Int
        /// Row 0 all Int16.min, then the rows of the centroids kept.
        let table: [Int16]
        /// [centroid]: its row in `table`.
        let rowOf: [UInt32]
        let unit: Float

        init(scores: PartialCentroidScores, threshold: Float?, index: CompressedIndex) {
            let rows = scores.ids.count, nq = scores.tokens
            var rowOfScored = [UInt32](repeating: 0, count: rows)
            var keptCount = 0, unit: Float = 0
            let active = scores.activeTokens.map(Int32.init)
            var full = [Int16](repeating: 0, count: rows * nq)
            var kept = [Int16](repeating: 0, count: (rows + 1) * nq)
            scores.values.withUnsafeBufferPointer { values in
                unit = plaid_interaction_tables(values.baseAddress!, rows, nq, active, active.count, scores.bound, threshold ?? -Float.infinity,
                                                &full, &rowOfScored, &kept, &keptCount)
            }
            var rowOf = [UInt32](repeating: 0, count: index.quantizer.count)
            for (r, id) in scores.ids.enumerated() { rowOf[Int(id)] = rowOfScored[r] }
            kept.removeLast((rows - keptCount) * nq)
            self.index = index
            self.tokens = nq
            self.table = kept
            self.rowOf = rowOf
            self.unit = unit
        }

        /// The `count` best of `ordinals` (in score order; all of them, in their order, when
        /// there are no more).
        func best(_ count: Int, of ordinals: [Int]) -> [Int] {
            guard ordinals.count > count else { return ordinals }
            var top = TopK(k: count)
            table.withUnsafeBufferPointer { table in
                rowOf.withUnsafeBufferPointer { rows in
                    for (i, ordinal) in ordinals.enumerated() {
                        if i + 4 < ordinals.count { index.prefetchCodes(ofDocument: ordinals[i + 4]) }
                        let (segmentNumber, d) = index.locate(ordinal)
                        let segment = index.segments[segmentNumber]
                        let score = plaid_centroid_interaction16(table.baseAddress!, rows.baseAddress!, tokens, segment.codes(ofDocument: d),
                                                                 Int32(segment.info.codeWidth), segment.documentLengths[d], unit)
                        top.insert(score: score, document: ordinal)
                    }
                }
            }
            return top.items.map(\.document)
        }
    }
}
