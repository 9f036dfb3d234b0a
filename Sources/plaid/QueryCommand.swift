import ArgumentParser
import Foundation
import PlaidCore
import PlaidEncoder
import PlaidEvaluation
import PlaidIndex

struct Query: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Search an index and write a TREC run file.",
        discussion: """
        --queries is either a directory of query embeddings (query_embeddings.npy, query_ids.json) or \
        a file of query texts (BEIR queries.jsonl, JSONL with id and text, or TSV), which is encoded \
        with --model in query mode first.
        """)

    @OptionGroup var index: IndexOptions

    @Option(help: "Query embeddings directory, or a query text file (.jsonl/.tsv, optionally .zst) to encode.")
    var queries: String

    @OptionGroup var encoder: ModelOptions

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
            let queryEmbeddings = try loadOrEncodeQueries(queries, encoder: encoder)
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
                (results, latencies) = searchWithProgress(Searcher(index: opened), queries: queryEmbeddings,
                                                          parameters: search.parameters, threads: search.threads)
            }
            let seconds = Date().timeIntervalSince(started)
            try Run(results: results, queryIDs: queryEmbeddings.ids).writeTREC(path: output, tag: exhaustive ? "plaid-exhaustive" : "plaid")
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
}

/// Searches with progress on stderr; returns the results and each query's latency in seconds.
func searchWithProgress(_ searcher: Searcher, queries: QueryEmbeddings, parameters: SearchParameters,
                        threads: Int) -> ([[SearchResult]], [Double]) {
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

/// Query embeddings from a directory, or encoded from a text file with the model (printing the encode time).
func loadOrEncodeQueries(_ path: String, encoder options: ModelOptions) throws -> QueryEmbeddings {
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
        throw PlaidError.missingFile(path: path, hint: "--queries takes a query embeddings directory or a query text file.")
    }
    if isDirectory.boolValue { return try QueryEmbeddings(directory: path) }
    let records = try TextCollectionReader.read(path: path)
    guard !records.isEmpty else { throw PlaidError.invalidInput(file: path, detail: "holds no queries") }
    return try encodeQueries(records, with: try options.loadEncoder(), batchSize: options.batchSize).queries
}

/// Encodes query texts in memory; returns them with the seconds it took.
func encodeQueries(_ records: [TextRecord], with encoder: ColBERTEncoder, batchSize: Int) throws -> (queries: QueryEmbeddings, seconds: Double) {
    let started = Date()
    let queries = try encoder.encodeQueryEmbeddings(ids: records.map(\.id), texts: records.map(\.text), batchSize: batchSize)
    let seconds = Date().timeIntervalSince(started)
    printError(String(format: "encode: %d queries in %.2f s, %.1f queries/s", records.count, seconds, Double(records.count) / max(seconds, 1e-9)))
    return (queries, seconds)
}
