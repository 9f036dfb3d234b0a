import XCTest
import PlaidCore
@testable import PlaidIndex

/// Document metadata and filtered search.
final class MetadataTests: XCTestCase {
    private var directory = ""
    private var corpus: SyntheticCorpus!
    private var pool: DocumentEmbeddings!

    override func setUpWithError() throws {
        directory = temporaryDirectory()
        (corpus, pool) = try smallCorpus(documents: 600, tokens: 20...40, dim: 32, seed: 8, in: directory)
    }
    override func tearDown() { try? FileManager.default.removeItem(atPath: directory) }

    private func path(_ name: String) -> String { (directory as NSString).appendingPathComponent(name) }

    /// Seeded fields of every kind for document d.
    private func fields(_ d: Int) -> [String: MetadataValue] {
        var rng = SeededRandom(seed: UInt64(d) &* 7919 &+ 1)
        let sources = ["pubmed", "pmc", "arxiv", "web"]
        var values: [String: MetadataValue] = [
            "year": .integer(Int64(1990 + Int(rng.next() % 35))),
            "source": .string(sources[Int(rng.next() % 4)]),
            "score": .float(Double(rng.next() % 1000) / 100),
            "reviewed": .boolean(rng.next() % 2 == 0),
            "topics": .json("[\"t\(rng.next() % 5)\",\"t\(rng.next() % 5)\"]"),
        ]
        if d % 7 == 0 { values["year"] = .null }
        return values
    }

    private func buildIndex(_ name: String, documents: Int = 600) throws -> String {
        let range = DocumentRange(pool, documents: 0..<documents)
        let metadata = Dictionary(uniqueKeysWithValues: (0..<documents).map { (pool.ids[$0], fields($0)) })
        _ = try IndexBuilder.build(from: range, at: path(name), parameters: BuildParameters(nbits: 2, kmeans: KMeansParameters(centroids: 64)),
                                   metadata: metadata)
        return path(name)
    }

    func testEveryValueTypeRoundTrips() throws {
        let values: [String: MetadataValue] = [
            "title": .string("Ünïcode — \"quoted\""), "count": .integer(-42), "big": .integer(Int64.max),
            "ratio": .float(0.125), "ok": .boolean(true), "nope": .boolean(false),
            "nested": .json(#"{"a":[1,2,{"b":null}],"c":"d"}"#), "list": .json(#"[1,"two",3.5]"#),
        ]
        let batch = DocumentRange(pool, documents: 0..<3)
        _ = try IndexBuilder.build(from: batch, at: path("types"), parameters: BuildParameters(kmeans: KMeansParameters(centroids: 8)),
                                   metadata: [pool.ids[0]: values, pool.ids[1]: ["title": .null]])
        let index = try CompressedIndex(path: path("types"))
        let stored = try index.metadata(of: [0, 1, 2])
        XCTAssertEqual(stored[0], values)
        XCTAssertEqual(stored[1], [:], "a null is stored as no value")
        XCTAssertEqual(stored[2], [:])
        XCTAssertEqual(Dictionary(uniqueKeysWithValues: index.metadataFields.map { ($0.name, $0.type) }),
                       ["title": .string, "count": .integer, "big": .integer, "ratio": .float, "ok": .boolean, "nope": .boolean,
                        "nested": .json, "list": .json])
        // JSON values are queryable with SQLite's JSON functions.
        XCTAssertEqual(try index.documents(matching: MetadataFilter("json_extract(nested, '$.c') = 'd' AND json_array_length(list) = 3")).ordinals, [0])
        // Integers and floats widen to float; any other change names both documents.
        XCTAssertEqual(try MetadataSchema.merge([], with: ["a": ["n": .integer(1)], "b": ["n": .float(1.5)]], order: ["a", "b"], source: "s").first?.type, .float)
        XCTAssertThrowsError(try MetadataSchema.merge([], with: ["a": ["n": .integer(1)], "b": ["n": .string("x")]], order: ["a", "b"], source: "s")) {
            XCTAssertTrue("\($0)".contains("'n' is integer in document 'a' but string in document 'b'"), "\($0)")
        }
    }

    /// Filters against the same predicates evaluated in Swift over the same values.
    func testFiltersMatchABruteForceEvaluation() throws {
        let index = try CompressedIndex(path: try buildIndex("filters"))
        func year(_ d: Int) -> Int64? { if case .integer(let y)? = fields(d)["year"] { return y }; return nil }
        func string(_ d: Int, _ k: String) -> String { if case .string(let s)? = fields(d)[k] { return s }; return "" }
        func float(_ d: Int) -> Double { if case .float(let f)? = fields(d)["score"] { return f }; return .nan }
        func bool(_ d: Int) -> Bool { if case .boolean(let b)? = fields(d)["reviewed"] { return b }; return false }
        let cases: [(MetadataFilter, (Int) -> Bool)] = [
            (MetadataFilter("year >= 2020 AND source IN ('pubmed','pmc')"), { (year($0) ?? 0) >= 2020 && ["pubmed", "pmc"].contains(string($0, "source")) }),
            (MetadataFilter("year IS NULL"), { year($0) == nil }),
            (MetadataFilter("score < ? AND reviewed", parameters: ["2.5"]), { float($0) < 2.5 && bool($0) }),
            (MetadataFilter("source LIKE 'p%' OR id = 'doc7'"), { string($0, "source").hasPrefix("p") || $0 == 7 }),
            (MetadataFilter("year BETWEEN ? AND ?", parameters: ["2000", "2004"]), { (2000...2004).contains(year($0) ?? 0) }),
            (MetadataFilter("NOT reviewed"), { !bool($0) }),
        ]
        for (filter, predicate) in cases {
            let expected = (0..<600).filter(predicate)
            XCTAssertFalse(expected.isEmpty, filter.expression)
            let matched = try index.documents(matching: filter)
            XCTAssertEqual(matched.ordinals, expected, filter.expression)
            XCTAssertEqual(matched.tokens, expected.reduce(0) { $0 + pool.lengths[$1] })
        }
    }

    func testFiltersCanOnlyRead() throws {
        let indexPath = try buildIndex("readonly", documents: 50)
        let index = try CompressedIndex(path: indexPath)
        let database = indexPath + "/seg-000000/metadata.sqlite"
        let before = try Data(contentsOf: URL(fileURLWithPath: database))
        let refused: [(String, String)] = [
            ("1; DROP TABLE metadata", "syntax error"),
            ("1); DROP TABLE metadata; --", "closes a parenthesis it did not open"),
            ("(SELECT count(*) FROM sqlite_master) > 0", "contains a subquery or a second SELECT"),
            ("(SELECT count(*) FROM pragma_table_info('metadata')) > 0", "may only read the metadata fields"),
            ("year > 1; ATTACH DATABASE '/tmp/x.db' AS x", "syntax error"),
            ("load_extension('/tmp/evil') IS NULL", "could not be evaluated"),
            ("nosuchfield = 1", "unknown field 'nosuchfield'"),
            ("year >>> 1", "at character 8"),
            ("year = ?", "1 ? placeholder but 0 parameter values were given"),
        ]
        for (expression, message) in refused {
            XCTAssertThrowsError(try index.documents(matching: MetadataFilter(expression)), expression) { error in
                XCTAssertTrue("\(error)".contains(message), "\(expression): \(error)")
            }
        }
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: database)), before)
        XCTAssertEqual(try index.documents(matching: MetadataFilter("1")).count, 50)
    }

    /// Filtered search returns only matches, and keeps at least the share of the exact top-10 that
    /// the unfiltered search keeps, whether few or many documents match.
    func testFilteredSearchReturnsOnlyMatchesAndKeepsItsRecall() throws {
        let index = try CompressedIndex(path: try buildIndex("recall"))
        let searcher = Searcher(index: index)
        let queries = corpus.queries(count: 40, tokens: 16)
        let exhaustive = ExhaustiveSearcher(documents: pool)
        func kept(_ results: [[SearchResult]], _ exact: [[SearchResult]]) -> Double {
            var found = 0, total = 0
            for (r, e) in zip(results, exact) { found += Set(r.map(\.id)).intersection(e.map(\.id)).count; total += e.count }
            return Double(found) / Double(max(1, total))
        }
        // Against the unfiltered search with PLAID's fixed budgets, whose candidate count the
        // filtered probing is scaled to match; the budgets from the scores score every candidate
        // of this small index when unfiltered, which a filtered search's candidates cannot equal.
        var fixed = SearchParameters(k: 10)
        fixed.budgetsFromScores = false
        let unfiltered = kept(searcher.search(queries: queries, parameters: fixed), try exhaustive.search(queries: queries, k: 10))
        // About 1%, 10% and 50% of the documents (a seeded random draw by id), and one field.
        for (expression, exact) in [("id IN ('doc3','doc77','doc150','doc444','doc599','doc12')", true),
                                    ("source = 'arxiv' AND reviewed", false), ("source IN ('pubmed','pmc')", false)] {
            let filter = try index.documents(matching: MetadataFilter(expression))
            let allowed = Set(filter.ordinals)
            for parameters in [SearchParameters(k: 10), { var p = SearchParameters(k: 10); p.exactScoringTokens = 0; return p }()] {
                let results = searcher.search(queries: queries, parameters: parameters, filter: filter)
                XCTAssertTrue(results.joined().allSatisfy { allowed.contains($0.document) }, "\(expression): a result outside the filter")
                let reference = try exhaustive.search(queries: queries, k: 10, include: { allowed.contains($0) })
                let share = kept(results, reference)
                print("filter \(expression) (\(filter.count) documents, exact scoring \(parameters.exactScoringTokens > 0 && exact)): kept \(share) of the exact top-10; unfiltered \(unfiltered)")
                XCTAssertGreaterThanOrEqual(share, unfiltered - 0.005, expression)
                XCTAssertEqual(results.map(\.count), reference.map(\.count), "as many results as matches allow")
            }
        }
    }

    /// Metadata follows its document through add, upsert, delete and compaction, in the same commit.
    func testMetadataFollowsDocumentsThroughCommits() throws {
        let indexPath = try buildIndex("lifecycle", documents: 100)
        let writer = try IndexWriter(path: indexPath)
        let added = DocumentRange(pool, documents: 100..<120)
        try writer.add(added, metadata: Dictionary(uniqueKeysWithValues: (100..<120).map { (pool.ids[$0], ["lang": .string("fr")]) }))
        // An upsert replaces the document's metadata with the new batch's.
        try writer.add(try batchOf([5], ids: [pool.ids[5]]), metadata: [pool.ids[5]: ["lang": .string("de")]], upsert: true)
        try writer.delete(ids: [pool.ids[6]])
        try writer.commit()
        let before = try CompressedIndex(path: indexPath)
        XCTAssertEqual(before.metadataFields.map(\.name), ["reviewed", "score", "source", "topics", "year", "lang"])
        let french = try before.documents(matching: MetadataFilter("lang = 'fr'")).ordinals.map(before.documentID)
        XCTAssertEqual(french, (100..<120).map { pool.ids[$0] })
        XCTAssertEqual(try before.documents(matching: MetadataFilter("lang = 'de'")).ordinals.map(before.documentID), [pool.ids[5]])
        XCTAssertEqual(try before.documents(matching: MetadataFilter("id = ?", parameters: [pool.ids[6]])).count, 0, "a deleted document matched")
        try writer.compact()
        writer.close()
        let after = try CompressedIndex(path: indexPath)
        XCTAssertEqual(after.segments.count, 1)
        for expression in ["lang = 'fr'", "lang = 'de'", "year >= 2010", "source = 'pmc' AND reviewed", "year IS NULL"] {
            XCTAssertEqual(try after.documents(matching: MetadataFilter(expression)).ordinals.map(after.documentID),
                           try before.documents(matching: MetadataFilter(expression)).ordinals.map(before.documentID), expression)
        }
        let ordinal = try XCTUnwrap(after.liveDocumentIDs.firstIndex(of: pool.ids[9]))
        XCTAssertEqual(try after.metadata(of: [ordinal])[ordinal], fields(9).filter { $0.value != .null })
        // A type clash with the index's fields is refused, naming both documents, and nothing is written.
        let clash = try IndexWriter(path: indexPath)
        XCTAssertThrowsError(try clash.add(try batchOf([130], ids: ["late"]), metadata: ["late": ["year": .string("recent")]])) {
            // Document 0 has no year (null); document 1 gave the field its type.
            XCTAssertTrue("\($0)".contains("'year' is integer in document '\(pool.ids[1])' but string in document 'late'"), "\($0)")
        }
        XCTAssertFalse(clash.hasChanges)
        clash.close()
    }

    /// The filter is one expression inside plaid's WHERE clause: closing that clause's parenthesis,
    /// a second SELECT and a subquery are refused with one sentence, never a crash or extra rows.
    func testFilterIsOneExpression() throws {
        let index = try CompressedIndex(path: try buildIndex("escape", documents: 50))
        let refused: [(String, String)] = [
            ("0) UNION ALL SELECT -1 WHERE (1", "closes a parenthesis it did not open (at character 2"),
            ("0) UNION ALL SELECT 5 WHERE (1", "closes a parenthesis it did not open"),
            ("1) LIMIT (2", "closes a parenthesis it did not open"),
            ("1) GROUP BY (id", "closes a parenthesis it did not open"),
            ("(SELECT 5) = 5", "contains a subquery or a second SELECT"),
            ("plaid_rowid IN (SELECT -1 UNION ALL SELECT 5)", "SQLite's row number"),
            ("id IN (SELECT -1 UNION ALL SELECT 5)", "contains a subquery or a second SELECT"),
            ("EXISTS (SELECT 1 FROM metadata WHERE year > 2000)", "contains a subquery or a second SELECT"),
            ("(SELECT count(*) FROM sqlite_master) > 0", "contains a subquery or a second SELECT"),
            ("year = $year", "only ? placeholders"),
            ("year > 2000 AND (source = 'pmc'", "opens a parenthesis it does not close"),
            ("year > 2000\u{0}) UNION ALL SELECT -1 --", "NUL character"),
            // Found by a probe: these said 'near ")": syntax error', a parenthesis plaid adds.
            ("", "the filter is empty"),
            ("   \n", "the filter is empty"),
            ("-- a comment only", "the filter is empty"),
            ("year >", "the filter ends before its expression is complete"),
            ("year > 2000 AND", "the filter ends before its expression is complete"),
        ]
        for (expression, message) in refused {
            XCTAssertThrowsError(try index.documents(matching: MetadataFilter(expression)), expression) { error in
                XCTAssertTrue("\(error)".contains(message), "\(expression): \(error)")
                XCTAssertEqual("\(error)".split(separator: "\n").count, 1, "\(error)")
            }
        }
        // Parentheses inside strings, quoted names and comments are not the clause's.
        let expected = try index.documents(matching: MetadataFilter("year > 2000 AND source <> 'x'")).ordinals
        XCTAssertFalse(expected.isEmpty)
        for expression in ["(year > 2000) AND (source <> ')')", "\"year\" > 2000 AND [source] <> 'x' -- )", "year > 2000 /* ) */ AND source <> 'x'",
                           "(((year > 2000))) AND source NOT IN (')', '(')", "`year` > 2000 AND source <> ''')'"] {
            XCTAssertEqual(try index.documents(matching: MetadataFilter(expression)).ordinals, expected, expression)
        }
    }

    /// SQLite's names for the row number are no field: a filter that reads one is refused (it
    /// read NULL before), and an unknown field's error lists the index's fields, not one segment's.
    func testRowNumbersAreNoFieldAndUnknownFieldsListTheIndexFields() throws {
        let indexPath = try buildIndex("rownumbers", documents: 50)
        let writer = try IndexWriter(path: indexPath)
        try writer.add(try batchOf([60], ids: ["late"]), metadata: ["late": ["lang": .string("fr")]])
        try writer.commit()
        writer.close()
        let index = try CompressedIndex(path: indexPath)
        XCTAssertEqual(index.segments.count, 2)
        for expression in ["rowid = 1", "oid > 0", "_rowid_ IS NULL", "plaid_rowid = 3", "\"ROWID\" = 1", "[rowid] = 1", "`oid` = 1", "year > 2000 OR RowId = 2"] {
            XCTAssertThrowsError(try index.documents(matching: MetadataFilter(expression)), expression) { error in
                XCTAssertTrue("\(error)".contains("row number"), "\(expression): \(error)")
            }
        }
        XCTAssertEqual(try index.documents(matching: MetadataFilter("'rowid' <> id AND id <> 'oid' -- rowid")).count, 51)
        XCTAssertThrowsError(try index.documents(matching: MetadataFilter("nosuchfield = 1"))) { error in
            XCTAssertTrue("\(error)".contains("lang"), "\(error)")
            XCTAssertTrue("\(error)".contains("year"), "\(error)")
        }
        // Found by a probe: one field name of 10,000 characters made every such error longer.
        let longWriter = try IndexWriter(path: indexPath)
        let long = String(repeating: "x", count: 10_000)
        try longWriter.add(try batchOf([61], ids: ["long-named"]), metadata: ["long-named": [long: .integer(1)]])
        try longWriter.commit()
        longWriter.close()
        XCTAssertThrowsError(try CompressedIndex(path: indexPath).documents(matching: MetadataFilter("nosuchfield = 1"))) { error in
            XCTAssertTrue("\(error)".contains(String(repeating: "x", count: 40) + "…"), "\(error)".prefix(200) + "")
            XCTAssertLessThan("\(error)".count, 1_000)
        }
    }

    /// A row number the metadata database gives back is checked against the segment: a damaged
    /// table is an error, not a trap.
    func testRowNumbersOutsideTheSegmentAreAnError() throws {
        for (name, rowid) in [("past", 50), ("negative", -1)] {
            let indexPath = try buildIndex(name, documents: 50)
            let database = try SQLiteConnection(path: indexPath + "/seg-000000/metadata.sqlite", readOnly: false)
            try database.execute("INSERT INTO metadata (rowid, id) VALUES (\(rowid), 'ghost')")
            let index = try CompressedIndex(path: indexPath, verifyChecksums: false)
            XCTAssertThrowsError(try index.documents(matching: MetadataFilter("id = 'ghost'")), name) { error in
                XCTAssertTrue("\(error)".contains("document number \(rowid)"), "\(error)")
            }
        }
    }

    /// A filter stops at its time limit, and values past the length limit are refused, so that a
    /// filter cannot hold a worker.
    func testFiltersRunWithinBounds() throws {
        let index = try CompressedIndex(path: try buildIndex("bounded", documents: 50))
        // The id makes the work per row: SQLite evaluates a constant expression once.
        var slow = MetadataFilter("length(upper(lower(upper(hex(zeroblob(500000 + length(id))))))) > 0")
        slow.timeLimit = 0.01
        let started = Date()
        XCTAssertThrowsError(try index.documents(matching: slow)) { error in
            XCTAssertTrue("\(error)".contains("ran past its time limit of 0.01 seconds"), "\(error)")
        }
        XCTAssertLessThan(Date().timeIntervalSince(started), 1)
        XCTAssertEqual(MetadataFilter("1").timeLimit, MetadataFilter.defaultTimeLimit)
        let refused: [(String, String)] = [
            ("length(randomblob(900000000)) > 0", "string or blob too big"),
            ("length(hex(zeroblob(600000))) > 0", "string or blob too big"),
            ("(SELECT count(*) FROM metadata a, metadata b, metadata c, metadata d) > 0", "contains a subquery or a second SELECT"),
            (Array(repeating: "year = 0", count: 600).joined(separator: " OR "), "Expression tree is too large (maximum depth 500)"),
            ("id IN (" + (0..<20_000).map { "'doc\($0)'" }.joined(separator: ",") + ")", "at most 65536 bytes"),
        ]
        for (expression, message) in refused {
            let started = Date()
            XCTAssertThrowsError(try index.documents(matching: MetadataFilter(expression)), String(expression.prefix(80))) { error in
                XCTAssertTrue("\(error)".contains(message), "\(expression.prefix(80)): \(error)")
            }
            XCTAssertLessThan(Date().timeIntervalSince(started), 2, String(expression.prefix(80)))
        }
        XCTAssertThrowsError(try index.documents(matching: MetadataFilter("source LIKE ?", parameters: [String(repeating: "%a", count: 1000)]))) { error in
            XCTAssertTrue("\(error)".contains("LIKE or GLOB pattern too complex"), "\(error)")
        }
        // A character class is compared with every character of the string, in one call.
        XCTAssertThrowsError(try index.documents(matching: MetadataFilter("source GLOB ?", parameters: ["*[" + String(repeating: "a", count: 200) + "]*"]))) { error in
            XCTAssertTrue("\(error)".contains("LIKE or GLOB pattern too complex"), "\(error)")
        }
    }

    /// One call of instr, replace or a two-argument trim on long strings finishes well within the
    /// time limit: SQLite cannot stop a function call midway, and its built-ins compare the
    /// pattern at every position, so one such call could hold a worker for minutes.
    func testStringFunctionsOnLongStringsFinishInTime() throws {
        let index = try CompressedIndex(path: try buildIndex("linear", documents: 50))
        let zeros = "hex(zeroblob(250000))", needle = "(hex(zeroblob(125000)) || '1')"
        for expression in ["instr(\(zeros), \(needle)) = 0",
                           "length(replace(\(zeros), \(needle), 'x')) = 500000",
                           "length(trim(\(zeros), replace(hex(zeroblob(100000)), '0', 'b') || '0')) = 0"] {
            let started = Date()
            XCTAssertEqual(try index.documents(matching: MetadataFilter(expression)).count, 50, expression)
            XCTAssertLessThan(Date().timeIntervalSince(started), 1, expression)
        }
    }

    /// The linear instr, replace and two-argument trims give the built-ins' results.
    func testFilterFunctionsGiveTheBuiltInsResults() throws {
        let builtIn = try SQLiteConnection(path: ":memory:", readOnly: false)
        let linear = try SQLiteConnection(path: ":memory:", readOnly: false)
        FilterFunctions.register(on: linear.handle)
        func result(_ call: String, on connection: SQLiteConnection) throws -> String {
            let statement = try connection.prepare("SELECT quote(\(call))")
            XCTAssertTrue(try statement.step())
            return statement.text(0)
        }
        let calls = ["instr('abcabc', 'ca')", "instr('h\u{E9}llo w\u{F6}rld', 'w\u{F6}')", "instr(x'00ff00ff', x'ff')", "instr(x'616263', 'c')", "instr('abc', '')",
                     "instr(NULL, 'a')", "instr('a', NULL)", "instr(12345, 34)", "instr('abc', 'd')", "instr('aab', 'ab')",
                     "replace('aaaa', 'aa', 'b')", "replace('abc', '', 'x')", "replace(5, '', 'x')", "replace('h\u{E9}\u{E9}', '\u{E9}', 'e')",
                     "replace(NULL, 'a', 'b')", "replace('a', 'a', NULL)", "replace(123, 2, 9)", "replace('abab', 'ab', '')",
                     "trim('xxhixx', 'x')", "ltrim('xxhixx', 'x')", "rtrim('xxhixx', 'x')", "trim('\u{E9}\u{E9}a\u{E9}', '\u{E9}')", "trim('abc', '')",
                     "trim(NULL, 'a')", "trim('a', NULL)", "trim('aaa', 'a')", "rtrim('abcb', 'bc')", "trim(5, 'x')", "ltrim(' a ')", "trim('xyx', 'yx')"]
        for call in calls {
            XCTAssertEqual(try result(call, on: linear), try result(call, on: builtIn), call)
        }
        // LIKE and GLOB: fixed cases, then seeded random patterns over a small alphabet.
        var patterns: [String] = ["a%", "%b", "_b%", "A%", "%%", "", "%", "a_c", "[ab]*", "[^a]*", "[a-c]?", "*[]]*", "[]-]", "*a*b*", "a\\%", "\u{E9}%", "%\u{C9}", "[", "*["]
        var rng = SeededRandom(seed: 5)
        let alphabet: [Character] = ["a", "b", "A", "%", "_", "*", "?", "[", "]", "^", "-", "c"]
        for _ in 0..<400 { patterns.append(String((0..<Int(rng.next() % 7)).map { _ in alphabet[Int(rng.next() % UInt64(alphabet.count))] })) }
        let strings = ["", "a", "ab", "abc", "Abc", "b", "aab", "%", "a%b", "]", "-", "\u{E9}t\u{E9}", "\u{C9}t\u{E9}", "a_c", "[a]", "*"]
        for pattern in patterns {
            for string in strings {
                let quoted = { (text: String) in "'" + text.replacingOccurrences(of: "'", with: "''") + "'" }
                for call in ["\(quoted(string)) LIKE \(quoted(pattern))", "\(quoted(string)) GLOB \(quoted(pattern))",
                             "like(\(quoted(pattern)), \(quoted(string)), '\\')", "\(quoted(string)) LIKE NULL", "5 LIKE '5%'"] {
                    XCTAssertEqual(try result(call, on: linear), try result(call, on: builtIn), call)
                }
            }
        }
    }

    /// Patterns of many wildcards took SQLite's LIKE and GLOB exponential time inside one call,
    /// and printf('%.*c', N, …) built huge strings inside one call: the time limit could not stop
    /// either. LIKE and GLOB are linear-time here, and printf and format are refused.
    func testOneCallCannotOutrunTheTimeLimit() throws {
        let index = try CompressedIndex(path: try buildIndex("calls", documents: 20))
        for expression in ["length(printf('%.*c', 2000000000, 'x')) > 0", "length(format('%.*c', 400000000, 'x')) > 0"] {
            let started = Date()
            XCTAssertThrowsError(try index.documents(matching: MetadataFilter(expression))) { error in
                XCTAssertTrue("\(error)".contains("may not call"), "\(error)")
            }
            XCTAssertLessThan(Date().timeIntervalSince(started), 1)
        }
        let text = String(repeating: "x", count: 1 << 19)
        for (operation, pattern) in [("LIKE", String(repeating: "%x", count: 45) + "%y"), ("GLOB", String(repeating: "*x", count: 45) + "*y")] {
            let started = Date()
            let filter = MetadataFilter("id \(operation) ? OR ? \(operation) ?", parameters: [pattern, text, pattern])
            XCTAssertEqual(try index.documents(matching: filter).count, 0)
            XCTAssertLessThan(Date().timeIntervalSince(started), 2, operation)
        }
    }

    /// Ids and strings keep every byte, NUL included: nothing is cut at a NUL, and an id matches
    /// only itself.
    func testNULBytesAreKept() throws {
        let ids = ["nul", "nul\u{0}id", "plain"]
        _ = try IndexBuilder.build(from: try batchOf([0, 1, 2], ids: ids), at: path("nul"),
                                   parameters: BuildParameters(kmeans: KMeansParameters(centroids: 8)),
                                   metadata: ["nul": ["note": .string("a")], "nul\u{0}id": ["note": .string("a\u{0}b")]])
        let index = try CompressedIndex(path: path("nul"))
        XCTAssertEqual(index.liveDocumentIDs.map { Array($0.utf8) }, ids.map { Array($0.utf8) })
        XCTAssertEqual(try index.documents(matching: MetadataFilter("id = ?", parameters: ["nul\u{0}id"])).ordinals, [1])
        XCTAssertEqual(try index.documents(matching: MetadataFilter("id = ?", parameters: ["nul"])).ordinals, [0])
        XCTAssertEqual(try index.documents(matching: MetadataFilter("note = ?", parameters: ["a\u{0}b"])).ordinals, [1])
        let stored = try index.metadata(of: [0, 1])
        XCTAssertEqual(stored[1], ["note": .string("a\u{0}b")])
        XCTAssertEqual(stored[0], ["note": .string("a")])
    }

    /// Ids compare by their UTF-8 bytes: "café" written with U+00E9 and with "e" and U+0301 are two
    /// documents, each added, found, deleted and compacted on its own.
    func testIDsCompareByTheirBytes() throws {
        let composed = "caf\u{E9}", decomposed = "cafe\u{301}"
        XCTAssertNoThrow(try EmbeddingsLayout.checkUnique([composed, decomposed], file: "ids"))
        _ = try IndexBuilder.build(from: try batchOf([0, 1], ids: [composed, "other"]), at: path("bytes"),
                                   parameters: BuildParameters(kmeans: KMeansParameters(centroids: 8)),
                                   metadata: [composed: ["form": .string("composed")]])
        let writer = try IndexWriter(path: path("bytes"))
        XCTAssertFalse(writer.contains(id: decomposed))
        try writer.add(try batchOf([2], ids: [decomposed]), metadata: [decomposed: ["form": .string("decomposed")]])
        XCTAssertEqual(writer.documentCount, 3)
        try writer.commit()
        func ids(_ index: CompressedIndex, _ expression: String) throws -> [[UInt8]] {
            try index.documents(matching: MetadataFilter(expression)).ordinals.map { Array(index.documentID($0).utf8) }
        }
        XCTAssertEqual(try ids(CompressedIndex(path: path("bytes")), "form = 'decomposed'"), [Array(decomposed.utf8)])
        // Compaction keeps each document's metadata with it.
        try writer.delete(ids: ["other"])
        try writer.compact()
        let compacted = try CompressedIndex(path: path("bytes"))
        XCTAssertEqual(try ids(compacted, "form = 'decomposed'"), [Array(decomposed.utf8)])
        XCTAssertEqual(try ids(compacted, "form = 'composed'"), [Array(composed.utf8)])
        // Deleting one leaves the other; an upsert replaces only its own id.
        let summary = try writer.delete(ids: [composed])
        XCTAssertEqual(summary.deleted, 1)
        XCTAssertTrue(writer.contains(id: decomposed))
        XCTAssertFalse(writer.contains(id: composed))
        try writer.add(try batchOf([3], ids: [composed]), upsert: true)
        XCTAssertEqual(writer.documentCount, 2)
        try writer.commit()
        writer.close()
        XCTAssertEqual(try CompressedIndex(path: path("bytes")).liveDocumentIDs.map { Array($0.utf8) }.sorted { $0.lexicographicallyPrecedes($1) },
                       [Array(composed.utf8), Array(decomposed.utf8)].sorted { $0.lexicographicallyPrecedes($1) })
        // Metadata given under the other spelling of an id is not taken for it.
        XCTAssertThrowsError(try MetadataSchema.merge([], with: [composed: ["n": .integer(1)]], order: [decomposed], source: "batch")) {
            XCTAssertTrue("\($0)".contains("differs from it in its bytes"), "\($0)")
        }
    }

    /// Field names SQLite would take for its row number, or confuse with another field because its
    /// names ignore case, and more fields than the limit, are refused before anything is staged.
    func testReservedAndClashingFieldNamesAreRefused() throws {
        let year = [MetadataField(name: "year", type: .integer, firstDocument: "d0")]
        let cases: [([MetadataField], [String: MetadataValue], String)] = [
            ([], ["rowid": .integer(7)], "'rowid' is reserved"),
            ([], ["oid": .integer(7)], "'oid' is reserved"),
            ([], ["_rowid_": .integer(7)], "'_rowid_' is reserved"),
            ([], ["RowID": .integer(7)], "'RowID' is reserved"),
            ([], ["plaid_rowid": .integer(7)], "'plaid_rowid' is reserved"),
            ([], ["ID": .string("x")], "'ID' differs from field 'id' only in case"),
            (year, ["Year": .integer(2000)], "'Year' differs from field 'year' only in case"),
            ([], ["year": .integer(1), "YEAR": .integer(2)], "differs from field"),
            ((0..<1_000).map { MetadataField(name: "f\($0)", type: .integer, firstDocument: "d0") }, ["one_more": .integer(1)], "at most 1000 fields"),
            // Found by a probe: SQLite ends an identifier at a NUL, so the table could not be made
            // (the server answered 500, the command line SQLite's own message).
            ([], ["a\u{0}b": .integer(1)], "'a\\u0000b' is reserved (a field name cannot hold the NUL character"),
            ([], ["\u{0}": .integer(1)], "NUL character"),
            ([], ["x\u{0}": .string("y")], "NUL character"),
        ]
        for (fields, values, message) in cases {
            XCTAssertThrowsError(try MetadataSchema.merge(fields, with: ["doc": values], order: ["doc"], source: "meta.jsonl"), message) {
                XCTAssertTrue("\($0)".contains(message), "\($0)")
            }
        }
        // Through the writer: refused, and nothing staged.
        let indexPath = try buildIndex("names", documents: 50)
        let writer = try IndexWriter(path: indexPath)
        for fields in [["rowid": MetadataValue.integer(7)], ["Year": .integer(2000)], ["a\u{0}b": .integer(1)]] {
            XCTAssertThrowsError(try writer.add(try batchOf([60], ids: ["late"]), metadata: ["late": fields]))
            XCTAssertFalse(writer.hasChanges)
        }
        writer.close()
    }

    /// Found by a probe: a field's type clash or reserved name in a metadata file was reported
    /// against the embeddings it went with, and in a collection against the temporary folder of
    /// its encoded embeddings. The file that holds the fields is named.
    func testFieldErrorsNameTheFileThatHoldsTheFields() throws {
        let lines = [#"{"id": "a", "year": 2020}"#, #"{"id": "b", "year": "2020"}"#]
        try (lines.joined(separator: "\n") + "\n").write(toFile: path("meta.jsonl"), atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try MetadataReader.read(path: path("meta.jsonl"), batchIDs: ["a", "b"])) {
            XCTAssertTrue("\($0)".contains("meta.jsonl") && "\($0)".contains("integer in document 'a' but string in document 'b'"), "\($0)")
        }
        let collection = [#"{"_id": "m1", "text": "x", "metadata": {"year": 2020}}"#, #"{"_id": "m2", "text": "y", "rowid": 3}"#]
        try (collection.joined(separator: "\n") + "\n").write(toFile: path("corpus.jsonl"), atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try MetadataReader.fromCollection(path: path("corpus.jsonl"))) {
            XCTAssertTrue("\($0)".contains("corpus.jsonl") && "\($0)".contains("'rowid' is reserved"), "\($0)")
        }
    }

    private func batchOf(_ documents: [Int], ids: [String]) throws -> DocumentBatch {
        let vectors = try documents.map { d -> [Float] in
            var v = [Float](repeating: 0, count: pool.lengths[d] * pool.dim)
            try v.withUnsafeMutableBufferPointer { try pool.copyTokens(start: pool.offsets[d], count: pool.lengths[d], into: $0.baseAddress!) }
            return v
        }
        return try DocumentBatch(ids: ids, documents: vectors, dim: pool.dim)
    }
}
