import Foundation
import PlaidCore

/// The measures BEIR reports, computed as trec_eval computes them (through pytrec_eval), per query at a cut-off k.
public enum Metric: String, CaseIterable, Sendable, Codable {
    /// trec_eval `ndcg_cut_k`: DCG with gain = relevance level (levels ≤ 0 gain nothing) and discount
    /// log2(rank + 1), over the top k; divided by the DCG of the ideal ranking of all the query's judged levels, cut
    /// at k. 0 when the query has no relevant document.
    case ndcg = "NDCG"
    /// trec_eval `map_cut_k`: the sum of precision at the rank of each relevant document within the top k,
    /// divided by the number of relevant documents (all of them, not at most k).
    case map = "MAP"
    /// trec_eval `recall_k`: relevant documents in the top k / relevant documents.
    case recall = "Recall"
    /// trec_eval `P_k`: relevant documents in the top k / k (k even when fewer were retrieved).
    case precision = "P"
    /// BEIR's `custom_metrics.mrr`: 1 / rank of the first relevant document within the top k, else 0 (trec_eval's
    /// `recip_rank` of the run cut at k). BEIR sorts with Python's stable sort, so its ties follow the run dict's
    /// insertion order; here ties follow trec_eval's order (docid descending), as for the other measures.
    case mrr = "MRR"
}

/// One measure at one cut-off; its description is BEIR's key, e.g. `NDCG@10`.
public struct MetricKey: Hashable, Sendable, Comparable, CustomStringConvertible {
    public let metric: Metric
    public let cutoff: Int

    public init(_ metric: Metric, _ cutoff: Int) {
        self.metric = metric
        self.cutoff = cutoff
    }

    public var description: String { "\(metric.rawValue)@\(cutoff)" }

    public static func < (a: MetricKey, b: MetricKey) -> Bool {
        let ia = Metric.allCases.firstIndex(of: a.metric)!, ib = Metric.allCases.firstIndex(of: b.metric)!
        return ia != ib ? ia < ib : a.cutoff < b.cutoff
    }
}

/// Which queries count, and how, when averaging. The defaults reproduce BEIR's `EvaluateRetrieval.evaluate`
/// (and its `mrr`) whenever the run has results for every judged query, as BEIR's retrievers always do.
public struct EvaluationOptions: Sendable, Equatable {
    /// Drop a retrieved document whose id equals the query id (BEIR's `ignore_identical_ids=True`, its default:
    /// in datasets such as ArguAna and Quora the query itself is in the corpus).
    public var dropIdenticalIDs: Bool
    /// A judged query that the run lacks: `true` scores it 0 on every measure (trec_eval `-c`, and BEIR's MRR,
    /// which divides by the number of judged queries); `false` leaves it out of the means, as pytrec_eval does.
    public var countMissingQueriesAsZero: Bool
    /// Leave out queries whose judgments are all ≤ 0. Neither BEIR nor pytrec_eval does: such a query is
    /// evaluated, scores 0 everywhere, and lowers the mean; hence `false` by default.
    public var skipQueriesWithoutRelevant: Bool

    public init(dropIdenticalIDs: Bool = true, countMissingQueriesAsZero: Bool = true, skipQueriesWithoutRelevant: Bool = false) {
        self.dropIdenticalIDs = dropIdenticalIDs
        self.countMissingQueriesAsZero = countMissingQueriesAsZero
        self.skipQueriesWithoutRelevant = skipQueriesWithoutRelevant
    }
}

/// Per-query and mean values of every measure at every cut-off.
public struct EvaluationResult: Sendable {
    public let cutoffs: [Int]
    /// `[queryID: [measure@k: value]]` for each evaluated query.
    public let perQuery: [String: [MetricKey: Double]]
    /// The arithmetic mean over the evaluated queries (0 when there are none).
    public let mean: [MetricKey: Double]
    /// Judged queries that the run has no entry for (scored 0 or left out, per the options).
    public let queriesMissingFromRun: [String]
    /// Judged queries with no relevant document (evaluated, scoring 0, unless the options skip them).
    public let queriesWithoutRelevant: [String]
    /// Run queries with no judgments, which are ignored (as pytrec_eval ignores them).
    public let unjudgedRunQueries: [String]

    public func mean(_ metric: Metric, at cutoff: Int) -> Double { mean[MetricKey(metric, cutoff)] ?? .nan }

    /// A table of the means, one row per measure and one column per cut-off, with BEIR's five decimals.
    public func formattedTable() -> String {
        var lines = ["measure" + cutoffs.map { "  @\($0)".padding(toLength: 9, withPad: " ", startingAt: 0) }.joined()]
        for metric in Metric.allCases {
            let cells = cutoffs.map { String(format: "  %.5f", mean(metric, at: $0)) }
            lines.append(metric.rawValue.padding(toLength: 7, withPad: " ", startingAt: 0) + cells.joined())
        }
        lines.append("queries evaluated: \(perQuery.count)"
            + (queriesMissingFromRun.isEmpty ? "" : ", missing from the run: \(queriesMissingFromRun.count)")
            + (queriesWithoutRelevant.isEmpty ? "" : ", without a relevant document: \(queriesWithoutRelevant.count)"))
        return lines.joined(separator: "\n")
    }
}

public enum Metrics {
    /// BEIR's default cut-offs.
    public static let beirCutoffs = [1, 3, 5, 10, 100, 1000]

    /// Evaluates `run` against `qrels` at each cut-off, as pytrec_eval's `ndcg_cut`, `map_cut`, `recall`, `P` and
    /// BEIR's `mrr` do. Each query's documents are ranked by score descending, ties by document id descending.
    /// Complexity: O(R log R + J) per query, for R retrieved and J judged documents.
    /// - Precondition: every cut-off is ≥ 1.
    public static func evaluate(run: Run, qrels: Qrels, cutoffs: [Int] = [1, 3, 5, 10, 100],
                                options: EvaluationOptions = EvaluationOptions()) -> EvaluationResult {
        precondition(cutoffs.allSatisfy { $0 >= 1 }, "cut-offs must be at least 1")
        let cutoffs = Array(Set(cutoffs)).sorted()
        var perQuery: [String: [MetricKey: Double]] = [:]
        var missing: [String] = [], withoutRelevant: [String] = []
        for (query, judged) in qrels.judgments {
            let hasRelevant = judged.values.contains { $0 > 0 }
            if !hasRelevant {
                withoutRelevant.append(query)
                if options.skipQueriesWithoutRelevant { continue }
            }
            guard let retrieved = run.scores[query] else {
                missing.append(query)
                if options.countMissingQueriesAsZero {
                    perQuery[query] = evaluateQuery(ranking: [], judged: judged, cutoffs: cutoffs)
                }
                continue
            }
            var docs = retrieved.map { ScoredDocument(id: $0.key, score: $0.value) }
            if options.dropIdenticalIDs { docs.removeAll { $0.id == query } }
            perQuery[query] = evaluateQuery(ranking: Run.trecOrder(docs), judged: judged, cutoffs: cutoffs)
        }
        var mean: [MetricKey: Double] = [:]
        for metric in Metric.allCases {
            for k in cutoffs {
                let key = MetricKey(metric, k)
                // Summed in sorted query order, so the mean does not depend on dictionary order.
                let sum = perQuery.keys.sorted().reduce(0.0) { $0 + perQuery[$1]![key]! }
                mean[key] = perQuery.isEmpty ? 0 : sum / Double(perQuery.count)
            }
        }
        let unjudged = run.scores.keys.filter { qrels.judgments[$0] == nil }
        return EvaluationResult(cutoffs: cutoffs, perQuery: perQuery, mean: mean,
                                queriesMissingFromRun: missing.sorted(), queriesWithoutRelevant: withoutRelevant.sorted(),
                                unjudgedRunQueries: unjudged.sorted())
    }

    /// All measures of one query. `ranking` is already in trec_eval order; `judged` maps doc ids to levels.
    static func evaluateQuery(ranking: [ScoredDocument], judged: [String: Int], cutoffs: [Int]) -> [MetricKey: Double] {
        let idealGains = judged.values.filter { $0 > 0 }.sorted(by: >).map(Double.init)
        let relevantTotal = Double(idealGains.count)
        var values: [MetricKey: Double] = [:]
        // One pass down the ranking, reading off the running sums at each cut-off.
        var dcg = 0.0, idcg = 0.0, precisionSum = 0.0, relevantSeen = 0, firstRelevantRank = 0
        func record(_ k: Int) {
            values[MetricKey(.ndcg, k)] = idcg > 0 ? dcg / idcg : 0
            values[MetricKey(.map, k)] = relevantTotal > 0 ? precisionSum / relevantTotal : 0
            values[MetricKey(.recall, k)] = relevantTotal > 0 ? Double(relevantSeen) / relevantTotal : 0
            values[MetricKey(.precision, k)] = Double(relevantSeen) / Double(k)
            values[MetricKey(.mrr, k)] = firstRelevantRank > 0 ? 1 / Double(firstRelevantRank) : 0
        }
        var next = 0
        var rank = 1
        // Below both the ranking's and the ideal ranking's ends nothing changes any more.
        while next < cutoffs.count && (rank <= ranking.count || rank <= idealGains.count) {
            let discount = log2(Double(rank) + 1)
            if rank <= idealGains.count { idcg += idealGains[rank - 1] / discount }
            if rank <= ranking.count, let level = judged[ranking[rank - 1].id], level > 0 {
                dcg += Double(level) / discount
                relevantSeen += 1
                precisionSum += Double(relevantSeen) / Double(rank)
                if firstRelevantRank == 0 { firstRelevantRank = rank }
            }
            while next < cutoffs.count && cutoffs[next] == rank {
                record(rank)
                next += 1
            }
            rank += 1
        }
        while next < cutoffs.count {
            record(cutoffs[next])
            next += 1
        }
        return values
    }
}
