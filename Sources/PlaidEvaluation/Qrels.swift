import Foundation
import PlaidCore

/// Relevance judgments: for each query id, the judged document ids and their graded relevance.
/// A level ≤ 0 means judged non-relevant (as in trec_eval with its default `relevance_level` 1).
public struct Qrels: Sendable, Equatable {
    /// `[queryID: [docID: relevance]]`, the shape pytrec_eval takes.
    public var judgments: [String: [String: Int]]

    public init(_ judgments: [String: [String: Int]] = [:]) {
        self.judgments = judgments
    }

    /// The judged query ids, sorted.
    public var queryIDs: [String] { judgments.keys.sorted() }

    /// How many documents are judged relevant (level > 0) for `query`.
    public func relevantCount(query: String) -> Int {
        judgments[query]?.values.reduce(0) { $0 + ($1 > 0 ? 1 : 0) } ?? 0
    }

    /// Reads a qrels file (optionally `.zst`). Each line is either BEIR's `query-id<TAB>corpus-id<TAB>score`
    /// or TREC's `qid iteration docid relevance` (whitespace-separated, the iteration ignored); CRLF endings and
    /// blank lines are accepted. The first line is a header, and skipped, when its last field is not an integer
    /// (BEIR's `query-id corpus-id score`); BEIR's loader skips its first line unconditionally, which would drop a
    /// judgment from a file without a header. A pair judged twice keeps the later level, as BEIR's dict does.
    public static func load(path: String) throws -> Qrels {
        let lines = try LineReader(path: path)
        var judgments: [String: [String: Int]] = [:]
        while let line = try lines.nextLine() {
            let number = lines.lineNumber
            let text: String
            do { text = try decodeUTF8(line, what: "the line") } catch let p as LineProblem {
                throw PlaidError.invalidInput(file: path, detail: "line \(number): \(p.message)")
            }
            if text.allSatisfy({ $0 == " " || $0 == "\t" }) { continue }
            var fields = text.split(separator: "\t", omittingEmptySubsequences: false)
            if fields.count != 3 {
                fields = text.split(whereSeparator: { $0 == " " || $0 == "\t" })
            }
            guard fields.count == 3 || fields.count == 4 else {
                throw PlaidError.invalidInput(
                    file: path,
                    detail: "line \(number): expected query-id<TAB>corpus-id<TAB>score (BEIR) or "
                        + "\"qid iteration docid relevance\" (TREC), found \(fields.count) fields in \"\(text)\"")
            }
            let query = String(fields[0]).trimmingCharacters(in: .whitespaces)
            let doc = String(fields[fields.count - 2]).trimmingCharacters(in: .whitespaces)
            let levelText = fields[fields.count - 1].trimmingCharacters(in: .whitespaces)
            guard let level = Int(levelText) else {
                if number == 1 { continue }
                throw PlaidError.invalidInput(
                    file: path, detail: "line \(number): expected an integer relevance level, found \"\(levelText)\"")
            }
            guard !query.isEmpty, !doc.isEmpty else {
                throw PlaidError.invalidInput(
                    file: path, detail: "line \(number): expected a query id and a document id, found an empty one")
            }
            judgments[query, default: [:]][doc] = level
        }
        guard !judgments.isEmpty else {
            throw PlaidError.invalidInput(file: path, detail: "holds no judgments; expected lines of a query id, a document id and a relevance level (BEIR's TSV or TREC's qrels)")
        }
        return Qrels(judgments)
    }
}
