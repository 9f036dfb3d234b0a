import Foundation

/// What one search did, stage by stage: the time each stage took and how many items went in and
/// came out (`plaid query --explain`). Traces of many queries add up with `accumulate`.
public struct SearchTrace: Sendable {
    /// PLAID's stages, in the order `Searcher` runs them.
    public enum Stage: Int, CaseIterable, Sendable {
        /// Every centroid scored against every query token (in: centroids scored, all of them
        /// unless the codebook has groups; out: active query tokens).
        case centroidScores
        /// Each token's top `ncells` centroids and the union of their lists (in: active tokens; out: candidates).
        case candidates
        /// Grouped codebooks only: candidates scored from the probed lists' postings; the best
        /// `candidateBudget` kept.
        case candidateSelection
        /// Scores from the codes of centroids above the threshold; the best `ndocs` kept (not run by
        /// the flat search with budgets from the scores).
        case prunedInteraction
        /// Scores from every code; the best `ndocs / 4` kept, or with budgets from the scores as
        /// many as stage 4 scored (out).
        case fullInteraction
        /// MaxSim on the decompressed vectors; the best `k` kept (also the whole search of a narrow filter).
        case exact

        public var name: String {
            switch self {
            case .centroidScores: return "1. centroid scores"
            case .candidates: return "1. candidate lists"
            case .candidateSelection: return "1. candidate selection"
            case .prunedInteraction: return "2. pruned centroid interaction"
            case .fullInteraction: return "3. centroid interaction"
            case .exact: return "4. exact MaxSim"
            }
        }
    }

    /// One stage's totals over the searches traced.
    public struct Totals: Sendable {
        public var seconds = 0.0
        public var itemsIn = 0
        public var itemsOut = 0
        /// Searches that ran the stage.
        public var runs = 0
    }

    /// Indexed by `Stage.rawValue`.
    public private(set) var totals = [Totals](repeating: Totals(), count: Stage.allCases.count)

    public init() {}

    public subscript(stage: Stage) -> Totals { totals[stage.rawValue] }

    /// A clock for `record`.
    func start() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

    /// Records a stage that ran from `clock` until now, and restarts the clock.
    mutating func record(_ stage: Stage, since clock: inout UInt64, in itemsIn: Int, out itemsOut: Int) {
        let now = DispatchTime.now().uptimeNanoseconds
        totals[stage.rawValue].seconds += Double(now - clock) / 1e9
        totals[stage.rawValue].itemsIn += itemsIn
        totals[stage.rawValue].itemsOut += itemsOut
        totals[stage.rawValue].runs += 1
        clock = now
    }

    /// Records a stage that took `seconds` (a share of work done for several queries at once).
    mutating func record(_ stage: Stage, seconds: Double, in itemsIn: Int, out itemsOut: Int) {
        totals[stage.rawValue].seconds += seconds
        totals[stage.rawValue].itemsIn += itemsIn
        totals[stage.rawValue].itemsOut += itemsOut
        totals[stage.rawValue].runs += 1
    }

    /// Adds another trace's totals to this one's.
    public mutating func accumulate(_ other: SearchTrace) {
        for i in totals.indices {
            totals[i].seconds += other.totals[i].seconds
            totals[i].itemsIn += other.totals[i].itemsIn
            totals[i].itemsOut += other.totals[i].itemsOut
            totals[i].runs += other.totals[i].runs
        }
    }
}
