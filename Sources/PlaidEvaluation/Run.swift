import Foundation
import PlaidCore
import PlaidIndex

/// One document of a ranking, with the score that ranks it.
public struct ScoredDocument: Sendable, Equatable {
    public let id: String
    public let score: Double

    public init(id: String, score: Double) {
        self.id = id
        self.score = score
    }
}

/// Retrieval results: for each query id, the retrieved document ids and their scores.
/// Like pytrec_eval's run dict, a document appears at most once per query; order is given by the scores alone.
public struct Run: Sendable, Equatable {
    /// `[queryID: [docID: score]]`, the shape pytrec_eval and BEIR take.
    public var scores: [String: [String: Double]]

    public init(_ scores: [String: [String: Double]] = [:]) {
        self.scores = scores
    }

    /// The run of a batch of searches: `results[q]` ranks the documents of query `queryIDs[q]`.
    public init(results: [[SearchResult]], queryIDs: [String]) {
        precondition(results.count == queryIDs.count, "one ranking per query id")
        self.init()
        for (q, ranked) in results.enumerated() {
            setResults(query: queryIDs[q], ranked.map { ScoredDocument(id: $0.id, score: Double($0.score)) })
        }
    }

    /// Sets the results of `query` from a ranking (later duplicates of an id replace earlier ones).
    public mutating func setResults(query: String, _ documents: [ScoredDocument]) {
        var byID: [String: Double] = [:]
        byID.reserveCapacity(documents.count)
        for d in documents { byID[d.id] = d.score }
        scores[query] = byID
    }

    /// The documents of `query` in trec_eval's order: score descending, ties broken by document id in DEcreasing
    /// byte order (trec_eval's `form_res_rels` sorts with `strcmp(docno2, docno1)` after the score; checked
    /// against pytrec_eval, where among tied docs "c" ranks before "b" before "a").
    public func ranking(query: String) -> [ScoredDocument] {
        guard let docs = scores[query] else { return [] }
        return Run.trecOrder(docs.map { ScoredDocument(id: $0.key, score: $0.value) })
    }

    static func trecOrder(_ docs: [ScoredDocument]) -> [ScoredDocument] {
        docs.sorted { a, b in
            if a.score != b.score { return a.score > b.score }
            return b.id.utf8.lexicographicallyPrecedes(a.id.utf8)
        }
    }

    // MARK: - TREC run files

    /// Reads a TREC run file (optionally `.zst`): `qid Q0 docid rank score tag`, whitespace-separated.
    /// As in trec_eval, the rank column is ignored and the score decides the order.
    /// A document listed twice for one query is an error (trec_eval refuses it too).
    public static func readTREC(path: String) throws -> Run {
        let lines = try LineReader(path: path)
        var scores: [String: [String: Double]] = [:]
        var firstLine: [String: [String: Int]] = [:]
        while let line = try lines.nextLine() {
            let number = lines.lineNumber
            let text: String
            do { text = try decodeUTF8(line, what: "the line") } catch let p as LineProblem {
                throw PlaidError.invalidInput(file: path, detail: "line \(number): \(p.message)")
            }
            let fields = text.split(whereSeparator: { $0 == " " || $0 == "\t" })
            if fields.isEmpty { continue }
            guard fields.count == 6 else {
                throw PlaidError.invalidInput(
                    file: path,
                    detail: "line \(number): expected 6 fields \"qid Q0 docid rank score tag\", found \(fields.count) in \"\(text)\"")
            }
            guard let score = Double(fields[4]), score.isFinite else {
                throw PlaidError.invalidInput(
                    file: path, detail: "line \(number): expected a finite number as the score (field 5), found \"\(fields[4])\"")
            }
            let query = String(fields[0]), doc = String(fields[2])
            if let first = firstLine[query]?[doc] {
                throw PlaidError.invalidInput(
                    file: path,
                    detail: "line \(number): document \"\(doc)\" is listed again for query \"\(query)\" (first on line \(first)); "
                        + "expected each document once per query")
            }
            firstLine[query, default: [:]][doc] = number
            scores[query, default: [:]][doc] = score
        }
        return Run(scores)
    }

    /// Writes the run as a TREC run file, queries in sorted id order, each ranked in trec_eval's order with ranks
    /// from 1, so that the rank column agrees with how trec_eval will read the scores. Scores are written in the
    /// shortest form that reads back to the same Double. The file appears atomically (temporary file, rename).
    public func writeTREC(path: String, tag: String = "plaid") throws {
        try OutputDestination.prepare(path).write(try trecData(tag: tag))
    }

    /// Whether a TREC run file can hold `id` as a column: not empty, no whitespace (Unicode's).
    /// ASCII ids are checked byte by byte: `Character.isWhitespace` looks up Unicode properties,
    /// and `plaid query` checks every id of an index before it searches.
    public static func fitsTREC(_ id: String) -> Bool {
        guard !id.isEmpty else { return false }
        for byte in id.utf8 {
            if byte >= 0x80 { return !id.contains(where: \.isWhitespace) }
            if byte == 0x20 || (0x09...0x0D).contains(byte) { return false }
        }
        return true
    }

    /// Refuses, before a search, what would make its TREC run unwritable: a query id or the tag
    /// that `fitsTREC` refuses, or a document id among `documentIDs` (every document the search
    /// could return, in `source`), whether or not the search would return that document.
    public static func checkTRECColumns(queryIDs: [String], tag: String, documentIDs: [[String]], source: String) throws {
        if let id = ([tag] + queryIDs).first(where: { !fitsTREC($0) }) {
            throw PlaidError.invalidArgument("the query id or tag \"\(id)\" is empty or contains whitespace, which a TREC run file cannot hold")
        }
        var refused = 0, first: String?
        for ids in documentIDs {
            for id in ids where !fitsTREC(id) {
                refused += 1
                if first == nil { first = id }
            }
        }
        if let first {
            throw PlaidError.invalidArgument(
                "document id \"\(first)\" of \(source) (one of \(refused)) is empty or contains whitespace, which a TREC run file cannot hold; search it through plaid serve or the Python package, whose answers are JSON, or give the documents ids without whitespace")
        }
    }

    /// The run as TREC text: `qid Q0 docid rank score tag` per line, whitespace-separated,
    /// queries in byte order and documents in trec_eval's order.
    public func trecData(tag: String = "plaid") throws -> Data {
        for id in [tag] + scores.keys where !Run.fitsTREC(id) {
            throw PlaidError.invalidArgument(
                "the id or tag \"\(id)\" is empty or contains whitespace, which a TREC run file cannot hold")
        }
        var out = ""
        for query in scores.keys.sorted(by: { $0.utf8.lexicographicallyPrecedes($1.utf8) }) {
            for (index, doc) in ranking(query: query).enumerated() {
                if !Run.fitsTREC(doc.id) {
                    throw PlaidError.invalidArgument(
                        "document id \"\(doc.id)\" of query \"\(query)\" is empty or contains whitespace, which a TREC run file cannot hold")
                }
                out += "\(query) Q0 \(doc.id) \(index + 1) \(doc.score) \(tag)\n"
            }
        }
        return Data(out.utf8)
    }
}

extension Run {
    /// The queries with at least one retrieved document.
    public var rankedQueries: [String] { scores.compactMap { $0.value.isEmpty ? nil : $0.key } }

    /// The share of `reference`'s top `depth` documents that this run also ranks in its top
    /// `depth`, averaged over the reference's queries (a query this run lacks counts 0). With the
    /// exhaustive MaxSim run as reference, this is how much of the exact top-10 a search keeps.
    /// Both top lists follow trec_eval's order. nil when the reference has no query.
    public func topShare(of reference: Run, depth: Int = 10) -> Double? {
        precondition(depth > 0)
        let queries = reference.rankedQueries
        guard !queries.isEmpty else { return nil }
        var total = 0.0
        for query in queries {
            let wanted = reference.ranking(query: query).prefix(depth).map(\.id)
            let kept = Set(ranking(query: query).prefix(depth).map(\.id))
            total += Double(wanted.filter(kept.contains).count) / Double(wanted.count)
        }
        return total / Double(queries.count)
    }
}
