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
        Document embeddings and the index are kept under --work (default: .plaid-work/DATASET-MODEL-KEY in \
        the current folder, KEY a checksum of the model's files, the precision and the corpus) and reused by \
        later runs with the same settings; a reused index built with other settings is refused. Metrics follow \
        trec_eval and BEIR: nDCG@10, MRR@10, and Recall and MAP at min(k, 100); a retrieved document whose id is \
        the query id is dropped, and queries without a judged relevant document are skipped. With --run FILE, \
        scores that run file instead (no encoding, no search), and with --reference FILE also reports the \
        share of that run's top-10 it keeps. The report gives PLAID's share of the exhaustive top-10.
        """)

    @Option(help: "BEIR dataset folder (corpus.jsonl, queries.jsonl, qrels/SPLIT.tsv).")
    var dataset: String?

    @Option(help: "With --run instead of --dataset: the qrels file (BEIR TSV with a header, or TREC) to score against.")
    var qrels: String?

    @Option(help: "qrels split to evaluate.")
    var split: String = "test"

    @Option(help: "Index directory (default: WORK/index-NBITSbit).")
    var index: String?

    @Option(help: "Directory for the document embeddings and the default index (default: .plaid-work/DATASET-MODEL-KEY).")
    var work: String?

    @Option(name: .customLong("run"), help: "Score this TREC run file against the qrels instead of searching.")
    var runFile: String?

    @Option(help: "With --run: a run (such as exhaustive MaxSim's) whose top-10 the report says how much of --run keeps.")
    var reference: String?

    @Option(help: "Write the PLAID and exhaustive runs here (plaid.run, exhaustive.run).")
    var runDir: String?

    @Option(help: "Where the report goes: a file, or - for standard output.")
    var output: String = "-"

    @Flag(help: "Print the report as JSON.")
    var json = false

    @OptionGroup var search: SearchOptions
    @OptionGroup var filter: FilterOptions
    @OptionGroup var encoder: ModelOptions
    @OptionGroup var build: BuildOptions
    @OptionGroup var reporting: ReportingOptions

    var k: Int { search.k ?? 100 }

    func validate() throws {
        switch (dataset, qrels) {
        case (nil, nil): throw ValidationError("Give --dataset (a BEIR folder), or --run with --qrels FILE.")
        case (.some, .some): throw ValidationError("Give --dataset or --qrels, not both.")
        case (nil, .some) where runFile == nil: throw ValidationError("--qrels scores a --run file; a search needs --dataset.")
        default: break
        }
        try build.validate()
        try search.validate()
        try filter.validate()
        guard k >= 10 else { throw ValidationError("--k must be at least 10 for nDCG@10, not \(k).") }
        if runFile != nil && (runDir != nil || index != nil) { throw ValidationError("--run scores an existing run; --run-dir and --index go with a search.") }
        if reference != nil && runFile == nil { throw ValidationError("--reference goes with --run; a search is compared with exhaustive MaxSim already.") }
    }

    func run() throws {
        reporting.apply()
        try runReportingErrors {
            let destination = try OutputDestination.prepare(output)
            if let runDir { try FileManager.default.createDirectory(atPath: runDir, withIntermediateDirectories: true) }
            let cutoffs = [10, min(k, 100)]
            let options = EvaluationOptions(dropIdenticalIDs: true, countMissingQueriesAsZero: true, skipQueriesWithoutRelevant: true)
            if let runFile {
                let qrels = try self.qrels.map { try Qrels.load(path: $0) } ?? BEIRDataset(path: dataset!, split: split).loadQrels()
                let datasetName = URL(fileURLWithPath: dataset ?? self.qrels!).standardizedFileURL.lastPathComponent
                let scored = try Run.readTREC(path: runFile)
                let scores = EvalReport.Scores(Metrics.evaluate(run: scored, qrels: qrels, cutoffs: cutoffs, options: options), cutoff: cutoffs[1])
                var report = EvalReport(dataset: datasetName, split: split, queries: qrels.queryIDs.count, k: k, cutoff: cutoffs[1])
                report.run = scores
                if let reference {
                    let referenceRun = try Run.readTREC(path: reference)
                    report.top10Share = scored.topShare(of: referenceRun)
                    report.top10ShareQueries = referenceRun.rankedQueries.count
                }
                try destination.write(Data(((json ? try report.json() : report.table()) + "\n").utf8))
                return
            }
            let data = try BEIRDataset(path: dataset!, split: split)
            let qrels = try data.loadQrels()
            let datasetName = URL(fileURLWithPath: dataset!).standardizedFileURL.lastPathComponent
            let queries = try data.loadQueries(judgedBy: qrels)
            let colbert = try encoder.loadEncoder()
            let workDirectory = work ?? ".plaid-work/\(datasetName)-\(URL(fileURLWithPath: colbert.modelDirectory).standardizedFileURL.lastPathComponent)-\(cacheKey(colbert, corpus: data.corpusPath))"
            let embeddingsDirectory = (workDirectory as NSString).appendingPathComponent("embeddings")
            let indexPath = index ?? (workDirectory as NSString).appendingPathComponent("index-\(build.nbits)bit")
            var report = EvalReport(dataset: datasetName, split: split, queries: queries.count, k: k, cutoff: cutoffs[1])
            report.model = colbert.identity

            if !FileManager.default.fileExists(atPath: (embeddingsDirectory as NSString).appendingPathComponent(EmbeddingsLayout.documentIDs)) {
                let encoding = try encodeCollection(data.corpusPath, with: colbert, mode: .document, output: embeddingsDirectory,
                                                    float16: false, batchSize: encoder.batchSize)
                report.encodeTokensPerSecond = encoding.tokensPerSecond
                report.encodeSeconds = encoding.seconds
            } else {
                printStatus("reusing the document embeddings in \(embeddingsDirectory)")
            }
            let documents = try DocumentEmbeddings(directory: embeddingsDirectory)
            if let recorded = documents.model, !recorded.isSameModel(as: colbert.identity) || recorded.precision != colbert.identity.precision {
                throw PlaidError.refused("the embeddings in \(embeddingsDirectory) were encoded with \(recorded.summary), not \(colbert.identity.summary); remove them or pass another --work")
            }
            if !FileManager.default.fileExists(atPath: indexPath) || build.overwrite {
                report.buildSeconds = try build.build(from: documents, at: indexPath).seconds
            } else {
                printStatus("reusing the index at \(indexPath) (pass --overwrite to rebuild it)")
            }
            let opened = try CompressedIndex(path: indexPath)
            guard opened.liveDocumentIDs == documents.ids else {
                throw PlaidError.refused("the index at \(indexPath) was not built from \(embeddingsDirectory); pass --overwrite to rebuild it")
            }
            try checkBuildSettings(of: opened, tokens: documents.tokenCount, path: indexPath)
            report.describe(opened)

            let encoded = try encodeQueries(queries, with: colbert, batchSize: encoder.batchSize)
            report.queryEncodeSeconds = encoded.seconds

            let parameters = search.parameters(defaultK: 100)
            report.parameters = parameters
            // With --filter, both searches see only the matching documents.
            let allowed = try filter.documents(of: opened)
            report.filter = filter.filter
            report.matchingDocuments = allowed?.count
            let allowedIDs = allowed.map { Set($0.ordinals.map(opened.documentID)) }
            let started = Date()
            let (plaidResults, latencies, _) = searchWithProgress(Searcher(index: opened), queries: encoded.queries,
                                                               parameters: parameters, filter: allowed, threads: search.threads)
            let searchSeconds = Date().timeIntervalSince(started)
            printSearchTimes(queries: queries.count, seconds: searchSeconds, latencies: latencies)
            report.searchQueriesPerSecond = Double(queries.count) / searchSeconds

            let exhaustiveStarted = Date()
            let documentIDs = documents.ids
            let exactResults = try ExhaustiveSearcher(documents: documents).search(
                queries: encoded.queries, k: k, threads: search.threads,
                include: allowedIDs.map { ids in { ids.contains(documentIDs[$0]) } })
            report.exhaustiveQueriesPerSecond = Double(queries.count) / Date().timeIntervalSince(exhaustiveStarted)
            printStatus("exhaustive MaxSim: \(queries.count) queries (\(formatRate(report.exhaustiveQueriesPerSecond!, "queries")))")

            let ids = queries.map(\.id)
            let plaidRun = Run(results: plaidResults, queryIDs: ids), exactRun = Run(results: exactResults, queryIDs: ids)
            if let runDir {
                try plaidRun.writeTREC(path: (runDir as NSString).appendingPathComponent("plaid.run"), tag: "plaid")
                try exactRun.writeTREC(path: (runDir as NSString).appendingPathComponent("exhaustive.run"), tag: "plaid-exhaustive")
            }
            report.plaid = EvalReport.Scores(Metrics.evaluate(run: plaidRun, qrels: qrels, cutoffs: cutoffs, options: options), cutoff: cutoffs[1])
            report.exhaustive = EvalReport.Scores(Metrics.evaluate(run: exactRun, qrels: qrels, cutoffs: cutoffs, options: options), cutoff: cutoffs[1])
            report.top10Share = plaidRun.topShare(of: exactRun)
            report.top10ShareQueries = exactRun.rankedQueries.count
            try destination.write(Data(((json ? try report.json() : report.table()) + "\n").utf8))
        }
    }

    /// What the cached embeddings depend on: the model's files, the precision, and the corpus bytes.
    func cacheKey(_ encoder: ColBERTEncoder, corpus: String) -> String {
        let corpusHash = FileChecksum.hex(ofFiles: [("corpus", corpus)])
        return String(FileChecksum.hex(ofStrings: [encoder.identity.hash, encoder.identity.precision, corpusHash]).prefix(12))
    }

    /// A reused index must have been built with the settings this run asks for: nbits, seed,
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

/// What `plaid eval` prints. The JSON schema is fixed: every key is always present, `null` where
/// a stage did not run (reused embeddings or index, or `--run`).
struct EvalReport: Encodable {
    struct Scores: Encodable {
        var ndcgAt10: Double, mrrAt10: Double, recallAtCutoff: Double, mapAtCutoff: Double
        init(_ r: EvaluationResult, cutoff: Int) {
            ndcgAt10 = r.mean(.ndcg, at: 10); mrrAt10 = r.mean(.mrr, at: 10)
            recallAtCutoff = r.mean(.recall, at: cutoff); mapAtCutoff = r.mean(.map, at: cutoff)
        }
    }
    var dataset: String, split: String, queries: Int, k: Int
    /// Recall and MAP are measured at this depth: min(k, 100), never deeper than the search.
    var cutoff: Int
    var model: ModelIdentity?
    var index: String?
    var nbits: Int?, centroids: Int?, seed: UInt64?
    var documents: Int?, tokens: Int?
    var parameters: SearchParameters?
    var filter: String?
    var matchingDocuments: Int?
    var plaid: Scores?, exhaustive: Scores?, run: Scores?
    var bytesPerToken: Double?
    var buildSeconds: Double?
    var encodeSeconds: Double?
    var encodeTokensPerSecond: Double?
    var queryEncodeSeconds: Double?
    var searchQueriesPerSecond: Double?
    var exhaustiveQueriesPerSecond: Double?
    /// The share of the exhaustive (or --reference) top-10 that the searched (or --run) top-10
    /// keeps, over this many queries.
    var top10Share: Double?
    var top10ShareQueries: Int?

    /// The settings of the index actually searched.
    mutating func describe(_ opened: CompressedIndex) {
        index = opened.path
        nbits = opened.codebook.nbits; centroids = opened.codebook.centroidCount; seed = opened.codebook.kmeansSeed
        documents = opened.documentCount; tokens = opened.tokenCount
        bytesPerToken = Double(opened.bytesOnDisk) / Double(max(1, opened.tokenCount))
    }

    enum CodingKeys: String, CodingKey {
        case dataset, split, queries, k, cutoff, model, index, nbits, centroids, seed, documents, tokens, parameters, filter, matchingDocuments
        case plaid, exhaustive, run, bytesPerToken, buildSeconds, encodeSeconds, encodeTokensPerSecond
        case queryEncodeSeconds, searchQueriesPerSecond, exhaustiveQueriesPerSecond, top10Share, top10ShareQueries
    }

    func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(dataset, forKey: .dataset); try c.encode(split, forKey: .split)
        try c.encode(queries, forKey: .queries); try c.encode(k, forKey: .k); try c.encode(cutoff, forKey: .cutoff)
        // `encode` of an Optional writes null, so the keys are the same whatever ran.
        try c.encode(model, forKey: .model); try c.encode(index, forKey: .index)
        try c.encode(nbits, forKey: .nbits); try c.encode(centroids, forKey: .centroids); try c.encode(seed, forKey: .seed)
        try c.encode(documents, forKey: .documents); try c.encode(tokens, forKey: .tokens)
        try c.encode(parameters.map(SearchSettings.init), forKey: .parameters)
        try c.encode(filter, forKey: .filter); try c.encode(matchingDocuments, forKey: .matchingDocuments)
        try c.encode(plaid, forKey: .plaid); try c.encode(exhaustive, forKey: .exhaustive); try c.encode(run, forKey: .run)
        try c.encode(bytesPerToken, forKey: .bytesPerToken); try c.encode(buildSeconds, forKey: .buildSeconds)
        try c.encode(encodeSeconds, forKey: .encodeSeconds); try c.encode(encodeTokensPerSecond, forKey: .encodeTokensPerSecond)
        try c.encode(queryEncodeSeconds, forKey: .queryEncodeSeconds)
        try c.encode(searchQueriesPerSecond, forKey: .searchQueriesPerSecond)
        try c.encode(exhaustiveQueriesPerSecond, forKey: .exhaustiveQueriesPerSecond)
        try c.encode(top10Share, forKey: .top10Share); try c.encode(top10ShareQueries, forKey: .top10ShareQueries)
    }

    struct SearchSettings: Encodable {
        var k: Int, ncells: Int, centroidScoreThreshold: Float, ndocs: Int
        init(_ p: SearchParameters) { k = p.k; ncells = p.ncells; centroidScoreThreshold = p.centroidScoreThreshold; ndocs = p.ndocs }
    }

    func json() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        return String(decoding: try encoder.encode(self), as: UTF8.self)
    }

    func table() -> String {
        func f(_ v: Double?) -> String { v.map { String(format: "%.4f", $0) } ?? "-" }
        func optional(_ v: Double?, _ format: String) -> String { v.map { String(format: format, $0) } ?? "reused" }
        var header = "\(dataset) (\(split), \(queries) queries)"
        if let documents, let tokens { header += ", \(documents) documents, \(tokens) tokens" }
        if let model { header += "; model \(model.name)" }
        if let nbits, let centroids { header += "; nbits \(nbits), \(centroids) centroids" }
        header += "; k \(k)"
        if let filter, let matchingDocuments { header += "; filter \"\(filter)\" (\(matchingDocuments) documents)" }
        if let parameters { header += String(format: " (ncells %d, t_cs %.2f, ndocs %d)", parameters.ncells, parameters.centroidScoreThreshold, parameters.ndocs) }
        let recall = "Recall@\(cutoff)", map = "MAP@\(cutoff)"
        var lines = [header, "", "| search     | nDCG@10 | \(recall) | MRR@10 | \(map) |", "|------------|---------|\(String(repeating: "-", count: recall.count + 2))|--------|\(String(repeating: "-", count: map.count + 2))|"]
        for (name, s) in [("PLAID", plaid), ("exhaustive", exhaustive), ("run", run)] where s != nil {
            lines.append("| \(name.padding(toLength: 10, withPad: " ", startingAt: 0)) | \(f(s?.ndcgAt10))  | \(f(s?.recallAtCutoff).padding(toLength: recall.count, withPad: " ", startingAt: 0)) | \(f(s?.mrrAt10)) | \(f(s?.mapAtCutoff).padding(toLength: map.count, withPad: " ", startingAt: 0)) |")
        }
        if let top10Share, let top10ShareQueries {
            let source = run == nil ? "exhaustive MaxSim's" : "the reference's"
            lines += ["", "top-10 kept from \(source) top-10: \(String(format: "%.4f", top10Share)) (\(top10ShareQueries) queries)"]
        }
        guard run == nil else { return lines.joined(separator: "\n") }
        lines += [
            "",
            "index bytes per token:  \(bytesPerToken.map { String(format: "%.2f", $0) } ?? "-")",
            "index build time:       \(optional(buildSeconds, "%.1f s"))",
            "encode (documents):     \(encodeTokensPerSecond.map { formatRate($0, "tokens") } ?? "reused")\(encodeSeconds.map { String(format: " (%.1f s)", $0) } ?? "")",
            "encode (queries):       \(optional(queryEncodeSeconds, "%.2f s"))",
            "search (PLAID):         \(searchQueriesPerSecond.map { formatRate($0, "queries") } ?? "-")",
            "search (exhaustive):    \(exhaustiveQueriesPerSecond.map { formatRate($0, "queries") } ?? "-")",
        ]
        return lines.joined(separator: "\n")
    }
}
