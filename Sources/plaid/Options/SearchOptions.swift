import ArgumentParser
import PlaidCore
import PlaidIndex

/// Search options shared by `query` and `eval`. `k` defaults per command (10 for query, 100 for eval).
struct SearchOptions: ParsableArguments {
    @Option(help: "Results per query (default: 10 for query, 100 for eval).")
    var k: Int?

    @Option(help: "Centroids probed per query token (default by k: 1, 2 or 4; at least 2 on an index whose centroids are grouped).")
    var ncells: Int?

    @Option(help: "Centroid score threshold t_cs of the pruning stage, which runs with --fixed-budgets or on an index whose centroids are grouped (default by k: 0.5, 0.45 or 0.4).")
    var centroidScoreThreshold: Float?

    @Option(help: "Candidates kept after pruning, ndocs/4 of them scored exactly; without --fixed-budgets, ndocs/4 is where exact scoring starts, and more are scored while their approximate scores are too close to tell apart (default by k: 256, 1024 or max(4k, 4096)).")
    var ndocs: Int?

    @Flag(help: "Keep PLAID's fixed budgets: ndocs candidates after pruning and ndocs/4 scored exactly, however close their approximate scores.")
    var fixedBudgets = false

    @Option(help: "A query token also probes the centroids scoring within this margin of its best one, up to 4 · ncells (default 0.02; 0 probes exactly ncells).")
    var probeMargin: Float?

    @Option(help: "On an index whose centroids are grouped (from 16,384 centroids): groups whose centroids stage 1 scores per query token (default 8).")
    var groupProbes: Int?

    @Option(help: "On an index whose centroids are grouped: candidates kept by their scores from the probed lists, for the pruning stage (default 16 · ndocs).")
    var candidateBudget: Int?

    @Option(help: ArgumentHelp("Threads searching queries in parallel.", valueName: "n"))
    var threads: Int = Parallel.defaultThreadCount

    func validate() throws {
        if let k, k < 1 { throw ValidationError("--k must be at least 1, not \(k).") }
        if let k, k > SearchParameters.maximumK { throw ValidationError("--k must be at most \(SearchParameters.maximumK), not \(k).") }
        if let ndocs, ndocs > SearchParameters.maximumNdocs { throw ValidationError("--ndocs must be at most \(SearchParameters.maximumNdocs), not \(ndocs).") }
        if let ncells, ncells < 1 { throw ValidationError("--ncells must be at least 1, not \(ncells).") }
        if let ndocs, ndocs < 1 { throw ValidationError("--ndocs must be at least 1, not \(ndocs).") }
        if let centroidScoreThreshold, !(-2...2).contains(centroidScoreThreshold) {
            throw ValidationError("--centroid-score-threshold must be between -2 and 2 (centroid scores are cosines), not \(centroidScoreThreshold).")
        }
        if let probeMargin, !(0...2).contains(probeMargin) {
            throw ValidationError("--probe-margin must be between 0 and 2 (centroid scores are cosines), not \(probeMargin).")
        }
        if let groupProbes, !(1...SearchParameters.maximumGroupProbes).contains(groupProbes) {
            throw ValidationError("--group-probes must be between 1 and \(SearchParameters.maximumGroupProbes), not \(groupProbes).")
        }
        if let candidateBudget, !(1...SearchParameters.maximumNdocs).contains(candidateBudget) {
            throw ValidationError("--candidate-budget must be between 1 and \(SearchParameters.maximumNdocs), not \(candidateBudget).")
        }
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1, not \(threads).") }
    }

    func parameters(defaultK: Int) -> SearchParameters {
        var p = SearchParameters(k: k ?? defaultK)
        if let ncells { p.ncells = ncells }
        if let centroidScoreThreshold { p.centroidScoreThreshold = centroidScoreThreshold }
        if let ndocs { p.ndocs = ndocs }
        if let groupProbes { p.groupProbes = groupProbes }
        if let probeMargin { p.probeMargin = probeMargin }
        if fixedBudgets { p.budgetsFromScores = false }
        if let candidateBudget { p.candidateBudget = candidateBudget }
        return p
    }
}
