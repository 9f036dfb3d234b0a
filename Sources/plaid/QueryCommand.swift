import ArgumentParser
import Foundation
import PlaidCore
import PlaidIndex

struct Query: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Search an index with query token embeddings and write a TREC run file.")

    @OptionGroup var index: IndexOptions

    @Option(help: "Directory holding query_embeddings.npy and query_ids.json.")
    var queries: String

    @OptionGroup var search: SearchOptions

    @Option(help: "Run file to write (TREC format: qid Q0 docid rank score tag).")
    var output: String

    @Flag(help: "Exact MaxSim over the uncompressed embeddings instead of the index (the reference).")
    var exhaustive = false

    @Option(help: "Document embeddings directory, for --exhaustive.")
    var embeddings: String?

    func validate() throws {
        try search.validate()
        if exhaustive && embeddings == nil { throw ValidationError("--exhaustive needs --embeddings DIR with the uncompressed document embeddings.") }
    }

    func run() throws {
        try runReportingErrors {
            let queryEmbeddings = try QueryEmbeddings(directory: queries)
            let started = Date()
            var latencies = [Double]()
            let results: [[SearchResult]]
            if exhaustive {
                let documents = try DocumentEmbeddings(directory: embeddings!)
                try checkDimensions(query: queryEmbeddings.dim, other: documents.dim, what: "the document embeddings")
                results = try ExhaustiveSearcher(documents: documents).search(queries: queryEmbeddings, k: search.k, threads: search.threads)
            } else {
                let opened = try CompressedIndex(path: index.index)
                try checkDimensions(query: queryEmbeddings.dim, other: opened.dim, what: "the index")
                (results, latencies) = search.run(Searcher(index: opened), queries: queryEmbeddings)
            }
            let seconds = Date().timeIntervalSince(started)
            try writeRunFile(results, queryIDs: queryEmbeddings.ids, path: output, tag: exhaustive ? "plaid-exhaustive" : "plaid")
            printSearchTimes(queries: queryEmbeddings.count, seconds: seconds, latencies: latencies)
        }
    }
}

func checkDimensions(query: Int, other: Int, what: String) throws {
    guard query == other else {
        throw PlaidError.invalidArgument("the queries have dimension \(query) but \(what) has \(other); encode both with the same model")
    }
}

/// Search options shared by `query` and `eval`.
struct SearchOptions: ParsableArguments {
    @Option(help: "Results per query.")
    var k: Int = 10

    @Option(help: "Centroids probed per query token (default by k: 1, 2 or 4).")
    var ncells: Int?

    @Option(help: "Centroid score threshold t_cs of the pruning stage (default by k: 0.5, 0.45 or 0.4).")
    var centroidScoreThreshold: Float?

    @Option(help: "Candidates kept after pruning; ndocs/4 reach the exact rerank (default by k: 256, 1024 or max(4k, 4096)).")
    var ndocs: Int?

    @Option(help: "Threads searching queries in parallel (default: all cores).")
    var threads: Int = Parallel.defaultThreadCount

    func validate() throws {
        guard k >= 1 else { throw ValidationError("--k must be at least 1.") }
        if let ncells, ncells < 1 { throw ValidationError("--ncells must be at least 1.") }
        if let ndocs, ndocs < 1 { throw ValidationError("--ndocs must be at least 1.") }
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1.") }
    }

    var parameters: SearchParameters {
        var p = SearchParameters(k: k)
        if let ncells { p.ncells = ncells }
        if let centroidScoreThreshold { p.centroidScoreThreshold = centroidScoreThreshold }
        if let ndocs { p.ndocs = ndocs }
        return p
    }

    /// Searches with progress on stderr; returns the results and each query's latency in seconds.
    func run(_ searcher: Searcher, queries: QueryEmbeddings) -> ([[SearchResult]], [Double]) {
        var latencies = [Double](repeating: 0, count: queries.count)
        let progress = ProgressReporter(label: "searching", total: queries.count, unit: "queries")
        var done = 0
        let results = searcher.search(queries: queries, parameters: parameters, threads: threads) { q, seconds in
            latencies[q] = seconds
            done += 1
            progress.update(done)
        }
        return (results, latencies)
    }
}

/// Prints queries/s and latency percentiles to stderr.
func printSearchTimes(queries: Int, seconds: Double, latencies: [Double]) {
    var line = String(format: "search: %d queries in %.2f s, %.1f queries/s", queries, seconds, Double(queries) / max(seconds, 1e-9))
    if !latencies.isEmpty {
        let sorted = latencies.sorted()
        // Nearest-rank percentile, in milliseconds.
        func percentile(_ p: Double) -> Double {
            let rank = Int((p / 100 * Double(sorted.count)).rounded(.up))
            return sorted[min(max(rank, 1), sorted.count) - 1] * 1000
        }
        line += String(format: "; latency p50 %.2f ms, p95 %.2f ms, p99 %.2f ms", percentile(50), percentile(95), percentile(99))
    }
    printError(line)
}

/// Writes results in TREC run format.
func writeRunFile(_ results: [[SearchResult]], queryIDs: [String], path: String, tag: String) throws {
    var text = ""
    for (q, ranked) in results.enumerated() {
        for (rank, r) in ranked.enumerated() {
            text += "\(queryIDs[q]) Q0 \(r.id) \(rank + 1) \(String(format: "%.6f", r.score)) \(tag)\n"
        }
    }
    do {
        try text.write(toFile: path, atomically: true, encoding: .utf8)
    } catch {
        throw PlaidError.io(path: path, detail: "cannot write the run file: \(error.localizedDescription)")
    }
}
