import Foundation
import PlaidCore
import PlaidKernels

/// Stages 2–4 of the flat search with budgets read from the scores, not fixed by k.
///
/// PLAID keeps the best `ndocs` candidates by the pruned centroid interaction (P), the best
/// `ndocs/4` of those by the full centroid interaction (A), and scores those exactly (E). Both cuts
/// assume the approximate ranking's head holds the exact one's. On long queries it does; on short
/// keyword queries against long documents many documents score within the approximation's error
/// of each other, and the exact top ten lie hundreds of places down the approximate ranking
/// (docs/benchmarks.md, "Budgets from the scores").
///
/// So every candidate is ranked by A (P's cut would drop a document whose codes all name
/// centroids below the threshold, whatever its exact score), and the cut before the exact scores
/// moves by what they say. After the first `ndocs/4` are scored exactly, the errors E − A of the
/// documents scored so far estimate how far A falls below or above the truth: with mean μ and
/// deviation σ, no more than a few of R unscored documents are expected to exceed
/// μ + σ·√(2 ln R), the expected largest of R normal errors. Any document whose A plus that margin
/// reaches the exact score of the current `exactHead`-th best can still enter the first results,
/// so it is scored exactly. The estimate and the bar are updated after each round, until a round
/// adds nothing. Each round takes at least one document, so the loop ends; a query costs at most
/// every candidate scored exactly, the bound of the candidate lists themselves. With
/// `budgetsFromScores` false this is PLAID's stages 2–4, unchanged.
extension Searcher {
    /// The results whose exact ranking the budgets protect: the first ten (the ranks nDCG@10 and
    /// the exact top-10 kept are measured on). Deeper results are the best of the documents scored.
    static let exactHead = 10

    /// Stages 2–4 over the candidates of stage 1; the best `p.returnedResults`, best first.
    func rescoredStages(candidates: [Int], scores: CentroidScores, query: UnsafePointer<Float>, parameters p: SearchParameters,
                        trace: inout SearchTrace, clock: inout UInt64) -> [SearchResult] {
        let ndocs = max(p.ndocs, p.k)
        let interaction = CentroidInteraction(index: index, scores: scores, threshold: p.centroidScoreThreshold)
        let ranked: Ranking
        if p.budgetsFromScores {
            // Every candidate gets its full interaction score: a document whose codes all name
            // centroids below the threshold has no pruned score to rank it by, yet may be the
            // best (a query made of a document's own vectors, on a codebook whose centroids sit
            // far from its tokens), and the full score costs about what the pruned one does here.
            ranked = interaction.rankedFull(candidates)
        } else {
            var byPruned = interaction.rankedPruned(candidates)
            trace.record(.prunedInteraction, since: &clock, in: candidates.count, out: min(ndocs, byPruned.count))
            ranked = interaction.rankedFull(byPruned.best(ndocs).map(\.document))
        }
        let stageThree = Double(DispatchTime.now().uptimeNanoseconds - clock) / 1e9
        let lookup = ResidualLookup(index: index, query: query, tokens: scores.tokens)
        let rescored = rescore(ranked, parameters: p) { ordinals in scores.withValues { lookup.scores(of: ordinals, scoreRows: $0) } }
        trace.record(.fullInteraction, seconds: stageThree, in: ranked.count, out: rescored.scored)
        clock = DispatchTime.now().uptimeNanoseconds
        return rescored.results(trace: &trace, index: index)
    }

    /// Stage 4 as both searches run it: the best max(ndocs/4, k) of `ranked` (an approximate
    /// ranking, best first) scored exactly by `exactScores`, and with `budgetsFromScores` as many
    /// more down the ranking, round after round, as the errors seen say could still reach the
    /// first `exactHead` results.
    /// Its time is stage 4's: the exact scores, and the sorting of as much of `ranked` as it reads.
    func rescore(_ ranked: Ranking, parameters p: SearchParameters,
                 exactScores: ([Int]) -> [Float]) -> Rescored {
        let started = DispatchTime.now().uptimeNanoseconds
        var queue = ApproximateQueue(ranked)
        var errors = ErrorEstimate()
        var head = TopK(k: min(p.k, Self.exactHead))
        var rescored = Rescored(best: TopK(k: p.returnedResults))
        var batch = queue.take(min(max(max(p.ndocs, p.k) / 4, p.k), queue.count))
        while !batch.isEmpty {
            let exact = exactScores(batch.map(\.document))
            for (item, score) in zip(batch, exact) {
                errors.add(Double(score - item.score))
                head.insert(score: score, document: item.document)
                rescored.best.insert(score: score, document: item.document)
            }
            rescored.scored += batch.count
            guard p.budgetsFromScores else { break }
            // A document can still enter the head if its approximation plus the margin reaches
            // the head's worst exact score (or any score, while the head is not full).
            let bar = Double(head.threshold?.score ?? -.infinity), margin = errors.margin(over: queue.count)
            batch = queue.take(while: { Double($0.score) + margin >= bar })
        }
        rescored.seconds = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
        return rescored
    }

    /// What stage 4 kept, how many documents it scored exactly, and its time.
    struct Rescored {
        var best: TopK
        var scored = 0
        var seconds = 0.0

        /// The best documents as results, best first, with stage 4 recorded in `trace`.
        func results(trace: inout SearchTrace, index: CompressedIndex) -> [SearchResult] {
            let results = best.sorted().map { SearchResult(document: $0.document, id: index.documentID($0.document), score: $0.score) }
            trace.record(.exact, seconds: seconds, in: scored, out: results.count)
            return results
        }
    }

    /// Running mean and variance of an approximation's error (exact − approximate score), and the
    /// margin that the largest error among `remaining` unscored documents is not expected to exceed.
    struct ErrorEstimate {
        private var count = 0.0, mean = 0.0, squares = 0.0

        mutating func add(_ error: Double) {
            count += 1
            let delta = error - mean
            mean += delta / count
            squares += delta * (error - mean)
        }

        /// μ + σ·√(2 ln R): the expected maximum of R normal errors is below it. With no errors
        /// seen, +∞ (everything is a candidate until something is known).
        func margin(over remaining: Int) -> Double {
            guard count > 0 else { return .infinity }
            let deviation = (squares / count).squareRoot()
            return mean + deviation * (2 * log(Double(max(remaining, 2)))).squareRoot()
        }
    }

    /// Documents with their approximate scores, best first, taken from the front.
    struct ApproximateQueue {
        private var ranking: Ranking
        private var front = 0

        init(_ ranking: Ranking) { self.ranking = ranking }

        var count: Int { ranking.count - front }

        mutating func take(_ n: Int) -> [CentroidInteraction.Scored] {
            defer { front += n }
            return (front..<front + n).map { ranking.item($0) }
        }

        mutating func take(while condition: (CentroidInteraction.Scored) -> Bool) -> [CentroidInteraction.Scored] {
            var taken: [CentroidInteraction.Scored] = []
            while front < ranking.count {
                let item = ranking.item(front)
                guard condition(item) else { break }
                taken.append(item)
                front += 1
            }
            return taken
        }
    }
}

/// Stage 4's table for one query: each group of residual bits' product with the query tokens for
/// every value the group can hold (WARP's implicit decompression), built once and then read for
/// any number of documents. A 2-bit residual of dimension 384 is 128 lookups of a 32-token row
/// (6-bit groups) instead of 384 multiply-adds per query token. The entries are 16-bit and summed
/// in 16 bits, with a unit per query token that rules out overflow; a token's q·r is within
/// dim·nbits/8 of its units of the float value. The table (512 KB at dimension 384) is aligned to
/// cache lines, since its rows are read at random; staged_search.c says why the groups are 6 bits
/// wide (measurements: docs/benchmarks.md, "Design measurements").
final class ResidualLookup {
    private let index: CompressedIndex
    private let tokens: Int
    private let table: UnsafeMutablePointer<Int16>
    private var units: [Float]
    private var scratch: [Float]

    init(index: CompressedIndex, query: UnsafePointer<Float>, tokens nq: Int) {
        self.index = index
        self.tokens = nq
        let dim = index.dim, nbits = Int32(index.codec.nbits)
        var queryT = [Float](repeating: 0, count: dim * nq)
        for t in 0..<nq { for j in 0..<dim { queryT[j * nq + t] = query[t * dim + j] } }
        let count = plaid_residual_lookup_count(dim, nbits, nq)
        // Aligned to cache lines, so that a row of 32 query tokens is one line, not two.
        table = UnsafeMutableRawPointer.allocate(byteCount: count * 2, alignment: 64).bindMemory(to: Int16.self, capacity: count)
        units = [Float](repeating: 0, count: nq)
        scratch = [Float](repeating: 0, count: 21 * nq)  // the table build needs 21 rows of nq, the kernel 2
        plaid_residual_lookup_build(queryT, nq, dim, nbits, index.codec.weights, table, &units, &scratch)
    }

    deinit { table.deallocate() }

    /// MaxSim of each of `documents`, whose codes name rows of `scoreRows` [row, tokens]: the
    /// centroid scores of the codes.
    func scores(of documents: [plaid_lookup_document], scoreRows: UnsafePointer<Float>) -> [Float] {
        var out = [Float](repeating: 0, count: documents.count)
        plaid_maxsim_from_lookup(scoreRows, table, units, tokens, index.dim, Int32(index.codec.nbits), documents, documents.count,
                                 &out, &scratch)
        return out
    }

    /// Each query token's best token of `document` (whose codes name rows of `scoreRows`) and its score, as `scores(of:scoreRows:)` finds them: those scores, summed in
    /// query order, are that document's score.
    func matches(of document: plaid_lookup_document, scoreRows: UnsafePointer<Float>) -> [(score: Float, token: Int)] {
        var document = document
        var best = [Float](repeating: 0, count: tokens), at = [Int32](repeating: 0, count: tokens)
        plaid_matches_from_lookup(scoreRows, table, units, tokens, index.dim, Int32(index.codec.nbits), &document, &best, &at, &scratch)
        return zip(best, at).map { (score: $0, token: Int($1)) }
    }

    /// MaxSim of the documents at `ordinals`, whose codes name centroids (rows of stage 1's scores).
    func scores(of ordinals: [Int], scoreRows: UnsafePointer<Float>) -> [Float] {
        scores(of: index.lookupDocuments(ordinals, residuals: true), scoreRows: scoreRows)
    }
}
