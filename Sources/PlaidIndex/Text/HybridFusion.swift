import Foundation
import PlaidCore

/// Which ranking a search returns: PLAID's (MaxSim over the token vectors), BM25's over the
/// stored text, or the two fused.
public enum SearchMode: String, CaseIterable, Sendable {
    case plaid, bm25, hybrid
}

/// How a hybrid search fuses its two rankings.
public enum Fusion: Equatable, Sendable {
    /// Reciprocal rank fusion (Cormack et al., 2009): Σ 1 / (rrfK + rank), rank from 1, over the
    /// rankings a document is in. Needs no score calibration.
    case reciprocalRank
    /// Each ranking's scores scaled to 0…1 by its best and worst, then alpha · PLAID + (1 − alpha)
    /// · BM25; a document missing from a ranking gets 0 from it.
    case relativeScore(alpha: Double)

    public static let rrfK = 60.0
    public static let defaultAlpha = 0.5
    /// The default: relative scores, evenly weighted. On SciFact it beat reciprocal rank fusion
    /// for both full questions and three-keyword ones, where reciprocal rank fell below BM25
    /// alone (docs/benchmarks.md, "Text in the index").
    public static let standard = Fusion.relativeScore(alpha: defaultAlpha)

    /// The fusion called `name` (`relative`, the default, or `rrf`) with relative's `alpha`
    /// (0…1, default 0.5), as a front end's options give them: the one check of both, whose
    /// sentence starts with the setting's name, for the front end to prefix (`--`, `field `).
    public init(named name: String?, alpha: Double?) throws {
        if let alpha, !(0...1).contains(alpha) { throw PlaidError.invalidArgument("alpha must be between 0 and 1, not \(alpha)") }
        switch name ?? "relative" {
        case "relative": self = .relativeScore(alpha: alpha ?? Fusion.defaultAlpha)
        case "rrf":
            guard alpha == nil else { throw PlaidError.invalidArgument("alpha weighs the relative fusion; leave it out with the rrf fusion") }
            self = .reciprocalRank
        default: throw PlaidError.invalidArgument("fusion must be \"relative\" or \"rrf\", not \"\(visible(String(name!.prefix(40))))\"")
        }
    }

    /// Both rankings are cut to this many before fusing (at least k): a document below it in
    /// both could not reach the first k of a fusion of deeper lists by more than a few places.
    public static func depth(k: Int) -> Int { max(k, 100) }

    /// The best `k` of `plaid` and `lexical` (each best first) fused, best first; ties go to the
    /// better PLAID rank (so that with PLAID's weight at 0 and no BM25 result the ranking is
    /// PLAID's), then to the lower ordinal. Scores are the fused ones.
    public func fuse(plaid: [SearchResult], lexical: [SearchResult], k: Int) -> [SearchResult] {
        var fused: [Int: (id: String, score: Double)] = [:]
        func add(_ ranking: [SearchResult], _ contribution: (Int, SearchResult) -> Double) {
            for (rank, result) in ranking.enumerated() {
                fused[result.document, default: (result.id, 0)].score += contribution(rank, result)
            }
        }
        var plaidRank: [Int: Int] = [:]
        for (rank, result) in plaid.enumerated() where plaidRank[result.document] == nil { plaidRank[result.document] = rank }
        switch self {
        case .reciprocalRank:
            add(plaid) { rank, _ in 1 / (Fusion.rrfK + Double(rank + 1)) }
            add(lexical) { rank, _ in 1 / (Fusion.rrfK + Double(rank + 1)) }
        case .relativeScore(let alpha):
            for (ranking, weight) in [(plaid, alpha), (lexical, 1 - alpha)] {
                guard let high = ranking.map(\.score).max(), let low = ranking.map(\.score).min() else { continue }
                let span = Double(high - low)
                add(ranking) { _, result in weight * (span > 0 ? Double(result.score - low) / span : 1) }
            }
        }
        return fused.sorted { a, b in
            if a.value.score != b.value.score { return a.value.score > b.value.score }
            let rankA = plaidRank[a.key] ?? Int.max, rankB = plaidRank[b.key] ?? Int.max
            return rankA != rankB ? rankA < rankB : a.key < b.key
        }
            .prefix(k).map { SearchResult(document: $0.key, id: $0.value.id, score: Float($0.value.score)) }
    }
}
