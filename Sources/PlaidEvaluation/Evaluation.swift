import Foundation
import PlaidCore
import PlaidIndex

/// A BEIR evaluation: encode the corpus, build an index (both kept under `work` and reused by
/// later runs with the same settings), encode the judged queries, search with PLAID and with
/// exhaustive MaxSim over the same embeddings, and score both against the qrels. With `modes`
/// holding bm25 or hybrid, the index stores the corpus's text and those searches are scored too.
///
/// Metrics follow trec_eval and BEIR: nDCG@10, MRR@10, and Recall and MAP at min(k, 100); a
/// retrieved document whose id is the query id is dropped, and queries without a judged relevant
/// document are skipped. A reused index or embeddings made with other settings are refused.
public struct Evaluation {
    /// A BEIR folder: corpus.jsonl, queries.jsonl, qrels/SPLIT.tsv.
    public var dataset: String
    public var split = "test"
    /// Depth of both searches; at least 10.
    public var k = 100
    /// Where the embeddings and the default index live; nil: `.plaid-work/DATASET-MODEL-KEY`.
    public var work: String?
    /// The index to search; nil: `WORK/index-NBITSbit`.
    public var index: String?
    /// Rebuild the index even if one is there.
    public var rebuild = false
    public var build = BuildParameters()
    public var search = SearchParameters()
    /// The searches scored beside exhaustive MaxSim: PLAID always, BM25 and hybrid when listed
    /// (then the index stores the corpus's text, with `build.storedText` or its default).
    public var modes: [SearchMode] = [.plaid]
    /// How the hybrid search fuses its rankings.
    public var fusion = Fusion.standard
    /// With it, both searches see only the matching documents.
    public var filter: MetadataFilter?
    public var threads = Parallel.defaultThreadCount
    public var batchSize = 32
    /// Where the PLAID and exhaustive runs are written (plaid.run, exhaustive.run), if anywhere.
    public var runDirectory: String?
    /// Receives a line for each stage's outcome (reuse, timings).
    public var status: (String) -> Void = { _ in }
    /// Called after a build with its summary, the index path and the token count.
    public var built: (BuildSummary, String, Int) -> Void = { _, _, _ in }

    public init(dataset: String) {
        self.dataset = dataset
    }

    static let options = EvaluationOptions(dropIdenticalIDs: true, countMissingQueriesAsZero: true, skipQueriesWithoutRelevant: true)

    /// Runs every stage with `encoder` and returns the report.
    public func run(encoder: TextEncoder) throws -> EvaluationReport {
        if let runDirectory { try FileManager.default.createDirectory(atPath: runDirectory, withIntermediateDirectories: true) }
        let data = try BEIRDataset(path: dataset, split: split)
        let qrels = try data.loadQrels()
        let queries = try data.loadQueries(judgedBy: qrels)
        let cutoffs = [10, min(k, 100)]
        var report = EvaluationReport(dataset: Evaluation.name(of: dataset), split: split, queries: queries.count, k: k, cutoff: cutoffs[1])
        report.model = encoder.identity
        let workDirectory = work ?? Evaluation.defaultWork(dataset: data, encoder: encoder)
        let documents = try embeddings(of: data, in: workDirectory, encoder: encoder, report: &report)
        if runDirectory != nil {  // the runs are written at the end: their ids are checked before any search
            try Run.checkTRECColumns(queryIDs: queries.map(\.id), tag: "plaid-exhaustive", documentIDs: [documents.ids], source: data.corpusPath)
        }
        let opened = try openIndex(of: documents, texts: data.corpusPath, in: workDirectory, report: &report)
        report.describe(opened)

        let started = Date()
        let encoded = try encoder.encodeQueryEmbeddings(ids: queries.map(\.id), texts: queries.map(\.text), batchSize: batchSize)
        report.queryEncodeSeconds = Date().timeIntervalSince(started)
        status(String(format: "encode queries: %d queries in %.2f s (%@)", queries.count, report.queryEncodeSeconds!,
                      formatRate(Double(queries.count) / max(report.queryEncodeSeconds!, 1e-9), "queries")))
        let (plaidRun, exactRun) = try searchBoth(encoded, index: opened, documents: documents, report: &report)
        if let runDirectory {
            try plaidRun.writeTREC(path: (runDirectory as NSString).appendingPathComponent("plaid.run"), tag: "plaid")
            try exactRun.writeTREC(path: (runDirectory as NSString).appendingPathComponent("exhaustive.run"), tag: "plaid-exhaustive")
        }
        report.plaid = .init(Metrics.evaluate(run: plaidRun, qrels: qrels, cutoffs: cutoffs, options: Evaluation.options), cutoff: cutoffs[1])
        report.exhaustive = .init(Metrics.evaluate(run: exactRun, qrels: qrels, cutoffs: cutoffs, options: Evaluation.options), cutoff: cutoffs[1])
        report.top10Share = plaidRun.topShare(of: exactRun)
        report.top10ShareQueries = exactRun.rankedQueries.count
        for mode in [SearchMode.bm25, .hybrid] where modes.contains(mode) {
            let (run, queriesPerSecond) = try searchText(mode, questions: queries, encoded: encoded, index: opened)
            if let runDirectory { try run.writeTREC(path: (runDirectory as NSString).appendingPathComponent("\(mode.rawValue).run"), tag: mode.rawValue) }
            let scores = Metrics.evaluate(run: run, qrels: qrels, cutoffs: cutoffs, options: Evaluation.options)
            report.textModes.append(.init(mode: mode.rawValue, scores: .init(scores, cutoff: cutoffs[1]), queriesPerSecond: queriesPerSecond))
        }
        return report
    }

    /// Scores an existing TREC run against `qrels` (or the dataset's), and with `reference`
    /// reports the share of that run's top-10 it keeps. No encoding, no search.
    public static func score(run runFile: String, qrels qrelsFile: String?, dataset: String?, split: String, k: Int,
                             reference: String? = nil) throws -> EvaluationReport {
        guard let source = dataset ?? qrelsFile else {
            throw PlaidError.invalidArgument("scoring a run needs a BEIR dataset or a qrels file")
        }
        let qrels = try qrelsFile.map { try Qrels.load(path: $0) } ?? BEIRDataset(path: source, split: split).loadQrels()
        let cutoffs = [10, min(k, 100)]
        let scored = try Run.readTREC(path: runFile)
        var report = EvaluationReport(dataset: name(of: source), split: split, queries: qrels.queryIDs.count, k: k, cutoff: cutoffs[1])
        report.run = .init(Metrics.evaluate(run: scored, qrels: qrels, cutoffs: cutoffs, options: options), cutoff: cutoffs[1])
        if let reference {
            let referenceRun = try Run.readTREC(path: reference)
            report.top10Share = scored.topShare(of: referenceRun)
            report.top10ShareQueries = referenceRun.rankedQueries.count
        }
        return report
    }

    static func name(of path: String) -> String { URL(fileURLWithPath: path).standardizedFileURL.lastPathComponent }

    /// `.plaid-work/DATASET-MODEL-KEY`, KEY a checksum of what the embeddings depend on: the
    /// model's files, the precision, and the corpus bytes.
    static func defaultWork(dataset: BEIRDataset, encoder: TextEncoder) -> String {
        let corpusHash = FileChecksum.hex(ofFiles: [("corpus", dataset.corpusPath)])
        let key = FileChecksum.hex(ofStrings: [encoder.identity.hash, encoder.identity.precision, corpusHash]).prefix(12)
        let model = URL(fileURLWithPath: encoder.identity.path).standardizedFileURL.lastPathComponent
        return ".plaid-work/\(name(of: dataset.path))-\(model)-\(key)"
    }

    // MARK: Stages

    /// The corpus's embeddings in `work`/embeddings: encoded now, or reused if there (and then
    /// they must be this model's, at this precision).
    private func embeddings(of data: BEIRDataset, in work: String, encoder: TextEncoder,
                            report: inout EvaluationReport) throws -> DocumentEmbeddings {
        let directory = (work as NSString).appendingPathComponent("embeddings")
        if !FileManager.default.fileExists(atPath: (directory as NSString).appendingPathComponent(EmbeddingsLayout.documentIDs)) {
            let encoding = try CollectionEncoding.encode(data.corpusPath, with: encoder, mode: .document, output: directory,
                                                         float16: false, batchSize: batchSize)
            report.encodeTokensPerSecond = encoding.tokensPerSecond
            report.encodeSeconds = encoding.seconds
        } else {
            status("reusing the document embeddings in \(directory)")
        }
        let documents = try DocumentEmbeddings(directory: directory)
        if let recorded = documents.model, !recorded.isSameModel(as: encoder.identity) || recorded.precision != encoder.identity.precision {
            throw PlaidError.refused("the embeddings in \(directory) were encoded with \(recorded.summary), not \(encoder.identity.summary); remove them or pass another --work")
        }
        return documents
    }

    /// The index of `documents`: built now (or rebuilt), or reused if it was built from them
    /// with the settings asked for.
    private func openIndex(of documents: DocumentEmbeddings, texts corpus: String, in work: String,
                           report: inout EvaluationReport) throws -> CompressedIndex {
        let path = index ?? (work as NSString).appendingPathComponent("index-\(build.nbits)bit")
        var build = build
        if modes.contains(where: { $0 != .plaid }) && build.storedText == nil { build.storedText = try StoredTextSettings() }
        if !FileManager.default.fileExists(atPath: path) || rebuild {
            let texts = build.storedText == nil ? [:] : try StoredTextReader.fromCollection(path: corpus)
            let summary = try IndexBuilder.build(from: documents, at: path, parameters: build, texts: texts, overwrite: rebuild, showProgress: true)
            report.buildSeconds = summary.seconds
            built(summary, path, documents.tokenCount)
        } else {
            status("reusing the index at \(path) (pass --overwrite to rebuild it)")
        }
        let opened = try CompressedIndex(path: path)
        guard opened.liveDocumentIDs == documents.ids else {
            throw PlaidError.refused("the index at \(path) was not built from \((work as NSString).appendingPathComponent("embeddings")); pass --overwrite to rebuild it")
        }
        try checkBuildSettings(of: opened, tokens: documents.tokenCount, path: path)
        if let wanted = build.storedText, opened.manifest.storedText != wanted {
            let found = opened.manifest.storedText.map { "text tokenized by '\($0.tokenizer)'" } ?? "no text"
            throw PlaidError.refused("the index at \(path) stores \(found), and this run needs its text tokenized by '\(wanted.tokenizer)'; pass --overwrite to rebuild it")
        }
        return opened
    }

    /// A BM25 or hybrid search of the judged queries, and its queries per second.
    private func searchText(_ mode: SearchMode, questions: [TextRecord], encoded: QueryEmbeddings,
                            index opened: CompressedIndex) throws -> (run: Run, queriesPerSecond: Double) {
        let allowed = try filter.map { try opened.documents(matching: $0) }
        let started = Date()
        let (results, latencies, _) = try ModeSearch(index: opened, mode: mode, fusion: fusion)
            .searchTimed(questions: questions.map(\.text), queries: encoded, parameters: search, filter: allowed, threads: threads)
        let seconds = Date().timeIntervalSince(started)
        status("\(mode.rawValue): " + SearchTimes.summary(queries: questions.count, seconds: seconds, latencies: latencies))
        return (Run(results: results, queryIDs: encoded.ids), Double(questions.count) / seconds)
    }

    /// A reused index must have been built with the settings this run asks for: nbits, seed,
    /// k-means iterations and centroid count. Otherwise the report would describe another index.
    private func checkBuildSettings(of index: CompressedIndex, tokens: Int, path: String) throws {
        let book = index.codebook
        let wanted = build.kmeans
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

    /// PLAID and exhaustive MaxSim over the same queries (and the filter's documents), timed.
    private func searchBoth(_ encoded: QueryEmbeddings, index opened: CompressedIndex, documents: DocumentEmbeddings,
                            report: inout EvaluationReport) throws -> (plaid: Run, exhaustive: Run) {
        report.parameters = search
        let allowed = try filter.map { try opened.documents(matching: $0) }
        if let allowed {
            status("filter: \(allowed.count) of \(opened.documentCount) documents match (\(allowed.tokens) tokens)")
        }
        report.filter = filter?.expression
        report.matchingDocuments = allowed?.count
        let started = Date()
        let (plaidResults, latencies, _) = Searcher(index: opened).searchTimed(queries: encoded, parameters: search, filter: allowed, threads: threads)
        let searchSeconds = Date().timeIntervalSince(started)
        status(SearchTimes.summary(queries: encoded.count, seconds: searchSeconds, latencies: latencies))
        report.searchQueriesPerSecond = Double(encoded.count) / searchSeconds

        let exhaustiveStarted = Date()
        let documentIDs = documents.ids
        let allowedIDs = allowed.map { Set($0.ordinals.map(opened.documentID)) }
        let exactResults = try ExhaustiveSearcher(documents: documents).search(
            queries: encoded, k: k, threads: threads, include: allowedIDs.map { ids in { ids.contains(documentIDs[$0]) } })
        report.exhaustiveQueriesPerSecond = Double(encoded.count) / Date().timeIntervalSince(exhaustiveStarted)
        status("exhaustive MaxSim: \(encoded.count) queries (\(formatRate(report.exhaustiveQueriesPerSecond!, "queries")))")
        return (Run(results: plaidResults, queryIDs: encoded.ids), Run(results: exactResults, queryIDs: encoded.ids))
    }
}
