import ArgumentParser
import Foundation
import PlaidCore
import PlaidEncoder
import PlaidIndex

/// `plaid search "question"`: a search a person reads.
struct Search: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Ask an index a question and read the answers: rank, id, score, title and a passage.",
        discussion: """
        Encodes the question with --model (query mode) and searches, hybrid on an index built with \
        --store-text and PLAID otherwise (--mode chooses). Each result is printed with its stored title \
        and the passage of its text holding the most of the question's words, marked (bold on a terminal). \
        - as the question reads questions from standard input, one a line. --json prints, per question, \
        the results with their title, text passage and marks' character offsets, for scripts. --matches \
        adds, per result, each query token's best document token and the score of that match, which sum \
        to the document's MaxSim.
        """)

    @Argument(help: "The question, or - to read questions from standard input, one a line.")
    var question: String

    @OptionGroup var index: IndexOptions

    @Option(help: "Results per question.")
    var k = 10

    @Option(help: "plaid, bm25 or hybrid (default: hybrid on an index that stores text, plaid otherwise).")
    var mode: SearchMode?

    @Option(help: "Most words in a passage.")
    var passageWords = Snippet.defaultWords

    @Flag(help: "Print JSON instead of text.")
    var json = false

    @Flag(help: "Show which document token each query token matched, and the score of each match.")
    var matches = false

    @OptionGroup var encoder: ModelOptions
    @OptionGroup var filter: FilterOptions
    @OptionGroup var reporting: ReportingOptions

    func validate() throws {
        try filter.validate()
        guard (1...SearchParameters.maximumK).contains(k) else { throw ValidationError("--k must be between 1 and \(SearchParameters.maximumK), not \(k).") }
        guard passageWords >= 1 else { throw ValidationError("--passage-words must be at least 1, not \(passageWords).") }
    }

    func run() throws {
        reporting.apply()
        try runReportingErrors {
            let opened = try CompressedIndex(path: index.index)
            let search = try ModeSearch(index: opened, mode: mode ?? (opened.storesText ? .hybrid : .plaid))
            let questions = try readQuestions()
            var queries: QueryEmbeddings?
            var model: ColBERTEncoder?
            if search.needsEmbeddings || matches {
                let loaded = try encoder.loadEncoder()
                try checkModel(queries: loaded.identity, index: opened.codebook.model, strict: false)
                queries = try loaded.encodeQueryEmbeddings(ids: questions.indices.map(String.init), texts: questions, batchSize: encoder.batchSize)
                try checkDimensions(query: queries!.dim, other: opened.dim, what: "the index")
                model = loaded
            }
            let allowed = try filter.documents(of: opened)
            let parameters = SearchParameters(k: k)
            var answers: [Answer] = []
            for (q, question) in questions.enumerated() {
                let query = queries.map { Array($0.values[(q * $0.tokensPerQuery * $0.dim)..<((q + 1) * $0.tokensPerQuery * $0.dim)]) }
                let tokens = queries?.tokensPerQuery ?? 0
                let results = try search.search(question: question, query: query, tokens: tokens, parameters: parameters, filter: allowed)
                let matched = try query.flatMap { query in
                    matches ? try MatchedTokens.of(documents: results.map(\.document), in: opened, query: query, tokens: tokens, question: question, encoder: model) : nil
                }
                answers.append(Answer(question: question, hits: try results.enumerated().map { r, result in
                    let stored = try opened.storedText(ofDocument: result.document)
                    return Hit(result: result, title: stored?.title, passage: stored.map { Snippet(of: $0.text, for: question, maximumWords: passageWords) },
                               matches: matched?[r])
                }))
            }
            FileHandle.standardOutput.write(Data((json ? try jsonText(answers) : plainText(answers)).utf8))
        }
    }

    struct Hit { var result: SearchResult; var title: String?; var passage: Snippet?; var matches: [MatchedTokens]? = nil }
    struct Answer { var question: String; var hits: [Hit] }

    private func readQuestions() throws -> [String] {
        guard question == "-" else {
            guard !question.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
                throw PlaidError.invalidArgument("the question is empty; ask something, or give - to read questions from standard input")
            }
            return [question]
        }
        let lines = String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
            .split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        guard !lines.isEmpty else { throw PlaidError.invalidArgument("standard input holds no question; give one a line") }
        return lines
    }

    /// Ranked lines a person reads; the marks bold on a terminal, plain elsewhere. Control
    /// characters of the stored text are shown escaped (`visible`), never sent to the terminal.
    private func plainText(_ answers: [Answer]) -> String {
        let bold = isatty(STDOUT_FILENO) != 0
        var out = ""
        for answer in answers {
            if answers.count > 1 { out += "# \(answer.question)\n" }
            if answer.hits.isEmpty { out += "(no results)\n" }
            for (rank, hit) in answer.hits.enumerated() {
                out += String(format: "%2d. %@  %.4f", rank + 1, hit.result.id, hit.result.score)
                if let title = hit.title, !title.isEmpty { out += "  " + visible(title.split(whereSeparator: \.isNewline).joined(separator: " ")) }
                out += "\n"
                if let passage = hit.passage, !passage.text.isEmpty {
                    out += "    " + passage.rendered(open: bold ? "\u{1B}[1m" : "", close: bold ? "\u{1B}[0m" : "", escaping: visible) + "\n"
                }
                if let matches = hit.matches { out += "    matched: " + Search.summary(of: matches) + "\n" }
            }
            if answers.count > 1 { out += "\n" }
        }
        return out
    }

    /// The matches a reader looks at first: the eight best-scoring of query tokens that are words
    /// (not the tokenizer's markers such as [CLS], [Q] or [MASK]), as `query→document (score)`.
    static func summary(of matches: [MatchedTokens]) -> String {
        func isMarker(_ token: String?) -> Bool {
            token.map { $0.trimmingCharacters(in: .whitespaces) }.map { $0.hasPrefix("[") && $0.hasSuffix("]") } ?? false
        }
        return matches.filter { !isMarker($0.queryText) }.sorted { $0.match.score > $1.match.score }.prefix(8).map { m in
            let query = m.queryText ?? "#\(m.match.queryToken)", document = m.documentText ?? "#\(m.match.documentToken)"
            return String(format: "%@→%@ (%.2f)", query, document, m.match.score)
        }.joined(separator: ", ")
    }

    /// `matches` in their one JSON form (`MatchedTokens: Encodable`), as JSONSerialization objects.
    private func jsonObject(_ matches: [MatchedTokens]) throws -> Any {
        try JSONSerialization.jsonObject(with: JSONEncoder().encode(matches))
    }

    private func jsonText(_ answers: [Answer]) throws -> String {
        let objects: [[String: Any]] = try answers.map { answer in
            ["question": answer.question, "results": try answer.hits.map { hit -> [String: Any] in
                var object: [String: Any] = ["id": hit.result.id, "score": Double(hit.result.score)]
                if let title = hit.title { object["title"] = title }
                if let matches = hit.matches {
                    object["matches"] = try jsonObject(matches)
                    object["maxsim"] = Double(MatchedTokens.maxSim(of: matches))
                }
                if let passage = hit.passage {
                    object["passage"] = passage.text
                    // Where the marks are in the passage, in Unicode scalars (Python's string indices).
                    object["marks"] = passage.marks.map { mark -> [Int] in
                        let start = passage.text.unicodeScalars.distance(from: passage.text.startIndex, to: mark.lowerBound)
                        return [start, start + passage.text.unicodeScalars.distance(from: mark.lowerBound, to: mark.upperBound)]
                    }
                }
                return object
            }]
        }
        let data = try JSONSerialization.data(withJSONObject: objects, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        return String(decoding: data, as: UTF8.self) + "\n"
    }
}
