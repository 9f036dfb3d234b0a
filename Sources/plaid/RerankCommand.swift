import ArgumentParser
import Foundation
import PlaidCore
import PlaidEncoder
import PlaidEvaluation
import PlaidIndex

/// `plaid rerank`: a first-stage run reordered by exact MaxSim, with no index.
struct Rerank: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Rerank a first-stage run (BM25's top 100, say) by exact MaxSim with the native encoder.",
        discussion: """
        Encodes the run's queries (--queries: texts, or query embeddings) and, once each, the documents \
        the run names (--collection: texts), then sorts each query's documents by MaxSim and writes the \
        top --k as a TREC run. Documents of the run missing from the collection are reported and dropped.
        """)

    @Option(help: "Query texts (.jsonl/.tsv, optionally .zst), or a query embeddings directory.")
    var queries: String

    @Option(help: "Document texts (.jsonl/.tsv, optionally .zst) holding the run's documents.")
    var collection: String

    @Option(name: .customLong("run"), help: "The first-stage TREC run to rerank.")
    var firstStageRun: String

    @Option(help: "Run file to write, or - for standard output.")
    var output: String

    @Option(help: "Documents kept per query (default: all of the run's).")
    var k: Int?

    @Option(help: "The run's last column.")
    var tag: String = "plaid-rerank"

    @OptionGroup var encoder: ModelOptions
    @OptionGroup var reporting: ReportingOptions

    func validate() throws {
        if let k, k < 1 { throw ValidationError("--k must be at least 1, not \(k).") }
        for (option, path) in [("--collection", collection), ("--run", firstStageRun)] where !FileManager.default.fileExists(atPath: path) {
            throw ValidationError("\(option) \(path) does not exist.")
        }
    }

    func run() throws {
        reporting.apply()
        try runReportingErrors {
            let destination = try OutputDestination.prepare(output)
            let firstStage = try Run.readTREC(path: firstStageRun)
            let queryEmbeddings = try loadOrEncodeQueries(queries, encoder: encoder)
            let wanted = Set(firstStage.scores.values.flatMap(\.keys))
            var texts: [String: String] = [:]
            try TextCollectionReader(path: collection).forEach { record in
                if wanted.contains(record.id) { texts[record.id] = record.text }
            }
            let missing = wanted.subtracting(texts.keys)
            if !missing.isEmpty {
                printWarning("\(missing.count) documents of the run are not in \(collection) and were dropped (\(missing.sorted().prefix(5).joined(separator: ", "))\(missing.count > 5 ? ", …" : ""))")
            }
            let model = try encoder.loadEncoder()
            try checkDimensions(query: queryEmbeddings.dim, other: model.dimension, what: "the model")
            let ids = texts.keys.sorted()
            let started = Date()
            let vectors = try model.encodeDocuments(ids.map { texts[$0]! }, batchSize: encoder.batchSize)
            let byID = Dictionary(uniqueKeysWithValues: zip(ids, vectors))
            printStatus(String(format: "encode documents: %d documents in %.1f s", ids.count, Date().timeIntervalSince(started)))
            let perQuery = queryEmbeddings.tokensPerQuery * queryEmbeddings.dim
            var reranked = Run()
            var queriesWithoutRun = 0
            for (q, queryID) in queryEmbeddings.ids.enumerated() {
                let candidates = firstStage.ranking(query: queryID).compactMap { scored in byID[scored.id].map { Reranker.Document(id: scored.id, vectors: $0) } }
                if candidates.isEmpty { queriesWithoutRun += 1; continue }
                let query = Array(queryEmbeddings.values[(q * perQuery)..<((q + 1) * perQuery)])
                let results = Reranker.rerank(query: query, dim: queryEmbeddings.dim, documents: candidates, k: k)
                reranked.setResults(query: queryID, results.map { ScoredDocument(id: $0.id, score: Double($0.score)) })
            }
            if queriesWithoutRun > 0 { printWarning("\(queriesWithoutRun) queries have no document in the run; they are left out") }
            try destination.write(try reranked.trecData(tag: tag))
            printStatus("reranked \(reranked.scores.count) queries")
        }
    }
}
