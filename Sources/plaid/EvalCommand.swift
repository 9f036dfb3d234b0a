import ArgumentParser
import Foundation
import PlaidCore
import PlaidEncoder
import PlaidEvaluation
import PlaidIndex

/// `plaid eval`: a BEIR dataset folder in, one table of retrieval quality and speed out, for PLAID
/// search and for exhaustive MaxSim over the same embeddings.
struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Evaluate on a BEIR dataset: encode, build (if missing), search, and score PLAID against exhaustive MaxSim.",
        discussion: """
        Document embeddings and the index are kept under --work (default .plaid-work/DATASET-MODEL) and \
        reused by later runs; encoding and building happen only when they are missing. Metrics follow \
        trec_eval and BEIR: nDCG@10, Recall@100, MRR@10 and MAP@100; a retrieved document whose id is the \
        query id is dropped, and queries without a judged relevant document are skipped.
        """)

    @Option(help: "BEIR dataset folder (corpus.jsonl, queries.jsonl, qrels/SPLIT.tsv).")
    var dataset: String

    @Option(help: "qrels split to evaluate.")
    var split: String = "test"

    @Option(help: "Index directory (default: WORK/index-NBITSbit).")
    var index: String?

    @Option(help: "Directory for the document embeddings and the default index.")
    var work: String?

    @Option(help: "Results retrieved per query (at least 100 for Recall@100 and MAP@100).")
    var k: Int = 100

    @Option(help: "Threads searching queries in parallel (default: all cores).")
    var threads: Int = Parallel.defaultThreadCount

    @Flag(help: "Print the results as JSON.")
    var json = false

    @OptionGroup var encoder: ModelOptions
    @OptionGroup var build: BuildOptions

    func validate() throws {
        try build.validate()
        guard k >= 10 else { throw ValidationError("--k must be at least 10 for nDCG@10.") }
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1.") }
    }

    func run() throws {
        try runReportingErrors {
            let data = try BEIRDataset(path: dataset, split: split)
            let qrels = try data.loadQrels()
            let queries = try data.loadQueries(judgedBy: qrels)
            let modelPath = try encoder.resolvedModel()
            let modelName = URL(fileURLWithPath: modelPath).standardizedFileURL.lastPathComponent
            let datasetName = URL(fileURLWithPath: dataset).standardizedFileURL.lastPathComponent
            let workDirectory = work ?? ".plaid-work/\(datasetName)-\(modelName)"
            let embeddingsDirectory = (workDirectory as NSString).appendingPathComponent("embeddings")
            let indexPath = index ?? (workDirectory as NSString).appendingPathComponent("index-\(build.nbits)bit")
            var report = EvalReport(dataset: datasetName, split: split, model: modelPath, queries: queries.count, nbits: build.nbits, k: k)
            let colbert = try ColBERTEncoder(modelPath: modelPath, precision: encoder.precision)

            if !FileManager.default.fileExists(atPath: (embeddingsDirectory as NSString).appendingPathComponent(EmbeddingsLayout.documentIDs)) {
                let encoding = try encodeCollection(data.corpusPath, with: colbert, mode: .document, output: embeddingsDirectory,
                                                    float16: false, batchSize: encoder.batchSize)
                report.encodeTokensPerSecond = encoding.tokensPerSecond
                report.encodeSeconds = encoding.seconds
            } else {
                printError("reusing the document embeddings in \(embeddingsDirectory)")
            }
            let documents = try DocumentEmbeddings(directory: embeddingsDirectory)
            if !FileManager.default.fileExists(atPath: indexPath) || build.overwrite {
                let summary = try build.build(from: documents, at: indexPath)
                printBuildSummary(summary, path: indexPath)
                report.buildSeconds = summary.seconds
            } else {
                printError("reusing the index at \(indexPath) (pass --overwrite to rebuild it)")
            }
            let opened = try CompressedIndex(path: indexPath)
            guard opened.liveDocumentIDs == documents.ids else {
                throw PlaidError.refused("the index at \(indexPath) was not built from \(embeddingsDirectory); pass --overwrite to rebuild it")
            }
            try checkBuildSettings(of: opened, tokens: documents.tokenCount, path: indexPath)
            report.bytesPerToken = Double(opened.bytesOnDisk) / Double(opened.tokenCount)
            report.tokens = opened.tokenCount
            report.documents = opened.documentCount

            let encoded = try encodeQueries(queries, with: colbert, batchSize: encoder.batchSize)
            report.queryEncodeSeconds = encoded.seconds

            let started = Date()
            let (plaidResults, latencies) = searchWithProgress(Searcher(index: opened), queries: encoded.queries,
                                                               parameters: SearchParameters(k: k), threads: threads)
            let searchSeconds = Date().timeIntervalSince(started)
            printSearchTimes(queries: queries.count, seconds: searchSeconds, latencies: latencies)
            report.searchQueriesPerSecond = Double(queries.count) / searchSeconds

            let exhaustiveStarted = Date()
            let exactResults = try ExhaustiveSearcher(documents: documents).search(queries: encoded.queries, k: k, threads: threads)
            report.exhaustiveQueriesPerSecond = Double(queries.count) / Date().timeIntervalSince(exhaustiveStarted)

            let options = EvaluationOptions(dropIdenticalIDs: true, countMissingQueriesAsZero: true, skipQueriesWithoutRelevant: true)
            let ids = queries.map(\.id)
            report.plaid = EvalReport.Scores(Metrics.evaluate(run: Run(results: plaidResults, queryIDs: ids), qrels: qrels, cutoffs: [10, 100], options: options))
            report.exhaustive = EvalReport.Scores(Metrics.evaluate(run: Run(results: exactResults, queryIDs: ids), qrels: qrels, cutoffs: [10, 100], options: options))
            print(json ? try report.json() : report.table())
        }
    }
}

extension Eval {
    /// A reused index must have been built with the settings this run reports: nbits, seed,
    /// k-means iterations and centroid count. Otherwise the report would describe another index.
    func checkBuildSettings(of index: CompressedIndex, tokens: Int, path: String) throws {
        let book = index.codebook
        let wanted = build.parameters.kmeans
        let differences = [
            book.nbits != build.nbits ? "nbits \(book.nbits) (asked: \(build.nbits))" : nil,
            book.kmeansSeed != wanted.seed ? "seed \(book.kmeansSeed) (asked: \(wanted.seed))" : nil,
            book.kmeansIterations != wanted.iterations ? "\(book.kmeansIterations) k-means iterations (asked: \(wanted.iterations))" : nil,
            book.trainedCentroidCount != wanted.centroidCount(embeddings: tokens) ? "\(book.trainedCentroidCount) centroids (asked: \(wanted.centroidCount(embeddings: tokens)))" : nil,
        ].compactMap { $0 }
        guard differences.isEmpty else {
            throw PlaidError.refused("the index at \(path) was built with \(differences.joined(separator: ", ")); pass --overwrite to rebuild it with the settings asked for, or --index to use another path")
        }
    }
}

/// What `plaid eval` prints.
struct EvalReport: Encodable {
    struct Scores: Encodable {
        var ndcgAt10: Double, recallAt100: Double, mrrAt10: Double, mapAt100: Double
        init(_ r: EvaluationResult) {
            ndcgAt10 = r.mean(.ndcg, at: 10); recallAt100 = r.mean(.recall, at: 100)
            mrrAt10 = r.mean(.mrr, at: 10); mapAt100 = r.mean(.map, at: 100)
        }
    }
    var dataset: String, split: String, model: String, queries: Int, nbits: Int, k: Int
    var documents = 0, tokens = 0
    var plaid: Scores?, exhaustive: Scores?
    var bytesPerToken: Double?
    var buildSeconds: Double?
    var encodeSeconds: Double?
    var encodeTokensPerSecond: Double?
    var queryEncodeSeconds: Double?
    var searchQueriesPerSecond: Double?
    var exhaustiveQueriesPerSecond: Double?

    func json() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        return String(decoding: try encoder.encode(self), as: UTF8.self)
    }

    func table() -> String {
        func f(_ v: Double?) -> String { v.map { String(format: "%.4f", $0) } ?? "-" }
        func optional(_ v: Double?, _ format: String) -> String { v.map { String(format: format, $0) } ?? "reused" }
        var lines = [
            "\(dataset) (\(split), \(queries) queries), \(documents) documents, \(tokens) tokens; model \(model); nbits \(nbits); k \(k)",
            "",
            "| search     | nDCG@10 | Recall@100 | MRR@10 | MAP@100 |",
            "|------------|---------|------------|--------|---------|",
        ]
        for (name, s) in [("PLAID", plaid), ("exhaustive", exhaustive)] {
            lines.append("| \(name.padding(toLength: 10, withPad: " ", startingAt: 0)) | \(f(s?.ndcgAt10)) | \(f(s?.recallAt100))     | \(f(s?.mrrAt10)) | \(f(s?.mapAt100))  |")
        }
        lines += [
            "",
            "index bytes per token:  \(bytesPerToken.map { String(format: "%.2f", $0) } ?? "-")",
            "index build time:       \(optional(buildSeconds, "%.1f s"))",
            "encode (documents):     \(optional(encodeTokensPerSecond, "%.0f tokens/s"))\(encodeSeconds.map { String(format: " (%.1f s)", $0) } ?? "")",
            "encode (queries):       \(optional(queryEncodeSeconds, "%.2f s"))",
            "search (PLAID):         \(optional(searchQueriesPerSecond, "%.1f queries/s"))",
            "search (exhaustive):    \(optional(exhaustiveQueriesPerSecond, "%.1f queries/s"))",
        ]
        return lines.joined(separator: "\n")
    }
}
