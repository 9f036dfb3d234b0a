import XCTest
import Foundation
import PlaidCore

/// End-to-end runs of the text commands (`build --collection`, `query` on texts, `eval`) with the
/// default model on a small slice of SciFact.
final class TextPipelineTests: PlaidCLITestCase {
    private var model: String { SciFactSlice.model }

    override func setUpWithError() throws {
        try SciFactSlice.requireModel()
        try super.setUpWithError()
    }

    /// Runs plaid; the tests check the status themselves.
    private func run(_ arguments: [String]) throws -> PlaidProcess.Output { try plaid(arguments, expect: nil) }

    /// A BEIR folder with the first 60 SciFact documents and the test queries judged on them.
    private func miniSciFact() throws -> String { try SciFactSlice.make(at: path("mini")) }

    func testEvalPrintsPLAIDAndExhaustiveScores() throws {
        let dataset = try miniSciFact()
        let result = try run(["eval", "--dataset", dataset, "--model", model, "--work", path("work"), "--json", "--centroids", "64"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let report = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as! [String: Any]
        let plaidScores = report["plaid"] as! [String: Double], exact = report["exhaustive"] as! [String: Double]
        XCTAssertEqual(report["cutoff"] as? Int, 100)
        for key in ["ndcg_at10", "recall_at_cutoff", "mrr_at10", "map_at_cutoff"] {
            XCTAssertTrue((0...1).contains(plaidScores[key]!), "\(key): \(plaidScores)")
            XCTAssertTrue((0...1).contains(exact[key]!), "\(key): \(exact)")
        }
        // Every judged document is among the 60 indexed, so the exhaustive search finds most of them.
        XCTAssertGreaterThan(exact["recall_at_cutoff"]!, 0.9)
        XCTAssertGreaterThan(report["bytes_per_token"] as! Double, 0)
        XCTAssertNotNil(report["encode_tokens_per_second"])
        // A second run with the same settings reuses the embeddings and the index.
        let again = try run(["eval", "--dataset", dataset, "--model", model, "--work", path("work"), "--centroids", "64"])
        XCTAssertEqual(again.status, 0, again.stderr)
        // One with other build settings is refused rather than reported against an index built otherwise.
        let otherSettings = try run(["eval", "--dataset", dataset, "--model", model, "--work", path("work"), "--seed", "7"])
        XCTAssertNotEqual(otherSettings.status, 0)
        XCTAssertTrue(otherSettings.stderr.contains("seed 42 (asked: 7)") && otherSettings.stderr.contains("64 centroids"), otherSettings.stderr)
        XCTAssertTrue(again.stderr.contains("reusing the index"), again.stderr)
        XCTAssertTrue(again.stdout.contains("| PLAID"), again.stdout)
        let missingSplit = try run(["eval", "--dataset", dataset, "--model", model, "--split", "dev"])
        XCTAssertNotEqual(missingSplit.status, 0)
        XCTAssertTrue(missingSplit.stderr.contains("dev") && missingSplit.stderr.contains("test"), missingSplit.stderr)
    }

    func testBuildFromCompressedTextAndQueryWithTexts() throws {
        let dataset = try miniSciFact()
        let corpus = try Data(contentsOf: URL(fileURLWithPath: dataset + "/corpus.jsonl"))
        let compressed = try corpus.withUnsafeBytes { try Zstd.compress($0) }
        try Data(compressed).write(to: URL(fileURLWithPath: path("corpus.jsonl.zst")))
        let build = try run(["build", "--model", model, "--collection", path("corpus.jsonl.zst"), "--index", path("index"),
                               "--centroids", "32", "--save-embeddings", path("emb")])
        XCTAssertEqual(build.status, 0, build.stderr)
        XCTAssertTrue(build.stderr.contains("documents/s"), build.stderr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: path("emb/doc_embeddings.npy")))
        try "q1\tWhat mutations cause cancer?\nq2\tmicrostructural development of white matter\n".write(toFile: path("q.tsv"), atomically: true, encoding: .utf8)
        let query = try run(["query", "--model", model, "--index", path("index"), "--queries", path("q.tsv"), "--k", "3", "--output", path("run.tsv")])
        XCTAssertEqual(query.status, 0, query.stderr)
        XCTAssertTrue(query.stderr.contains("encode queries:") && query.stderr.contains("search:"), query.stderr)
        let lines = try String(contentsOfFile: path("run.tsv"), encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(lines.count, 6)
        // The white-matter query finds SciFact document 4983, whose title it paraphrases.
        XCTAssertTrue(lines.contains { $0.hasPrefix("q2 Q0 4983 1 ") }, lines.joined(separator: "\n"))
    }

    /// `encode --precision`: both products give the same layout and nearly the same vectors;
    /// an unknown precision is refused with the choices named.
    func testEncodePrecisionsAgree() throws {
        let dataset = try miniSciFact()
        var vectors: [String: [Float]] = [:]
        for precision in ["int16", "float32"] {
            let result = try run(["encode", "--model", model, "--input", dataset + "/corpus.jsonl", "--mode", "document",
                                    "--output", path("emb-\(precision)"), "--precision", precision])
            XCTAssertEqual(result.status, 0, result.stderr)
            let array = try NPYArray(path: path("emb-\(precision)/doc_embeddings.npy"))
            var values = [Float](repeating: 0, count: array.elementCount)
            values.withUnsafeMutableBufferPointer { array.copyFloats(start: 0, count: array.elementCount, into: $0.baseAddress!) }
            vectors[precision] = values
        }
        let a = vectors["int16"]!, b = vectors["float32"]!
        XCTAssertEqual(a.count, b.count)
        XCTAssertNotEqual(a, b, "the two precisions must not run the same code")
        let dimension = 384
        var lowest: Float = 1
        for row in 0..<(a.count / dimension) {
            var dot: Float = 0
            for c in 0..<dimension { dot += a[row * dimension + c] * b[row * dimension + c] }
            lowest = min(lowest, dot)  // both are unit vectors
        }
        XCTAssertGreaterThan(lowest, 0.9999)
        let bad = try run(["encode", "--model", model, "--input", dataset + "/corpus.jsonl", "--mode", "document",
                             "--output", path("emb-bad"), "--precision", "int8"])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.stderr.contains("int8") && bad.stderr.contains("float32"), bad.stderr)
    }

    /// `--pool-factor 2` on encode writes each document's vectors pooled as `TokenPooling` pools
    /// the unpooled ones, build indexes that many vectors, and the options it cannot go with are refused.
    func testPoolFactorPoolsDocumentsAsTheLibraryDoes() throws {
        let dataset = try miniSciFact()
        func encoded(_ extra: [String], into folder: String) throws -> (lengths: [Int], vectors: [Float]) {
            let result = try run(["encode", "--model", model, "--collection", dataset + "/corpus.jsonl", "--output-dir", path(folder)] + extra)
            XCTAssertEqual(result.status, 0, result.stderr)
            let array = try NPYArray(path: path(folder + "/doc_embeddings.npy"))
            var values = [Float](repeating: 0, count: array.elementCount)
            values.withUnsafeMutableBufferPointer { array.copyFloats(start: 0, count: array.elementCount, into: $0.baseAddress!) }
            return (try NPYArray(path: path(folder + "/doclens.npy")).integers(), values)
        }
        let full = try encoded([], into: "full"), pooled = try encoded(["--pool-factor", "2"], into: "pooled")
        XCTAssertEqual(full.lengths.count, pooled.lengths.count)
        XCTAssertLessThan(pooled.lengths.reduce(0, +) * 10, full.lengths.reduce(0, +) * 6, "about half the vectors")
        let dimension = 384
        var start = (full: 0, pooled: 0)
        for (n, m) in zip(full.lengths, pooled.lengths).prefix(8) {
            let expected = TokenPooling.pool(Array(full.vectors[(start.full * dimension)..<((start.full + n) * dimension)]), dimension: dimension, factor: 2)
            let got = Array(pooled.vectors[(start.pooled * dimension)..<((start.pooled + m) * dimension)])
            XCTAssertEqual(got.count, expected.count)
            for (a, b) in zip(got, expected) { XCTAssertEqual(a, b, accuracy: 1e-6) }
            start = (start.full + n, start.pooled + m)
        }
        let build = try run(["build", "--model", model, "--collection", dataset + "/corpus.jsonl", "--index", path("index"),
                             "--centroids", "32", "--pool-factor", "2"])
        XCTAssertEqual(build.status, 0, build.stderr)
        let info = try run(["info", "--index", path("index")]).stdout
        XCTAssertTrue(info.contains("tokens:          \(pooled.lengths.reduce(0, +))"), info)
        for (arguments, expected) in [(["encode", "--collection", dataset + "/corpus.jsonl", "--output-dir", path("x"), "--pool-factor", "0"], "at least 1"),
                                      (["encode", "--queries", dataset + "/queries.jsonl", "--output-dir", path("x"), "--pool-factor", "2"], "queries are never pooled"),
                                      (["build", "--embeddings", path("full"), "--index", path("y"), "--pool-factor", "2"], "--pool-factor goes with --collection")] {
            let refused = try run(arguments)
            XCTAssertNotEqual(refused.status, 0)
            XCTAssertTrue(refused.stderr.contains(expected), refused.stderr)
        }
    }

    /// `plaid rerank` reorders a first-stage run by exact MaxSim: on the exhaustive search's own
    /// documents with their scores scrambled, it gives back the exhaustive order and scores.
    func testRerankRestoresTheExactOrder() throws {
        let dataset = try miniSciFact()
        try "q1\tWhat mutations cause cancer?\nq2\tmicrostructural development of white matter\n".write(toFile: path("q.tsv"), atomically: true, encoding: .utf8)
        XCTAssertEqual(try run(["encode", "--collection", dataset + "/corpus.jsonl", "--output-dir", path("emb")]).status, 0)
        XCTAssertEqual(try run(["query", "--exhaustive", "--embeddings", path("emb"), "--queries", path("q.tsv"), "--k", "10", "--output", path("exact.run")]).status, 0)
        let exact = try String(contentsOfFile: path("exact.run"), encoding: .utf8).split(separator: "\n").map { $0.split(separator: " ") }
        // The same documents, scored backwards: the worst first.
        let scrambled = exact.map { f in "\(f[0]) Q0 \(f[2]) \(f[3]) \(-Double(f[4])!) bm25" }
        try (scrambled.joined(separator: "\n") + "\n").write(toFile: path("first.run"), atomically: true, encoding: .utf8)
        let reranked = try run(["rerank", "--queries", path("q.tsv"), "--collection", dataset + "/corpus.jsonl", "--run", path("first.run"),
                                "--output", path("reranked.run"), "--k", "5"])
        XCTAssertEqual(reranked.status, 0, reranked.stderr)
        let lines = try String(contentsOfFile: path("reranked.run"), encoding: .utf8).split(separator: "\n").map { $0.split(separator: " ") }
        XCTAssertEqual(lines.count, 10)
        for query in ["q1", "q2"] {
            let want = exact.filter { $0[0] == query }.prefix(5)
            let got = lines.filter { $0[0] == query }
            XCTAssertEqual(got.map { $0[2] }, want.map { $0[2] })
            for (g, w) in zip(got, want) { XCTAssertEqual(Double(g[4])!, Double(w[4])!, accuracy: 1e-3) }
            XCTAssertTrue(got.allSatisfy { $0[5] == "plaid-rerank" })
        }
        // A run naming documents the collection lacks: reported and dropped.
        try "q1 Q0 not-a-document 1 3.0 bm25\n".appending(scrambled[0] + "\n").write(toFile: path("partial.run"), atomically: true, encoding: .utf8)
        let partial = try run(["rerank", "--queries", path("q.tsv"), "--collection", dataset + "/corpus.jsonl", "--run", path("partial.run"), "--output", "-"])
        XCTAssertEqual(partial.status, 0, partial.stderr)
        XCTAssertTrue(partial.stderr.contains("1 documents of the run are not in") && partial.stderr.contains("not-a-document"), partial.stderr)
        XCTAssertEqual(partial.stdout.split(separator: "\n").count, 1)
    }
}
