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
        with --model in query mode first. The run is whitespace-separated TREC (qid Q0 docid rank score \
        tag), as trec_eval reads it. With --exhaustive, the reference: exact MaxSim over --embeddings, \
        no index needed. With --mode bm25 or hybrid (an index built with --store-text), the queries must be \
        texts: bm25 ranks by the stored text alone and encodes nothing.
        """)

    @Option(help: "Index directory (not needed with --exhaustive).")
    var index: String?

    @Option(help: "Query embeddings directory, or a query text file (.jsonl/.tsv, optionally .zst) to encode.")
    var queries: String

    @OptionGroup var encoder: ModelOptions

    @OptionGroup var search: SearchOptions

    @OptionGroup var modes: ModeOptions

    @Option(help: "Run file to write, or - for standard output.")
    var output: String

    @Option(help: "The run's last column (default: plaid, or plaid-exhaustive).")
    var tag: String?

    @Flag(help: "Exact MaxSim over the uncompressed embeddings instead of the index (the reference).")
    var exhaustive = false

    @Option(help: "Document embeddings directory, for --exhaustive.")
    var embeddings: String?

    @Flag(help: "Refuse, instead of warning, when the queries were encoded with another model than the index's.")
    var strict = false

    @Flag(help: "Print each search stage's time and candidates in and out, per query, to standard error.")
    var explain = false

    @Option(help: "Also write why each result matched, as JSON lines (query, rank, id, score, and per query token its best document token and that score; with token texts and spans when the queries are texts and the index stores text), to this file or - for standard output.")
    var matches: String?

    @OptionGroup var filter: FilterOptions

    @OptionGroup var reporting: ReportingOptions

    func validate() throws {
        try search.validate()
        try filter.validate()
        try modes.validate()
        if exhaustive && modes.mode != .plaid { throw ValidationError("--exhaustive is exact MaxSim; --mode \(modes.mode.rawValue) searches an index.") }
        if explain && modes.mode == .bm25 { throw ValidationError("--explain shows PLAID's stages; --mode bm25 runs none.") }
        if exhaustive && filter.filter != nil { throw ValidationError("--filter searches an index's metadata; --exhaustive reads embeddings, which have none.") }
        if exhaustive && embeddings == nil { throw ValidationError("--exhaustive needs --embeddings DIR with the uncompressed document embeddings.") }
        if !exhaustive && embeddings != nil { throw ValidationError("--embeddings goes with --exhaustive; a PLAID search reads only the index.") }
        if !exhaustive && index == nil { throw ValidationError("Give --index DIR (or --exhaustive with --embeddings DIR).") }
        if exhaustive && explain { throw ValidationError("--explain shows PLAID's stages; --exhaustive has none.") }
        if exhaustive && matches != nil { throw ValidationError("--matches explains an index's results; --exhaustive searches no index.") }
        if let tag, tag.isEmpty || tag.contains(where: \.isWhitespace) { throw ValidationError("--tag must be one word (no spaces): it is a column of the run file.") }
    }

    func run() throws {
        reporting.apply()
        try runReportingErrors {
            // Every check that can fail comes before the search.
            let (destination, matchesDestination) = try destinations()
            if exhaustive && index != nil { printWarning("--index is not read with --exhaustive, which searches --embeddings") }
            let opened = exhaustive ? nil : try index.map { try CompressedIndex(path: $0) }
            if let opened, modes.mode != .plaid {
                try searchTexts(opened, destination: destination, matchesDestination: matchesDestination)
                return
            }
            let documents = try embeddings.map { try DocumentEmbeddings(directory: $0) }
            // A model mismatch is caught before any query is encoded.
            let queryEmbeddings = try loadOrEncodeQueries(queries, encoder: encoder) { model in
                if let opened { try checkModel(queries: model, index: opened.codebook.model, strict: strict) }
            }
            try SearchParameters.checkQueryTokens(queryEmbeddings.tokensPerQuery, what: queries)
            try checkRunColumns(queryIDs: queryEmbeddings.ids, index: opened, documents: documents)
            if let opened { try checkDimensions(query: queryEmbeddings.dim, other: opened.dim, what: "the index") }
            let allowed = try opened.flatMap { try filter.documents(of: $0) }
            if let documents { try checkDimensions(query: queryEmbeddings.dim, other: documents.dim, what: "the document embeddings") }
            let parameters = search.parameters(defaultK: 10)
            let started = Date()
            var latencies = [Double]()
            var trace = SearchTrace()
            let results: [[SearchResult]]
            if let documents {
                results = try ExhaustiveSearcher(documents: documents).search(queries: queryEmbeddings, k: parameters.k, threads: search.threads)
            } else {
                (results, latencies, trace) = Searcher(index: opened!).searchTimed(queries: queryEmbeddings, parameters: parameters,
                                                                                   filter: allowed, threads: search.threads)
            }
            let seconds = Date().timeIntervalSince(started)
            try destination.write(try Run(results: results, queryIDs: queryEmbeddings.ids).trecData(tag: runTag))
            printSearchTimes(queries: queryEmbeddings.count, seconds: seconds, latencies: latencies)
            if explain { printError(explanation(of: trace, queries: queryEmbeddings.count)) }
            if let matchesDestination, let opened { try writeMatches(to: matchesDestination, results: results, queries: queryEmbeddings, index: opened) }
        }
    }

    /// The run's last column.
    private var runTag: String { tag ?? (exhaustive ? "plaid-exhaustive" : "plaid") }

    /// Refuses, before the search, ids its TREC run could not hold (`Run.checkTRECColumns`).
    private func checkRunColumns(queryIDs: [String], index: CompressedIndex?, documents: DocumentEmbeddings?) throws {
        try Run.checkTRECColumns(queryIDs: queryIDs, tag: runTag, documentIDs: index.map(liveDocumentIDs) ?? [documents?.ids ?? []],
                                 source: index == nil ? "the document embeddings" : "the index")
    }

    /// The ids of the documents a search of `index` can return, segment by segment.
    private func liveDocumentIDs(of index: CompressedIndex) -> [[String]] {
        index.segments.map { segment in
            segment.liveDocumentCount == segment.documentCount ? segment.documentIDs : segment.documentIDs.indices.filter { !segment.isDeleted($0) }.map { segment.documentIDs[$0] }
        }
    }

    /// Where the run and the matches go, refused when writing one would lose the other.
    private func destinations() throws -> (run: OutputDestination, matches: OutputDestination?) {
        let destination = try OutputDestination.prepare(output)
        let matchesDestination = try matches.map { try OutputDestination.prepare($0, option: "--matches") }
        if let matchesDestination, matchesDestination.isSame(as: destination) {
            throw PlaidError.invalidArgument(destination == .standardOutput
                ? "--output and --matches cannot both be standard output; write one of them to a file"
                : "--output \(output) and --matches \(matches!) name the same file; give each its own")
        }
        return (destination, matchesDestination)
    }

    /// `--matches` after a PLAID search: token texts need the queries' text and the model, which
    /// a file of query texts has (an embeddings directory has neither).
    private func writeMatches(to destination: OutputDestination, results: [[SearchResult]], queries embeddings: QueryEmbeddings,
                              index: CompressedIndex) throws {
        var isDirectory: ObjCBool = false
        let texts = FileManager.default.fileExists(atPath: queries, isDirectory: &isDirectory) && !isDirectory.boolValue
            ? try TextCollectionReader.read(path: queries).map(\.text) : nil
        try writeMatches(to: destination, results: results, queries: embeddings, questions: texts, index: index,
                         encoder: texts == nil ? nil : try encoder.loadEncoder())
    }

    /// `--matches`: a JSON line per query and result, with each query token's best document token
    /// (`MatchedTokens`, whose scores sum to the result's).
    private func writeMatches(to destination: OutputDestination, results: [[SearchResult]], queries: QueryEmbeddings, questions: [String]?,
                              index: CompressedIndex, encoder: TextEncoder?) throws {
        struct Line: Encodable { var query: String, rank: Int, id: String, score: Float, maxsim: Float, matches: [MatchedTokens] }
        let json = JSONEncoder()
        json.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let perQuery = queries.tokensPerQuery * queries.dim
        var lines = Data()
        var seconds = 0.0
        for (q, hits) in results.enumerated() {
            let started = Date()
            let matched = try queries.values.withUnsafeBufferPointer { all in
                try MatchedTokens.of(documents: hits.map(\.document), in: index, query: all.baseAddress! + q * perQuery, tokens: queries.tokensPerQuery,
                                     question: questions?[q], encoder: encoder)
            }
            seconds += Date().timeIntervalSince(started)
            for (rank, (hit, matches)) in zip(hits, matched).enumerated() {
                lines += try json.encode(Line(query: queries.ids[q], rank: rank + 1, id: hit.id, score: hit.score,
                                              maxsim: MatchedTokens.maxSim(of: matches), matches: matches))
                lines += Data("\n".utf8)
            }
        }
        printStatus(String(format: "matches of %d results in %.3f s (%.3f ms per query; token texts and spans, where known, included; writing them out not)",
                           results.reduce(0) { $0 + $1.count }, seconds, seconds * 1000 / Double(max(1, results.count))))
        try destination.write(lines)
    }

    /// `--mode bm25` or `hybrid`: the queries are texts; hybrid encodes them too.
    private func searchTexts(_ opened: CompressedIndex, destination: OutputDestination, matchesDestination: OutputDestination?) throws {
        let search = try ModeSearch(index: opened, mode: modes.mode, fusion: try modes.fusionRule)
        let records = try queryTexts(queries, mode: modes.mode)
        var queryEmbeddings: QueryEmbeddings?
        var model: ColBERTEncoder?
        if search.needsEmbeddings || matchesDestination != nil {
            model = try encoder.loadEncoder()
            try checkModel(queries: model!.identity, index: opened.codebook.model, strict: strict)
            queryEmbeddings = try encodeQueries(records, with: model!, batchSize: encoder.batchSize).queries
            try checkDimensions(query: queryEmbeddings!.dim, other: opened.dim, what: "the index")
        }
        try Run.checkTRECColumns(queryIDs: records.map(\.id), tag: tag ?? modes.mode.rawValue, documentIDs: liveDocumentIDs(of: opened),
                                 source: "the index")
        let allowed = try filter.documents(of: opened)
        let started = Date()
        let (results, latencies, trace) = try search.searchTimed(questions: records.map(\.text), queries: search.needsEmbeddings ? queryEmbeddings : nil,
                                                                 parameters: self.search.parameters(defaultK: 10), filter: allowed,
                                                                 threads: self.search.threads)
        let seconds = Date().timeIntervalSince(started)
        try destination.write(try Run(results: results, queryIDs: records.map(\.id)).trecData(tag: tag ?? modes.mode.rawValue))
        printSearchTimes(queries: records.count, seconds: seconds, latencies: latencies)
        if explain { printError(explanation(of: trace, queries: records.count)) }
        if let matchesDestination, let queryEmbeddings {
            try writeMatches(to: matchesDestination, results: results, queries: queryEmbeddings, questions: records.map(\.text), index: opened, encoder: model)
        }
    }
}

/// The query texts of `path` for a search in `mode`, which reads text: a directory of embeddings
/// is refused with what to give instead.
func queryTexts(_ path: String, mode: SearchMode) throws -> [TextRecord] {
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
        throw PlaidError.missingFile(path: path, hint: "--queries takes a query embeddings directory or a query text file.")
    }
    guard !isDirectory.boolValue else {
        throw PlaidError.invalidArgument("--mode \(mode.rawValue) reads the queries' text, but \(path) is a directory of embeddings; give the query text file (.jsonl or .tsv)")
    }
    let records = try TextCollectionReader.read(path: path)
    guard !records.isEmpty else { throw PlaidError.invalidInput(file: path, detail: "holds no queries") }
    return records
}

/// Queries encoded by another model than the index's: a warning, or with `strict` an error.
func checkModel(queries: ModelIdentity?, index: ModelIdentity?, strict: Bool) throws {
    guard let queries, let index, !queries.isSameModel(as: index) else { return }
    let message = "the queries are encoded with \(queries.summary) but the index was built with \(index.summary)"
    if strict { throw PlaidError.refused(message + "; encode the queries with the index's model (or drop --strict)") }
    printWarning(message + "; scores across models mean nothing (--strict refuses this)")
}

func checkDimensions(query: Int, other: Int, what: String) throws {
    guard query == other else {
        throw PlaidError.invalidArgument("the queries have dimension \(query) but \(what) has \(other); encode both with the same model")
    }
}

/// `--explain`: per stage, the mean time and the mean items in and out per query that ran it.
func explanation(of trace: SearchTrace, queries: Int) -> String {
    var lines = ["stage                            ms/query    in/query   out/query"]
    for stage in SearchTrace.Stage.allCases {
        let totals = trace[stage]
        guard totals.runs > 0 else { lines.append(stage.name.padding(toLength: 31, withPad: " ", startingAt: 0) + "  (not run)"); continue }
        let runs = Double(totals.runs)
        lines.append(String(format: "%@ %9.3f %11.1f %11.1f", stage.name.padding(toLength: 31, withPad: " ", startingAt: 0),
                            totals.seconds * 1000 / runs, Double(totals.itemsIn) / runs, Double(totals.itemsOut) / runs))
    }
    let total = SearchTrace.Stage.allCases.reduce(0.0) { $0 + trace[$1].seconds }
    lines.append(String(format: "all stages, per query %12.3f ms (%d queries)", total * 1000 / Double(max(1, queries)), queries))
    return lines.joined(separator: "\n")
}

/// Prints queries/s and latency percentiles to stderr.
func printSearchTimes(queries: Int, seconds: Double, latencies: [Double]) {
    printStatus(SearchTimes.summary(queries: queries, seconds: seconds, latencies: latencies))
}

/// Query embeddings from a directory, or encoded from a text file with the model (printing the
/// encode time). `check` sees the queries' model first, before any encoding.
func loadOrEncodeQueries(_ path: String, encoder options: ModelOptions,
                         check: (ModelIdentity?) throws -> Void = { _ in }) throws -> QueryEmbeddings {
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
        throw PlaidError.missingFile(path: path, hint: "--queries takes a query embeddings directory or a query text file.")
    }
    if isDirectory.boolValue {
        let queries = try QueryEmbeddings(directory: path)
        try check(queries.model)
        return queries
    }
    let records = try TextCollectionReader.read(path: path)
    guard !records.isEmpty else { throw PlaidError.invalidInput(file: path, detail: "holds no queries") }
    let encoder = try options.loadEncoder()
    try check(encoder.identity)
    return try encodeQueries(records, with: encoder, batchSize: options.batchSize).queries
}

/// Encodes query texts in memory; returns them with the seconds it took.
func encodeQueries(_ records: [TextRecord], with encoder: ColBERTEncoder, batchSize: Int) throws -> (queries: QueryEmbeddings, seconds: Double) {
    let started = Date()
    let queries = try encoder.encodeQueryEmbeddings(ids: records.map(\.id), texts: records.map(\.text), batchSize: batchSize)
    let seconds = Date().timeIntervalSince(started)
    printStatus(String(format: "encode queries: %d queries in %.2f s (%@)", records.count, seconds, formatRate(Double(records.count) / max(seconds, 1e-9), "queries")))
    return (queries, seconds)
}
