import Foundation
import PlaidCore
import PlaidIndex

// Searching an index, and reading the results back. See ABI.swift for the conventions.

/// The hits of a batch search, laid out for copying into arrays: per query its hit count; per
/// hit its score, its id (one UTF-8 buffer: id i is bytes idOffsets[i] ..< idOffsets[i + 1] - 1,
/// each followed by a NUL) and, when asked for, its metadata.
final class SearchResultsBox {
    var counts: [Int64] = []
    var scores: [Float] = []
    var idBytes: [UInt8] = []
    /// Hit i's id starts at idOffsets[i]; byte idOffsets[i + 1] - 1 is the NUL after it.
    var idOffsets: [Int64] = [0]
    /// A JSON array with one object per hit, when metadata was asked for; NUL-terminated.
    private(set) var metadataJSON: UnsafeMutablePointer<CChar>?

    init(_ hits: [[SearchResult]], metadata: [Int: [String: MetadataValue]]?) throws {
        counts = hits.map { Int64($0.count) }
        for hit in hits.joined() {
            scores.append(hit.score)
            idBytes += hit.id.utf8
            // Each id ends in a NUL byte, so that a reader whose ids hold no NUL can split the
            // whole buffer at once.
            idBytes.append(0)
            idOffsets.append(Int64(idBytes.count))
        }
        if let metadata {
            let objects: [[String: Any]] = hits.joined().map { hit in (metadata[hit.document] ?? [:]).mapValues(\.jsonObject) }
            metadataJSON = strdup(try json(objects))
        }
    }

    deinit { free(metadataJSON) }
}

/// Searches `n` queries, each `tokens` rows of `dim` float32 (zero rows pad short queries and
/// add nothing), all in one contiguous array. `subset`: when `nSubset` ≥ 0, only the documents of
/// these ids are searched (ids not in the index are passed over). Options: k, ncells, ndocs,
/// centroid_score_threshold, probe_margin, fixed_budgets, threads, filter, filter_params,
/// include_metadata; on an index that stores text, mode (plaid, bm25 or hybrid; docs/text.md),
/// questions (the queries' texts, one per query, for bm25 and hybrid), fusion and alpha (hybrid).
/// A bm25 search takes no vectors (`queries` NULL, `tokens` 0). `*out` receives the results,
/// released with `plaid_results_free`.
@_cdecl("plaid_index_search")
public func plaid_index_search(_ handle: UnsafeMutableRawPointer?, _ queries: UnsafePointer<Float>?, _ n: Int64,
                               _ tokens: Int64, _ dim: Int64, _ options: UnsafePointer<CChar>?,
                               _ subset: UnsafePointer<UInt8>?, _ subsetOffsets: UnsafePointer<Int64>?, _ nSubset: Int64,
                               _ out: HandleOut, _ error: ErrorOut) -> Int32 {
    reportingErrors(error) {
        let index = try indexHandle(handle)
        let options = try Options(options, source: "search options", known: [
            "k", "ncells", "ndocs", "centroid_score_threshold", "probe_margin", "fixed_budgets", "threads", "filter", "filter_params",
            "include_metadata", "mode", "questions", "fusion", "alpha"])
        var parameters = SearchParameters(k: try options.int("k", in: 1...SearchParameters.maximumK) ?? 10)
        if let ncells = try options.int("ncells", in: 1...(1 << 16)) { parameters.ncells = ncells }
        if let ndocs = try options.int("ndocs", in: 1...SearchParameters.maximumNdocs) { parameters.ndocs = ndocs }
        if let threshold = try options.double("centroid_score_threshold") { parameters.centroidScoreThreshold = Float(threshold) }
        if let margin = try options.double("probe_margin") {
            guard (0...2).contains(margin) else {
                throw PlaidError.invalidArgument("search options: probe_margin must be between 0 and 2 (centroid scores are cosines), not \(margin)")
            }
            parameters.probeMargin = Float(margin)
        }
        if try options.bool("fixed_budgets") ?? false { parameters.budgetsFromScores = false }
        let threads = try options.int("threads", in: 1...1024) ?? 1
        let snapshot = try index.snapshot()
        let modes = try modeSearch(options, index: snapshot.index, queries: n)
        let queryEmbeddings = modes.search?.needsEmbeddings == false && tokens == 0 && queries == nil
            ? nil : try queryBatch(queries, n: n, tokens: tokens, dim: dim, indexDim: snapshot.index.dim)
        var filter: DocumentFilter?
        let filterParameters = try options.filterParameters("filter_params")
        if let expression = try options.string("filter") {
            filter = try snapshot.index.documents(matching: MetadataFilter(expression, parameters: filterParameters ?? []))
        } else if filterParameters != nil {
            throw PlaidError.invalidArgument("search options: filter_params was given without a filter")
        }
        if nSubset >= 0 {
            let allowed = snapshot.lookup.filter(ids: try strings(subset, subsetOffsets, nSubset, what: "subset ids"))
            filter = filter.map { $0.intersection(allowed, in: snapshot.index) } ?? allowed
        }
        let hits = try modes.search.map {
            try $0.searchTimed(questions: modes.questions, queries: $0.needsEmbeddings ? queryEmbeddings : nil, parameters: parameters,
                               filter: filter, threads: threads).results
        } ?? Searcher(index: snapshot.index).search(queries: queryEmbeddings!, parameters: parameters, filter: filter, threads: threads)
        var metadata: [Int: [String: MetadataValue]]?
        if try options.bool("include_metadata") ?? false {
            metadata = snapshot.index.metadataFields.isEmpty ? [:] : try snapshot.index.metadata(of: hits.flatMap { $0.map(\.document) })
        }
        out?.pointee = Unmanaged.passRetained(try SearchResultsBox(hits, metadata: metadata)).toOpaque()
    }
}

/// The search of `options`' mode, with the questions it reads: nil for a PLAID search without
/// text (the plain search, as before modes existed).
private func modeSearch(_ options: Options, index: CompressedIndex, queries n: Int64) throws -> (search: ModeSearch?, questions: [String]?) {
    let name = try options.string("mode") ?? "plaid"
    guard let mode = SearchMode(rawValue: name) else {
        throw PlaidError.invalidArgument("search options: mode must be plaid, bm25 or hybrid, not \"\(visible(String(name.prefix(40))))\"")
    }
    let questions = try options.strings("questions"), fusionName = try options.string("fusion"), alpha = try options.double("alpha")
    if mode != .hybrid && (fusionName != nil || alpha != nil) { throw PlaidError.invalidArgument("search options: fusion and alpha go with mode hybrid") }
    if mode == .plaid {
        guard questions == nil else { throw PlaidError.invalidArgument("search options: questions are read by modes bm25 and hybrid, not plaid") }
        return (nil, nil)
    }
    guard let questions, questions.count == Int(n) else {
        throw PlaidError.invalidArgument("search options: mode \(name) needs questions, the text of each of the \(n) queries")
    }
    let fusion: Fusion
    do { fusion = try Fusion(named: fusionName, alpha: alpha) } catch PlaidError.invalidArgument(let detail) { throw PlaidError.invalidArgument("search options: \(detail)") }
    return (try ModeSearch(index: index, mode: mode, fusion: fusion), questions)
}

/// The queries as search takes them, checked: the index's dimension, finite values.
private func queryBatch(_ queries: UnsafePointer<Float>?, n: Int64, tokens: Int64, dim: Int64, indexDim: Int) throws -> QueryEmbeddings {
    guard n >= 0, tokens >= 1 else { throw PlaidError.invalidArgument("queries: expected at least one vector per query, got \(tokens)") }
    try SearchParameters.checkQueryTokens(Int(tokens), what: "queries")
    guard dim == indexDim else {
        throw PlaidError.invalidArgument("the queries have dimension \(dim) but the index has \(indexDim); encode both with the same model")
    }
    let count = Int(n) * Int(tokens) * Int(dim)
    guard count == 0 || queries != nil else { throw PlaidError.invalidArgument("queries: no vectors were given") }
    let values = count == 0 ? [] : Array(UnsafeBufferPointer(start: queries!, count: count))
    if count > 0 {
        try values.withUnsafeBufferPointer {
            try EmbeddingsLayout.checkRows($0.baseAddress!, rows: Int(n) * Int(tokens), dim: Int(dim), firstRow: 0, file: "queries", allowZero: true)
        }
    }
    return QueryEmbeddings(ids: (0..<Int(n)).map(String.init), tokensPerQuery: Int(tokens), dim: Int(dim), values: values)
}

private func results(_ pointer: UnsafeMutableRawPointer) -> SearchResultsBox {
    Unmanaged<SearchResultsBox>.fromOpaque(pointer).takeUnretainedValue()
}

/// The sizes of the arrays `plaid_results_copy` fills: queries, hits, id bytes.
@_cdecl("plaid_results_shape")
public func plaid_results_shape(_ pointer: UnsafeMutableRawPointer, _ queries: UnsafeMutablePointer<Int64>,
                                _ hits: UnsafeMutablePointer<Int64>, _ idBytes: UnsafeMutablePointer<Int64>) {
    let box = results(pointer)
    queries.pointee = Int64(box.counts.count)
    hits.pointee = Int64(box.scores.count)
    idBytes.pointee = Int64(box.idBytes.count)
}

/// Copies counts [queries], scores [hits], id offsets [hits + 1] and id bytes into the caller's arrays.
@_cdecl("plaid_results_copy")
public func plaid_results_copy(_ pointer: UnsafeMutableRawPointer, _ counts: UnsafeMutablePointer<Int64>, _ scores: UnsafeMutablePointer<Float>,
                               _ idOffsets: UnsafeMutablePointer<Int64>, _ idBytes: UnsafeMutablePointer<UInt8>) {
    let box = results(pointer)
    counts.update(from: box.counts, count: box.counts.count)
    scores.update(from: box.scores, count: box.scores.count)
    idOffsets.update(from: box.idOffsets, count: box.idOffsets.count)
    idBytes.update(from: box.idBytes, count: box.idBytes.count)
}

/// The hits' metadata as a JSON array (one object per hit), or NULL when it was not asked for.
/// Owned by the results.
@_cdecl("plaid_results_metadata")
public func plaid_results_metadata(_ pointer: UnsafeMutableRawPointer) -> UnsafePointer<CChar>? {
    results(pointer).metadataJSON.map { UnsafePointer($0) }
}

@_cdecl("plaid_results_free")
public func plaid_results_free(_ pointer: UnsafeMutableRawPointer?) {
    guard let pointer else { return }
    Unmanaged<SearchResultsBox>.fromOpaque(pointer).release()
}
