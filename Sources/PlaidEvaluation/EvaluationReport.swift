import Foundation
import PlaidCore
import PlaidIndex

/// What an evaluation found, as `plaid eval` prints it. The JSON schema is fixed: every key is always present, `null` where
/// a stage did not run (reused embeddings or index, or `--run`).
public struct EvaluationReport: Encodable, Sendable {
    public struct Scores: Encodable, Sendable {
        public var ndcgAt10: Double, mrrAt10: Double, recallAtCutoff: Double, mapAtCutoff: Double
        public init(_ r: EvaluationResult, cutoff: Int) {
            ndcgAt10 = r.mean(.ndcg, at: 10); mrrAt10 = r.mean(.mrr, at: 10)
            recallAtCutoff = r.mean(.recall, at: cutoff); mapAtCutoff = r.mean(.map, at: cutoff)
        }
    }
    public var dataset: String, split: String, queries: Int, k: Int
    /// Recall and MAP are measured at this depth: min(k, 100), never deeper than the search.
    public var cutoff: Int
    public var model: ModelIdentity?
    public var index: String?
    public var nbits: Int?, centroids: Int?, seed: UInt64?
    public var documents: Int?, tokens: Int?
    public var parameters: SearchParameters?
    public var filter: String?
    public var matchingDocuments: Int?
    public var plaid: Scores?, exhaustive: Scores?, run: Scores?
    public var bytesPerToken: Double?
    public var buildSeconds: Double?
    public var encodeSeconds: Double?
    public var encodeTokensPerSecond: Double?
    public var queryEncodeSeconds: Double?
    public var searchQueriesPerSecond: Double?
    public var exhaustiveQueriesPerSecond: Double?
    /// The share of the exhaustive (or --reference) top-10 that the searched (or --run) top-10
    /// keeps, over this many queries.
    /// The BM25 and hybrid searches' scores and speed, in the order they ran.
    public var textModes: [TextModeScores] = []
    public struct TextModeScores: Encodable, Sendable {
        public var mode: String
        public var scores: Scores
        public var queriesPerSecond: Double?
    }
    public var top10Share: Double?
    public var top10ShareQueries: Int?

    public init(dataset: String, split: String, queries: Int, k: Int, cutoff: Int) {
        self.dataset = dataset; self.split = split; self.queries = queries; self.k = k; self.cutoff = cutoff
    }

    /// The settings of the index actually searched.
    public mutating func describe(_ opened: CompressedIndex) {
        index = opened.path
        nbits = opened.codebook.nbits; centroids = opened.codebook.centroidCount; seed = opened.codebook.kmeansSeed
        documents = opened.documentCount; tokens = opened.tokenCount
        bytesPerToken = Double(opened.bytesOnDisk) / Double(max(1, opened.tokenCount))
    }

    enum CodingKeys: String, CodingKey {
        case dataset, split, queries, k, cutoff, model, index, nbits, centroids, seed, documents, tokens, parameters, filter, matchingDocuments
        case plaid, exhaustive, run, bytesPerToken, buildSeconds, encodeSeconds, encodeTokensPerSecond
        case queryEncodeSeconds, searchQueriesPerSecond, exhaustiveQueriesPerSecond, top10Share, top10ShareQueries, textModes
    }

    public func encode(to encoder: Encoder) throws {
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
        try c.encode(textModes, forKey: .textModes)
    }

    struct SearchSettings: Encodable {
        var k: Int, ncells: Int, centroidScoreThreshold: Float, ndocs: Int
        init(_ p: SearchParameters) { k = p.k; ncells = p.ncells; centroidScoreThreshold = p.centroidScoreThreshold; ndocs = p.ndocs }
    }

    public func json() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        return String(decoding: try encoder.encode(self), as: UTF8.self)
    }

    public func table() -> String {
        func f(_ v: Double?) -> String { v.map { String(format: "%.4f", $0) } ?? "-" }
        func optional(_ v: Double?, _ format: String) -> String { v.map { String(format: format, $0) } ?? "reused" }
        var header = "\(dataset) (\(split), \(queries) queries)"
        if let documents, let tokens { header += ", \(documents) documents, \(tokens) tokens" }
        if let model { header += "; model \(model.name)" }
        if let nbits, let centroids { header += "; nbits \(nbits), \(centroids) centroids" }
        header += "; k \(k)"
        if let filter, let matchingDocuments { header += "; filter \"\(filter)\" (\(matchingDocuments) documents)" }
        if let parameters {
            header += String(format: " (ncells %d, t_cs %.2f, ndocs %d, probe margin %.2f", parameters.ncells,
                             parameters.centroidScoreThreshold, parameters.ndocs, parameters.probeMargin)
            header += parameters.budgetsFromScores ? ", budgets from the scores)" : ", fixed budgets)"
        }
        let recall = "Recall@\(cutoff)", map = "MAP@\(cutoff)"
        var lines = [header, "", "| search     | nDCG@10 | \(recall) | MRR@10 | \(map) |", "|------------|---------|\(String(repeating: "-", count: recall.count + 2))|--------|\(String(repeating: "-", count: map.count + 2))|"]
        let rows = [("PLAID", plaid), ("exhaustive", exhaustive), ("run", run)] + textModes.map { ($0.mode == "bm25" ? "BM25" : $0.mode, Optional($0.scores)) }
        for (name, s) in rows where s != nil {
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
        for text in textModes {
            lines.append("search (\(text.mode)):" + String(repeating: " ", count: max(1, 14 - text.mode.count)) + (text.queriesPerSecond.map { formatRate($0, "queries") } ?? "-"))
        }
        return lines.joined(separator: "\n")
    }
}
