import ArgumentParser
import PlaidCore
import PlaidIndex

/// Search options shared by `query` and `eval`. `k` defaults per command (10 for query, 100 for eval).
struct SearchOptions: ParsableArguments {
    @Option(help: "Results per query (default: 10 for query, 100 for eval).")
    var k: Int?

    @Option(help: "Centroids probed per query token (default by k: 1, 2 or 4).")
    var ncells: Int?

    @Option(help: "Centroid score threshold t_cs of the pruning stage (default by k: 0.5, 0.45 or 0.4).")
    var centroidScoreThreshold: Float?

    @Option(help: "Candidates kept after pruning; ndocs/4 reach the exact rerank (default by k: 256, 1024 or max(4k, 4096)).")
    var ndocs: Int?

    @Option(help: ArgumentHelp("Threads searching queries in parallel.", valueName: "n"))
    var threads: Int = Parallel.defaultThreadCount

    func validate() throws {
        if let k, k < 1 { throw ValidationError("--k must be at least 1, not \(k).") }
        if let k, k > SearchParameters.maximumK { throw ValidationError("--k must be at most \(SearchParameters.maximumK), not \(k).") }
        if let ndocs, ndocs > SearchParameters.maximumNdocs { throw ValidationError("--ndocs must be at most \(SearchParameters.maximumNdocs), not \(ndocs).") }
        if let ncells, ncells < 1 { throw ValidationError("--ncells must be at least 1, not \(ncells).") }
        if let ndocs, ndocs < 1 { throw ValidationError("--ndocs must be at least 1, not \(ndocs).") }
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1, not \(threads).") }
    }

    func parameters(defaultK: Int) -> SearchParameters {
        var p = SearchParameters(k: k ?? defaultK)
        if let ncells { p.ncells = ncells }
        if let centroidScoreThreshold { p.centroidScoreThreshold = centroidScoreThreshold }
        if let ndocs { p.ndocs = ndocs }
        return p
    }
}
