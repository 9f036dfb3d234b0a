import XCTest
import PlaidCore
import PlaidKernels
@testable import PlaidIndex

/// Stored text, BM25 over it (against a BM25 written out here), the modes and their fusion.
final class TextSearchTests: XCTestCase {
    private var directory = ""
    private let vocabulary = (0..<40).map { "w\($0)" } + ["and", "or", "near"]

    override func setUpWithError() throws { directory = temporaryDirectory() }
    override func tearDown() { try? FileManager.default.removeItem(atPath: directory) }

    private func path(_ name: String) -> String { (directory as NSString).appendingPathComponent(name) }

    /// Seeded texts of 3–30 words of the vocabulary (with upper case and punctuation around
    /// some), a title on every third.
    private func texts(for ids: [String], seed: UInt64) -> BatchTexts {
        var rng = SeededRandom(seed: seed)
        var out: BatchTexts = [:]
        for (i, id) in ids.enumerated() {
            let words = (0..<(3 + Int(rng.next() % 28))).map { _ -> String in
                let word = vocabulary[Int(rng.next() % UInt64(vocabulary.count))]
                return rng.next() % 5 == 0 ? word.uppercased() + "," : word
            }
            // Every other document with tokens, as one encoded on its way in keeps them (made up
            // here: stored text keeps whatever it is given, and the tests compare it whole).
            let tokens = i % 2 == 0 ? nil : (0..<words.count).map { t in
                StoredToken(id: Int(rng.next() % 30_522), span: t % 4 == 3 ? nil : (t * 5)..<(t * 5 + 1 + Int(rng.next() % 9)))
            }
            out[ByteExactID(id)] = DocumentText(title: i % 3 == 0 ? "w\(i % 7) title" : nil, text: words.joined(separator: " "), tokens: tokens)
        }
        return out
    }

    private func buildIndex(_ name: String, batch: DocumentBatch, texts: BatchTexts, storedText: Bool = true) throws -> String {
        var parameters = BuildParameters(nbits: 2, kmeans: KMeansParameters(centroids: 16))
        if storedText { parameters.storedText = try StoredTextSettings() }
        _ = try IndexBuilder.build(from: batch, at: path(name), parameters: parameters, texts: texts)
        return path(name)
    }

    /// BM25 as Lucene scores it (k1 0.9, b 0.4), over lower-cased words, title and text together,
    /// with the statistics of `all` (deleted documents included), for the documents of `live`.
    private func bruteForceBM25(_ question: String, all: BatchTexts, live: Set<String>, k: Int) -> [(id: String, score: Double)] {
        func words(_ s: String) -> [String] { s.lowercased().split { !$0.isLetter && !$0.isNumber }.map(String.init) }
        let documents = Dictionary(uniqueKeysWithValues: all.map { ($0.key.id, words(($0.value.title ?? "") + " " + $0.value.text)) })
        let n = Double(documents.count), average = Double(documents.values.reduce(0) { $0 + $1.count }) / n
        var scores: [String: Double] = [:]
        for term in words(question) {
            let df = Double(documents.values.filter { $0.contains(term) }.count)
            let idf = log(1 + (n - df + 0.5) / (df + 0.5))
            for (id, terms) in documents where live.contains(id) {
                let f = Double(terms.filter { $0 == term }.count)
                guard f > 0 else { continue }
                scores[id, default: 0] += idf * f * 1.9 / (f + 0.9 * (0.6 + 0.4 * Double(terms.count) / average))
            }
        }
        let ranked: [(id: String, score: Double)] = scores.map { (id: $0.key, score: $0.value) }
        return Array(ranked.sorted { a, b in a.score > b.score || (a.score == b.score && a.id < b.id) }.prefix(k))
    }

    private func assertEqualRankings(_ results: [SearchResult], _ expected: [(id: String, score: Double)], _ message: String,
                                     line: UInt = #line) {
        XCTAssertEqual(results.count, expected.count, message, line: line)
        for (r, e) in zip(results, expected) { XCTAssertEqual(Double(r.score), e.score, accuracy: 1e-4, "\(message): \(r.id)", line: line) }
        // Ids compared where scores differ clearly (equal scores may tie in either order).
        for (i, (r, e)) in zip(results, expected).enumerated()
        where (i == 0 || abs(expected[i - 1].score - e.score) > 1e-4) && (i + 1 == expected.count || abs(expected[i + 1].score - e.score) > 1e-4) {
            XCTAssertEqual(r.id, e.id, "\(message): rank \(i + 1)", line: line)
        }
    }

    func testBM25EqualsABruteForceBM25() throws {
        let batch = try batchInDimensions(120, dims: 0..<32, seed: 5)
        let all = texts(for: batch.ids, seed: 6)
        let searcher = try LexicalSearcher(index: try CompressedIndex(path: try buildIndex("bm25", batch: batch, texts: all)))
        for question in ["w1", "w2 w3", "W4, w5! w4", "w0 title", "w39 w38 w37 w36 w35 w34"] {
            assertEqualRankings(try searcher.search(question, k: 15), bruteForceBM25(question, all: all, live: Set(batch.ids), k: 15), question)
        }
    }

    /// The statistics are the index's, not a segment's: two segments, then one after a
    /// compaction, score as one build of the same documents does; deleted documents still count
    /// in the statistics until the compaction, and are never returned.
    func testStatisticsSpanSegmentsAndDeletedDocumentsAreNotReturned() throws {
        let first = try batchInDimensions(60, dims: 0..<32, seed: 7), second = try batchInDimensions(60, dims: 0..<32, seed: 8)
        var all = texts(for: first.ids, seed: 9)
        all.merge(texts(for: second.ids, seed: 10)) { a, _ in a }
        let index = try buildIndex("living", batch: first, texts: all)
        let writer = try IndexWriter(path: index)
        writer.mergePolicy = AdjacentMergePolicy(compactionThreshold: nil, maxSegments: nil)
        try writer.add(second, texts: all)
        try writer.commit()
        let question = "w3 w11 w12 title"
        let whole = Set(first.ids + second.ids)
        var opened = try CompressedIndex(path: index)
        XCTAssertEqual(opened.segments.count, 2)
        assertEqualRankings(try LexicalSearcher(index: opened).search(question, k: 20), bruteForceBM25(question, all: all, live: whole, k: 20), "two segments")

        let deleted = Array(first.ids.prefix(30))
        try writer.delete(ids: deleted)
        try writer.commit()
        opened = try CompressedIndex(path: index)
        let live = whole.subtracting(deleted)
        let afterDelete = try LexicalSearcher(index: opened).search(question, k: 20)
        XCTAssertTrue(afterDelete.allSatisfy { live.contains($0.id) })
        assertEqualRankings(afterDelete, bruteForceBM25(question, all: all, live: live, k: 20), "deleted, not compacted")

        try writer.compact()
        opened = try CompressedIndex(path: index)
        XCTAssertEqual(opened.segments.count, 1)
        let remaining = all.filter { live.contains($0.key.id) }
        assertEqualRankings(try LexicalSearcher(index: opened).search(question, k: 20), bruteForceBM25(question, all: remaining, live: live, k: 20), "compacted")
        for (ordinal, id) in opened.liveDocumentIDs.enumerated().prefix(10) {
            XCTAssertEqual(try opened.storedText(ofDocument: ordinal), all[ByteExactID(id)], "the compaction copies the text of \(id)")
        }
    }

    /// Stored tokens' coding: spans that overlap (byte-level tokens of one character share it),
    /// none, large ids; an empty list is not nil; damaged bytes are refused, not misread.
    func testStoredTokensRoundTrip() {
        let tokens = [StoredToken(id: 101, span: nil), StoredToken(id: 7, span: 0..<4), StoredToken(id: 2_000_000, span: 8..<15),
                      StoredToken(id: 3, span: 8..<15), StoredToken(id: 4, span: 9..<10), StoredToken(id: 0, span: 200..<200), StoredToken(id: 102, span: nil)]
        XCTAssertEqual(StoredToken.decode(StoredToken.encode(tokens)), tokens)
        XCTAssertEqual(StoredToken.decode(StoredToken.encode([])), [])
        XCTAssertNil(StoredToken.decode(Array(StoredToken.encode(tokens).dropLast())), "a token cut short")
        XCTAssertNil(StoredToken.decode([0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]), "a varint past 2^31")
        XCTAssertNil(StoredToken.decode([5, 2, 0]), "a span before the text's start")
    }

    func testStoredTextRoundTrips() throws {
        let batch = try batchInDimensions(10, dims: 0..<32, seed: 11)
        var all = texts(for: batch.ids, seed: 12)
        all[ByteExactID(batch.ids[1])] = DocumentText(title: "Ünïcode — tïtle", text: "  kept as given: émoji 🙂, tabs\tand\nlines  ")
        all[ByteExactID(batch.ids[2])] = nil   // a document without text stores an empty one
        let opened = try CompressedIndex(path: try buildIndex("roundtrip", batch: batch, texts: all))
        XCTAssertTrue(opened.storesText)
        for (ordinal, id) in batch.ids.enumerated() {
            XCTAssertEqual(try opened.storedText(ofDocument: ordinal), all[ByteExactID(id)] ?? DocumentText(text: ""), id)
        }
        XCTAssertEqual(try LexicalSearcher(index: opened).search("émoji", k: 5).map(\.id), [batch.ids[1]])
        XCTAssertEqual(try LexicalSearcher(index: opened).search("EMOJI tïtle", k: 5).first?.id, batch.ids[1], "case and diacritics folded")
    }

    /// Words are words: nothing a user types is FTS5 syntax.
    func testQuestionsAreWordsNeverFTS5Syntax() throws {
        let batch = try batchInDimensions(40, dims: 0..<32, seed: 13)
        let all = texts(for: batch.ids, seed: 14)
        let searcher = try LexicalSearcher(index: try CompressedIndex(path: try buildIndex("syntax", batch: batch, texts: all)))
        for question in ["NEAR(", "*", "AND OR", "\"", "\"w1", "w1 NOT w2", "title:w1", "w1*", "^w1", "(w1", "NEAR(w1 w2, 1)", "{title}: w1", "-w1", "+"] {
            XCTAssertNoThrow(try searcher.search(question, k: 5), question)
        }
        XCTAssertEqual(LexicalSearcher.phrases(of: "NEAR(w1 w2, 1) AND \"x\" *"), ["\"NEAR\"", "\"w1\"", "\"w2\"", "\"1\"", "\"AND\"", "\"x\""])
        let andOr = try searcher.search("AND OR", k: 40)
        XCTAssertFalse(andOr.isEmpty, "AND and OR are searched as the words 'and' and 'or'")
        assertEqualRankings(andOr, bruteForceBM25("and or", all: all, live: Set(batch.ids), k: 40), "AND OR")
        for question in ["", "   ", "?!., ;", "*", "\"\""] {
            XCTAssertEqual(try searcher.search(question, k: 5).count, 0, "'\(question)' has no words")
        }
    }

    func testEmptyQuestionMakesHybridEqualPlaidAndFiltersApplyToBoth() throws {
        let batch = try batchInDimensions(80, dims: 0..<32, seed: 15)
        let all = texts(for: batch.ids, seed: 16)
        let opened = try CompressedIndex(path: try buildIndex("modes", batch: batch, texts: all))
        let query = randomUnitVectors(6, dim: 32, seed: 17)
        let parameters = SearchParameters(k: 10)
        let plaid = try ModeSearch(index: opened, mode: .plaid).search(question: nil, query: query, tokens: 6, parameters: parameters)
        for fusion in [Fusion.reciprocalRank, .relativeScore(alpha: 0.5)] {
            let hybrid = try ModeSearch(index: opened, mode: .hybrid, fusion: fusion).search(question: "?!", query: query, tokens: 6, parameters: parameters)
            XCTAssertEqual(hybrid.map(\.id), plaid.map(\.id), "\(fusion): no words, PLAID's ranking")
        }
        let allowed = DocumentFilter(ordinals: Array(stride(from: 0, to: 80, by: 3)), in: opened)
        for mode in SearchMode.allCases {
            let results = try ModeSearch(index: opened, mode: mode).search(question: "w1 w2 w3", query: query, tokens: 6, parameters: parameters, filter: allowed)
            XCTAssertFalse(results.isEmpty, "\(mode)")
            XCTAssertTrue(results.allSatisfy { allowed.allows($0.document) }, "\(mode) keeps to the filter")
        }
    }

    /// A deeper list from the search for k: its first k are that search's, ids and scores.
    func testResultDepthKeepsTheFirstKOfTheSearchForK() throws {
        let batch = try batchInDimensions(300, dims: 0..<32, seed: 19)
        let opened = try CompressedIndex(path: try buildIndex("depth", batch: batch, texts: [:], storedText: false))
        let queries = randomUnitVectors(8 * 5, dim: 32, seed: 20)
        let narrow = DocumentFilter(ordinals: Array(0..<40), in: opened), wide = DocumentFilter(ordinals: Array(0..<250), in: opened)
        for filter in [nil, narrow, wide] {
            for q in 0..<5 {
                var p = SearchParameters(k: 10)
                p.exactScoringTokens = 1000
                let query = Array(queries[(q * 8 * 32)..<((q + 1) * 8 * 32)])
                let first = Searcher(index: opened).search(query: query, tokens: 8, parameters: p, filter: filter)
                p.resultDepth = 100
                let deep = Searcher(index: opened).search(query: query, tokens: 8, parameters: p, filter: filter)
                XCTAssertGreaterThan(deep.count, first.count, "query \(q)")
                XCTAssertEqual(Array(deep.prefix(10)), first, "query \(q), filter of \(filter?.count ?? -1)")
            }
        }
    }

    /// A result's matches: scores summing, in query order, to the search's score exactly; each the
    /// pair's dot product over the decoded vectors up to the lookup table's rounding, and the best
    /// pair of its query token up to that rounding; at every CPU level.
    func testMatchesSumToTheSearchScore() throws {
        // Documents of 300 tokens too, past the 32-token kernel's chunk of 128.
        let batch = try batchInDimensions(60, dims: 0..<32, seed: 21), long = try batchInDimensions(8, dims: 0..<32, seed: 23, tokens: 300)
        let path = try buildIndex("matches", batch: batch, texts: [:], storedText: false)
        let writer = try IndexWriter(path: path)
        try writer.add(long)
        try writer.commit()
        writer.close()
        let opened = try CompressedIndex(path: path)
        let searcher = Searcher(index: opened)
        defer { plaid_set_kernel_level(0) }
        // Every CPU level this machine runs (the failure names it), at two depths, with 8 query
        // tokens and with 32 (the kernels' own path for 32).
        for level in [Int32(1), 3, 4].filter({ $0 <= plaid_cpu_kernel_level() }) {
        XCTAssertEqual(plaid_set_kernel_level(level), level)
        for (k, nq) in [(5, 8), (68, 8), (5, 32), (68, 32)] {
            var query = randomUnitVectors(nq, dim: 32, seed: 22)
            for j in 0..<32 { query[6 * 32 + j] = 0 }   // a padding row
            let results = searcher.search(query: query, tokens: nq, parameters: SearchParameters(k: k))
            XCTAssertEqual(results.count, k)
            let all = searcher.matches(query: query, tokens: nq, documents: results.map(\.document))
            for (result, matches) in zip(results, all) {
                XCTAssertEqual(matches.map(\.queryToken), Array(0..<6) + Array(7..<nq), "the padding row matches nothing")
                XCTAssertEqual(matches.reduce(Float(0)) { $0 + $1.score }, result.score, "level \(level): the sum is the search's score, bit for bit")
                let vectors = opened.reconstruct(document: result.document)
                let n = vectors.count / 32
                for m in matches {
                    let dots = (0..<n).map { j in (0..<32).reduce(Float(0)) { $0 + query[m.queryToken * 32 + $1] * vectors[j * 32 + $1] } }
                    XCTAssertEqual(m.score, dots[m.documentToken], accuracy: 2e-3, "the pair's decoded score")
                    XCTAssertGreaterThanOrEqual(dots[m.documentToken], dots.max()! - 4e-3, "the best pair, up to the table's rounding")
                }
            }
        }
        }
        XCTAssertEqual(searcher.matches(query: randomUnitVectors(8, dim: 32, seed: 22), tokens: 8, documents: []).count, 0)
    }

    func testAnIndexWithoutTextRefusesTextModesInOneSentence() throws {
        let batch = try batchInDimensions(20, dims: 0..<32, seed: 18)
        let opened = try CompressedIndex(path: try buildIndex("plain", batch: batch, texts: [:], storedText: false))
        XCTAssertFalse(opened.storesText)
        XCTAssertNil(try opened.storedText(ofDocument: 0))
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("plain/seg-000000/\(TextStore.fileName)")), "no text file without --store-text")
        for mode in [SearchMode.bm25, .hybrid] {
            XCTAssertThrowsError(try ModeSearch(index: opened, mode: mode)) { error in
                XCTAssertTrue("\(error)".contains("stores no text"), "\(error)")
                XCTAssertTrue("\(error)".contains("--store-text"), "\(error)")
            }
        }
        XCTAssertNoThrow(try ModeSearch(index: opened, mode: .plaid))
    }

    func testFusionArithmetic() {
        func result(_ d: Int, _ score: Float) -> SearchResult { SearchResult(document: d, id: "d\(d)", score: score) }
        let plaid = [result(1, 30), result(2, 20), result(3, 10)], lexical = [result(3, 9), result(4, 5), result(1, 1)]
        let rrf = Fusion.reciprocalRank.fuse(plaid: plaid, lexical: lexical, k: 4)
        // d1: 1/61 + 1/63; d3: 1/63 + 1/61 (a tie: the better PLAID rank first); d2: 1/62; d4: 1/62.
        XCTAssertEqual(rrf.map(\.document), [1, 3, 2, 4])
        XCTAssertEqual(Double(rrf[0].score), 1.0 / 61 + 1.0 / 63, accuracy: 1e-7)
        let relative = Fusion.relativeScore(alpha: 0.25).fuse(plaid: plaid, lexical: lexical, k: 3)
        // d3: 0.25·0 + 0.75·1; d4: 0.75·0.5; d1: 0.25·1 + 0.75·0; d2: 0.25·0.5.
        XCTAssertEqual(relative.map(\.document), [3, 4, 1])
        XCTAssertEqual(relative.map(\.score), [0.75, 0.375, 0.25])
        XCTAssertEqual(Fusion.reciprocalRank.fuse(plaid: plaid, lexical: [], k: 3).map(\.document), [1, 2, 3])
    }

    /// Probe defect: two ids that differ only in Unicode normalization ("café" precomposed and
    /// decomposed) are two documents, and each keeps its own text.
    func testIDsEqualOnlyAfterNormalizationKeepTheirOwnText() throws {
        let ids = ["caf\u{E9}", "cafe\u{301}"] + (0..<20).map { "d\($0)" }
        let vectors = randomUnitVectors(ids.count * 16, dim: 32, seed: 23)
        let batch = try DocumentBatch(ids: ids, documents: (0..<ids.count).map { Array(vectors[($0 * 16 * 32)..<(($0 + 1) * 16 * 32)]) }, dim: 32)
        var texts = self.texts(for: Array(ids.dropFirst(2)), seed: 24)
        texts[ByteExactID(ids[0])] = DocumentText(text: "apples oranges precomposed")
        texts[ByteExactID(ids[1])] = DocumentText(text: "zebras giraffes decomposed")
        let opened = try CompressedIndex(path: try buildIndex("normalization", batch: batch, texts: texts))
        XCTAssertEqual(try opened.storedText(ofDocument: 0)?.text, "apples oranges precomposed")
        XCTAssertEqual(try opened.storedText(ofDocument: 1)?.text, "zebras giraffes decomposed")
        XCTAssertEqual(try LexicalSearcher(index: opened).search("apples", k: 3).map(\.document), [0])
    }

    /// Probe defect: with PLAID's weight at 0 and no BM25 result, hybrid ranks as PLAID does
    /// (fused ties go to the better PLAID rank), not by document number.
    func testFusedTiesGoToThePlaidRanking() {
        func result(_ d: Int, _ score: Float) -> SearchResult { SearchResult(document: d, id: "d\(d)", score: score) }
        let plaid = [result(9, 30), result(4, 20), result(7, 10)]
        XCTAssertEqual(Fusion.relativeScore(alpha: 0).fuse(plaid: plaid, lexical: [], k: 3).map(\.document), [9, 4, 7])
        XCTAssertEqual(Fusion.relativeScore(alpha: 0).fuse(plaid: plaid, lexical: [result(7, 5)], k: 3).map(\.document), [7, 9, 4])
    }

    /// Probe defect: a NUL in a text given to the library (as the server's adds do) is refused,
    /// naming the document, and nothing is written.
    func testATextWithNULIsRefusedByTheWriter() throws {
        let batch = try batchInDimensions(12, dims: 0..<32, seed: 25)
        let index = try buildIndex("nul", batch: batch, texts: texts(for: batch.ids, seed: 26))
        let more = try batchInDimensions(3, dims: 0..<32, seed: 27)
        let writer = try IndexWriter(path: index)
        XCTAssertThrowsError(try writer.add(more, texts: [ByteExactID(more.ids[1]): DocumentText(text: "abc\u{0}def")])) { error in
            XCTAssertTrue("\(error)".contains("NUL") && "\(error)".contains(more.ids[1]), "\(error)")
        }
        XCTAssertFalse(writer.hasChanges)
        writer.close()
        XCTAssertEqual(try CompressedIndex(path: index).documentCount, 12)
    }

    func testTokenizerSettingsAreChecked() throws {
        XCTAssertEqual(try StoredTextSettings(tokenizer: "  porter   unicode61 ").tokenizer, "porter unicode61")
        for bad in ["unicode61'; DROP TABLE x; --", "", "nosuchtokenizer", "unicode61 remove_diacritics 9"] {
            XCTAssertThrowsError(try StoredTextSettings(tokenizer: bad), bad)
        }
    }

    func testACollectionWithNULIsRefusedNamingTheLine() throws {
        let file = path("nul.jsonl")
        try Data("{\"_id\": \"a\", \"text\": \"fine\"}\n{\"_id\": \"b\", \"title\": \"t\\u0000\", \"text\": \"x\"}\n".utf8).write(to: URL(fileURLWithPath: file))
        XCTAssertThrowsError(try StoredTextReader.fromCollection(path: file)) { error in
            XCTAssertTrue("\(error)".contains("line 2"), "\(error)")
            XCTAssertTrue("\(error)".contains("NUL"), "\(error)")
        }
    }
}

/// The passages `plaid search` prints.
final class SnippetTests: XCTestCase {
    func testThePassageHoldsTheMostQuestionWordsAndMarksThem() {
        let text = "Alpha beta gamma. " + Array(repeating: "filler", count: 30).joined(separator: " ") + " Vitamin D keeps BONES strong; vitamin-d, bones."
        let snippet = Snippet(of: text, for: "vitamin bones?", maximumWords: 8)
        XCTAssertEqual(snippet.text, "Vitamin D keeps BONES strong; vitamin-d, bones")
        XCTAssertEqual(snippet.marks.map { String(snippet.text[$0]) }, ["Vitamin", "BONES", "vitamin", "bones"])
        XCTAssertTrue(snippet.cutBefore)
        XCTAssertFalse(snippet.cutAfter)
        XCTAssertEqual(snippet.rendered(open: "[", close: "]"), "…[Vitamin] D keeps [BONES] strong; [vitamin]-d, [bones]")
    }

    /// Probe defects: a huge word limit overflowed, and the window search was quadratic (a
    /// 600,000-word text took minutes); it is one pass now.
    func testHugeLimitsAndLongTextsAreLinear() {
        let text = Array(repeating: "vitamin bone density filler", count: 150_000).joined(separator: " ")
        let started = Date()
        for width in [40, 1000, Int.max] {
            let snippet = Snippet(of: text, for: "vitamin bone density", maximumWords: width)
            XCTAssertFalse(snippet.marks.isEmpty)
        }
        XCTAssertLessThan(Date().timeIntervalSince(started), 20, "three passes over 600,000 words")
    }

    /// Probe defect: control characters of stored text reached the terminal; `escaping` shows
    /// them, while white space still folds to single spaces and the marks stay as given.
    func testEscapingReachesTheTextNotTheMarks() {
        let snippet = Snippet(of: "red \u{1B}[31malert\u{1B}[0m  and\n\tred", for: "red")
        XCTAssertEqual(snippet.rendered(open: "<", close: ">", escaping: visible), "<red> \\u{001B}[31malert\\u{001B}[0m and <red>")
    }

    func testAccentsAndCaseAreFoldedAndNoMatchGivesTheStart() {
        let snippet = Snippet(of: "Le café   est\nchaud. Très chaud.", for: "CAFE tres", maximumWords: 3)
        XCTAssertEqual(snippet.marks.map { String(snippet.text[$0]) }, ["café"])
        let none = Snippet(of: "one two three four", for: "zebra", maximumWords: 2)
        XCTAssertEqual(none.text, "one two")
        XCTAssertTrue(none.marks.isEmpty && none.cutAfter && !none.cutBefore)
        XCTAssertEqual(Snippet(of: "  ", for: "x").text, "")
        XCTAssertEqual(Snippet(of: "", for: "").rendered(open: "*", close: "*"), "")
        XCTAssertEqual(Snippet(of: "🙂 émoji 🙂", for: "émoji").rendered(open: "*", close: "*"), "*émoji*")
    }
}
