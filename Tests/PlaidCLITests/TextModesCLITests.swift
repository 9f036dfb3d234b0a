import XCTest
import Foundation

/// `--store-text`, `query --mode` and `eval --modes` through the real binary, with the default
/// model on a slice of SciFact.
final class TextModesCLITests: PlaidCLITestCase {
    private var model: String { SciFactSlice.model }

    override func setUpWithError() throws {
        try SciFactSlice.requireModel()
        try super.setUpWithError()
    }

    private func run(_ arguments: [String]) throws -> PlaidProcess.Output { try plaid(arguments, expect: nil) }

    private func runFile(_ path: String) throws -> [[String]] {
        try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map { $0.split(separator: " ").map(String.init) }
    }

    func testStoredTextModesAndTheirMistakes() throws {
        let dataset = try SciFactSlice.make(at: path("mini"))
        let index = path("index"), plain = path("plain")
        var result = try run(["build", "--collection", dataset + "/corpus.jsonl", "--model", model, "--index", index, "--store-text",
                              "--centroids", "64"])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: index + "/seg-000000/text.sqlite"))
        let questions = path("questions.jsonl")
        try "{\"_id\": \"q1\", \"text\": \"ALDH1 expression in breast cancer\"}\n{\"_id\": \"q2\", \"text\": \"NEAR( * AND OR\"}\n{\"_id\": \"q3\", \"text\": \"?!\"}\n"
            .write(toFile: questions, atomically: true, encoding: .utf8)

        for mode in ["plaid", "bm25", "hybrid"] {
            result = try run(["query", "--index", index, "--queries", questions, "--model", model, "--mode", mode, "--output", path("\(mode).run")])
            XCTAssertEqual(result.status, 0, "\(mode): \(result.stderr)")
        }
        let bm25 = try runFile(path("bm25.run")), plaidRun = try runFile(path("plaid.run")), hybrid = try runFile(path("hybrid.run"))
        XCTAssertTrue(bm25.allSatisfy { $0[0] != "q3" }, "a question of no words finds nothing by BM25")
        XCTAssertTrue(bm25.contains { $0[0] == "q1" } && bm25.allSatisfy { $0[5] == "bm25" })
        XCTAssertEqual(hybrid.filter { $0[0] == "q3" }.map { $0[2] }, plaidRun.filter { $0[0] == "q3" }.map { $0[2] },
                       "with no words, hybrid ranks as PLAID does")
        result = try run(["query", "--index", index, "--queries", questions, "--model", model, "--mode", "hybrid", "--fusion", "rrf",
                          "--output", path("rrf.run")])
        XCTAssertEqual(result.status, 0, result.stderr)

        // Mistakes: a sentence each, and nothing written.
        result = try run(["build", "--collection", dataset + "/corpus.jsonl", "--model", model, "--index", plain, "--centroids", "64"])
        XCTAssertEqual(result.status, 0, result.stderr)
        for (arguments, expected) in [
            (["query", "--index", plain, "--queries", questions, "--mode", "bm25", "--output", path("x.run")], "stores no text"),
            (["query", "--index", index, "--queries", path("missing"), "--mode", "bm25", "--output", path("x.run")], "does not exist"),
            (["query", "--index", index, "--queries", questions, "--mode", "bm25", "--fusion", "rrf", "--output", path("x.run")], "--fusion"),
            (["query", "--index", index, "--queries", questions, "--mode", "hybrid", "--fusion", "rrf", "--alpha", "0.3", "--output", path("x.run")], "--alpha"),
            (["build", "--collection", dataset + "/corpus.jsonl", "--index", path("bad"), "--store-text", "--fts-tokenizer", "unicode61'); DROP"], "tokenizer"),
            (["build", "--collection", dataset + "/corpus.jsonl", "--index", path("bad"), "--fts-tokenizer", "porter"], "--store-text"),
        ] {
            result = try run(arguments)
            XCTAssertNotEqual(result.status, 0, arguments.joined(separator: " "))
            XCTAssertTrue(result.stderr.contains(expected), "\(arguments): \(result.stderr)")
            // One sentence (ArgumentParser adds its usage lines after a mistake in the options).
            XCTAssertTrue(result.stderr.split(separator: "\n").first?.contains(expected) ?? false, result.stderr)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("x.run")))
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("bad")))
        // A query embeddings directory has no text for BM25.
        result = try run(["encode", "--queries", questions, "--model", model, "--output", path("qemb")])
        XCTAssertEqual(result.status, 0, result.stderr)
        result = try run(["query", "--index", index, "--queries", path("qemb"), "--mode", "bm25", "--output", path("x.run")])
        XCTAssertTrue(result.status != 0 && result.stderr.contains("query text file"), result.stderr)

        // Probe defect: a --texts file covering some of the documents was taken silently.
        result = try run(["encode", "--collection", more(path("two.jsonl"), ["t1", "t2"]), "--model", model, "--output-dir", path("two")])
        XCTAssertEqual(result.status, 0, result.stderr)
        result = try run(["add", "--index", index, "--embeddings", path("two"), "--texts", more(path("partial.jsonl"), ["t1", "stranger"])])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stderr.contains("no text for 1 of the 2 documents (\"t2\")"), result.stderr)
        XCTAssertTrue(result.stderr.contains("1 ids that are not among the documents (\"stranger\")"), result.stderr)

        // An add from a collection stores its text too; the new documents are found by BM25.
        let more = path("more.jsonl")
        try "{\"_id\": \"new1\", \"title\": \"Zebrafish\", \"text\": \"zebrafish fins regenerate quickly\"}\n".write(toFile: more, atomically: true, encoding: .utf8)
        result = try run(["add", "--index", index, "--collection", more, "--model", model])
        XCTAssertEqual(result.status, 0, result.stderr)
        try "{\"_id\": \"z\", \"text\": \"zebrafish regeneration\"}\n".write(toFile: path("z.jsonl"), atomically: true, encoding: .utf8)
        result = try run(["query", "--index", index, "--queries", path("z.jsonl"), "--mode", "bm25", "--output", path("z.run")])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertEqual(try runFile(path("z.run")).first?[2], "new1")
    }

    /// `plaid search "question"`: ranked lines with titles and marked passages, hybrid on an index
    /// with text; standard input; JSON; and the index without text.
    func testSearchPrintsRankedPassages() throws {
        let dataset = try SciFactSlice.make(at: path("mini"))
        let index = path("index"), plain = path("plain")
        for (target, extra) in [(index, ["--store-text"]), (plain, [])] {
            let built = try run(["build", "--collection", dataset + "/corpus.jsonl", "--model", model, "--index", target, "--centroids", "64"] + extra)
            XCTAssertEqual(built.status, 0, built.stderr)
        }
        var result = try run(["search", "--index", index, "--model", model, "--k", "3", "ALDH1 expression in breast cancer"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let lines = result.stdout.split(separator: "\n")
        XCTAssertEqual(lines.filter { $0.hasPrefix(" 1. ") || $0.hasPrefix(" 2. ") || $0.hasPrefix(" 3. ") }.count, 3, result.stdout)
        XCTAssertTrue(lines.contains { $0.hasPrefix("    ") && $0.lowercased().contains("breast") }, "a passage with the question's words: \(result.stdout)")
        XCTAssertFalse(result.stdout.contains("\u{1B}["), "no terminal codes when the output is not a terminal")
        try "{\"_id\": \"q\", \"text\": \"ALDH1 expression in breast cancer\"}\n".write(toFile: path("q.jsonl"), atomically: true, encoding: .utf8)
        let hybrid = try run(["query", "--index", index, "--queries", path("q.jsonl"), "--model", model, "--mode", "hybrid", "--k", "3", "--output", "-"])
        let firstID = hybrid.stdout.split(separator: "\n").first?.split(separator: " ")[2]
        XCTAssertTrue(lines.first?.hasPrefix(" 1. \(firstID ?? "?")  ") ?? false, "the first result is the hybrid search's: \(result.stdout) / \(hybrid.stdout)")

        result = try run(["search", "--index", index, "--model", model, "--k", "2", "--matches", "vitamin D deficiency"])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertEqual(result.stdout.split(separator: "\n").filter { $0.hasPrefix("    matched: ") }.count, 2, result.stdout)
        XCTAssertTrue(result.stdout.contains("vitamin→vitamin"), result.stdout)
        result = try plaid(["search", "--index", index, "--model", model, "--k", "2", "--json", "-"], expect: nil,
                           input: "vitamin D\n\nALDH1 expression\n")
        XCTAssertEqual(result.status, 0, result.stderr)
        let answers = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as! [[String: Any]]
        XCTAssertEqual(answers.map { $0["question"] as! String }, ["vitamin D", "ALDH1 expression"])
        for answer in answers {
            for hit in answer["results"] as! [[String: Any]] {
                let passage = hit["passage"] as! String, marks = hit["marks"] as! [[Int]]
                for mark in marks {
                    let scalars = Array(passage.unicodeScalars)
                    XCTAssertLessThanOrEqual(mark[1], scalars.count)
                    let word = String(String.UnicodeScalarView(scalars[mark[0]..<mark[1]])).lowercased()
                    XCTAssertTrue((answer["question"] as! String).lowercased().contains(word), "\(word) is a word of the question")
                }
            }
        }
        // Each matched token's span holds that token, in the stored title or text: from the
        // tokens stored at build (built from the collection), or from the text tokenized again
        // (built from embeddings with --texts, which keeps no tokens).
        let corpus = try String(contentsOfFile: dataset + "/corpus.jsonl", encoding: .utf8).split(separator: "\n").map {
            try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any]
        }
        let fromEmbeddings = path("from-embeddings")
        result = try run(["encode", "--collection", dataset + "/corpus.jsonl", "--model", model, "--output-dir", path("corpus-embeddings")])
        XCTAssertEqual(result.status, 0, result.stderr)
        result = try run(["build", "--embeddings", path("corpus-embeddings"), "--texts", dataset + "/corpus.jsonl", "--store-text",
                          "--index", fromEmbeddings, "--centroids", "64"])
        XCTAssertEqual(result.status, 0, result.stderr)
        for target in [index, fromEmbeddings] {
            result = try run(["search", "--index", target, "--model", model, "--k", "3", "--json", "--matches", "ALDH1 expression in breast cancer"])
            XCTAssertEqual(result.status, 0, result.stderr)
            let explained = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as! [[String: Any]]
            var spans = 0
            for hit in explained[0]["results"] as! [[String: Any]] {
                let document = corpus.first { $0["_id"] as? String == hit["id"] as? String }!
                for match in hit["matches"] as! [[String: Any]] {
                    guard let span = match["document_span"] as? [String: Any] else { continue }
                    let field = Array((document[span["field"] as! String] as! String).unicodeScalars)
                    let written = String(String.UnicodeScalarView(field[(span["start"] as! Int)..<(span["end"] as! Int)]))
                    let token = (match["document_text"] as! String).replacingOccurrences(of: "##", with: "")
                    XCTAssertEqual(written.lowercased().folding(options: .diacriticInsensitive, locale: nil), token, "\(target): \(match)")
                    spans += 1
                }
            }
            XCTAssertGreaterThan(spans, 20, target)
        }
        // Query vectors alone (no model loaded): the stored tokens still give the spans.
        result = try run(["encode", "--queries", path("q.jsonl"), "--model", model, "--output", path("q-embeddings")])
        XCTAssertEqual(result.status, 0, result.stderr)
        result = try run(["query", "--index", index, "--queries", path("q-embeddings"), "--k", "3", "--output", path("v.run"), "--matches", path("v.jsonl")])
        XCTAssertEqual(result.status, 0, result.stderr)
        let vectorMatches = try String(contentsOfFile: path("v.jsonl"), encoding: .utf8).split(separator: "\n").flatMap {
            (try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any])["matches"] as! [[String: Any]]
        }
        XCTAssertTrue(vectorMatches.contains { $0["document_span"] != nil }, "\(vectorMatches)")
        XCTAssertFalse(vectorMatches.contains { $0["document_text"] != nil || $0["query_text"] != nil }, "no model, no token texts")
        // `plaid query --matches`: a JSON line per result, the same matches as `plaid search`'s.
        result = try run(["query", "--index", index, "--queries", path("q.jsonl"), "--model", model, "--k", "3", "--output", path("m.run"), "--matches", path("m.jsonl")])
        XCTAssertEqual(result.status, 0, result.stderr)
        let matchLines = try String(contentsOfFile: path("m.jsonl"), encoding: .utf8).split(separator: "\n").map {
            try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any]
        }
        XCTAssertEqual(matchLines.map { $0["id"] as! String }, try runFile(path("m.run")).map { $0[2] })
        XCTAssertEqual(matchLines.map { $0["rank"] as! Int }, [1, 2, 3])
        for line in matchLines {
            let matches = line["matches"] as! [[String: Any]]
            XCTAssertEqual(matches.reduce(0.0) { $0 + ($1["score"] as! Double) }, line["score"] as! Double, accuracy: 1e-3)
            XCTAssertTrue(matches.contains { $0["document_span"] != nil && $0["query_text"] as? String == "breast" }, "\(matches)")
        }
        result = try run(["query", "--index", index, "--queries", path("q.jsonl"), "--model", model, "--output", "-", "--matches", "-"])
        XCTAssertTrue(result.status != 0 && result.stderr.contains("cannot both be standard output"), result.stderr)
        // Probe defect: one file for both (by name, or through a link) kept only one of them.
        try FileManager.default.createSymbolicLink(atPath: path("link.run"), withDestinationPath: path("m.run"))
        let runBefore = try String(contentsOfFile: path("m.run"), encoding: .utf8)
        for (output, matches) in [(path("m.run"), path("m.run")), (path("m.run"), path("link.run")), (path("link.run"), path("m.run"))] {
            result = try run(["query", "--index", index, "--queries", path("q.jsonl"), "--model", model, "--output", output, "--matches", matches])
            XCTAssertTrue(result.status != 0 && result.stderr.contains("name the same file"), result.stderr)
            XCTAssertEqual(try String(contentsOfFile: path("m.run"), encoding: .utf8), runBefore, "nothing written")
        }
        // A device loses nothing written to it twice (the benchmarks send both to /dev/null).
        result = try run(["query", "--index", index, "--queries", path("q.jsonl"), "--model", model, "--output", "/dev/null", "--matches", "/dev/null"])
        XCTAssertEqual(result.status, 0, result.stderr)
        // Probe defect: in bm25 and hybrid modes the matches summed to a score no output showed;
        // each result with matches carries its MaxSim, their sum.
        for mode in ["bm25", "hybrid", "plaid"] {
            result = try run(["search", "--index", index, "--model", model, "--k", "2", "--json", "--matches", "--mode", mode, "breast cancer"])
            XCTAssertEqual(result.status, 0, result.stderr)
            let hits = (try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as! [[String: Any]])[0]["results"] as! [[String: Any]]
            for hit in hits {
                let sum = (hit["matches"] as! [[String: Any]]).reduce(Float(0)) { $0 + Float($1["score"] as! Double) }
                XCTAssertEqual(Float(hit["maxsim"] as! Double), sum, accuracy: 1e-3, mode)
                if mode == "plaid" { XCTAssertEqual(hit["maxsim"] as! Double, hit["score"] as! Double, mode) }
            }
        }

        result = try run(["search", "--index", plain, "--model", model, "--k", "2", "vitamin D"])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertEqual(result.stdout.split(separator: "\n").count, 2, "no text, no passages: \(result.stdout)")
        result = try run(["search", "--index", plain, "--model", model, "--mode", "bm25", "vitamin D"])
        XCTAssertTrue(result.status != 0 && result.stderr.contains("stores no text"), result.stderr)
        result = try run(["search", "--index", index, "--model", model, "  "])
        XCTAssertTrue(result.status != 0 && result.stderr.contains("empty"), result.stderr)
    }

    /// A small collection at `file` of documents with these ids.
    private func more(_ file: String, _ ids: [String]) -> String {
        try! ids.map { "{\"_id\": \"\($0)\", \"text\": \"the document \($0) about zebras\"}" }.joined(separator: "\n")
            .write(toFile: file, atomically: true, encoding: .utf8)
        return file
    }

    func testEvalComparesTheModes() throws {
        let dataset = try SciFactSlice.make(at: path("mini"))
        let result = try run(["eval", "--dataset", dataset, "--model", model, "--work", path("work"), "--centroids", "64",
                              "--modes", "plaid,bm25,hybrid", "--json", "--run-dir", path("runs")])
        XCTAssertEqual(result.status, 0, result.stderr)
        let report = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as! [String: Any]
        let modes = report["text_modes"] as! [[String: Any]]
        XCTAssertEqual(modes.map { $0["mode"] as! String }, ["bm25", "hybrid"])
        for mode in modes {
            let scores = mode["scores"] as! [String: Double]
            XCTAssertTrue((0.3...1).contains(scores["ndcg_at10"]!), "\(mode)")
        }
        XCTAssertTrue(FileManager.default.fileExists(atPath: path("runs/bm25.run")) && FileManager.default.fileExists(atPath: path("runs/hybrid.run")))
        let unknown = try run(["eval", "--dataset", dataset, "--model", model, "--modes", "plaid,splade"])
        XCTAssertTrue(unknown.status != 0 && unknown.stderr.contains("splade"), unknown.stderr)
    }
}
