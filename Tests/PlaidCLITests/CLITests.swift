import XCTest
import Foundation

/// End-to-end tests that run the real `plaid` executable on small data.
final class CLITests: PlaidCLITestCase {
    typealias Output = PlaidProcess.Output

    private func synthesize(_ name: String, documents: Int, queries: Int = 0, dim: Int = 32) throws -> String {
        try plaid(["synthesize", "--documents", "\(documents)", "--dim", "\(dim)", "--min-tokens", "10", "--max-tokens", "30",
                   "--queries", "\(queries)", "--output", path(name)])
        return path(name)
    }

    func testBuildInfoQueryAndExhaustiveEndToEnd() throws {
        let embeddings = try synthesize("emb", documents: 200, queries: 12)
        let index = path("index")
        try plaid(["build", "--embeddings", embeddings, "--index", index, "--nbits", "4", "--centroids", "64", "--seed", "3"])
        let info = try plaid(["info", "--index", index]).stdout
        XCTAssertTrue(info.contains("documents:       200"), info)
        XCTAssertTrue(info.contains("centroids:       64"), info)
        XCTAssertTrue(info.contains("nbits:           4"), info)
        XCTAssertTrue(info.contains("bytes per token:"), info)

        let query = try plaid(["query", "--index", index, "--queries", embeddings + "/queries", "--k", "5", "--output", path("run.tsv")])
        XCTAssertTrue(query.stderr.contains("queries/s") && query.stderr.contains("p95"), query.stderr)
        XCTAssertFalse(query.stderr.contains("exact MaxSim"), "stages are printed only with --explain")
        // --explain: one line per stage with its time and mean candidates in and out; k = 5 come out of the last.
        let explained = try plaid(["query", "--index", index, "--queries", embeddings + "/queries", "--k", "5", "--output", path("run2.tsv"), "--explain", "--quiet"])
        let stages = explained.stderr.split(separator: "\n").filter { $0.hasPrefix("1.") || $0.hasPrefix("2.") || $0.hasPrefix("3.") || $0.hasPrefix("4.") }
        XCTAssertEqual(stages.count, 6, explained.stderr)
        XCTAssertTrue(stages[0].contains(" 64.0 "), explained.stderr)   // in: the 64 centroids
        // 64 centroids are trained flat: no groups, so no candidate selection.
        XCTAssertTrue(stages[2].hasPrefix("1. candidate selection") && stages[2].hasSuffix("(not run)"), explained.stderr)
        XCTAssertTrue(stages[5].hasPrefix("4. exact MaxSim") && stages[5].hasSuffix(" 5.0"), explained.stderr)
        XCTAssertEqual(try String(contentsOfFile: path("run2.tsv"), encoding: .utf8), try String(contentsOfFile: path("run.tsv"), encoding: .utf8))
        let lines = try String(contentsOfFile: path("run.tsv"), encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(lines.count, 12 * 5)
        let fields = lines[0].split(separator: " ")
        XCTAssertEqual(fields.count, 6)
        XCTAssertEqual(fields[0], "q0"); XCTAssertEqual(fields[1], "Q0"); XCTAssertEqual(fields[3], "1"); XCTAssertEqual(fields[5], "plaid")

        try plaid(["query", "--queries", embeddings + "/queries", "--k", "5", "--output", path("exact.tsv"),
                   "--exhaustive", "--embeddings", embeddings])
        let exact = try String(contentsOfFile: path("exact.tsv"), encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(exact.count, 12 * 5)
        // At 4 bits the staged search and the exhaustive search agree on most top-1 documents.
        let top1 = { (l: [Substring]) in l.filter { $0.split(separator: " ")[3] == "1" }.map { $0.split(separator: " ")[2] } }
        let agree = zip(top1(lines), top1(exact)).filter { $0 == $1 }.count
        XCTAssertGreaterThanOrEqual(agree, 10)
    }

    /// A document or query id that a TREC run cannot hold (empty, or with whitespace) stops `plaid
    /// query` before it searches, whether or not a search would return that document: it once
    /// searched every query and then refused the run only when such a document was retrieved.
    func testIDsATRECRunCannotHoldAreRefusedBeforeTheSearch() throws {
        let embeddings = try synthesize("emb", documents: 60, queries: 3)
        let idsPath = embeddings + "/doc_ids.json"
        var ids = try JSONDecoder().decode([String].self, from: Data(contentsOf: URL(fileURLWithPath: idsPath)))
        ids[5] = "doc five"
        try JSONEncoder().encode(ids).write(to: URL(fileURLWithPath: idsPath))
        let index = path("index")
        try plaid(["build", "--embeddings", embeddings, "--index", index, "--centroids", "16"])
        for k in ["1", "60"] {
            let refused = try plaid(["query", "--index", index, "--queries", embeddings + "/queries", "--k", k, "--output", path("run-\(k).tsv")],
                                    expect: 1)
            XCTAssertTrue(refused.stderr.contains("\"doc five\"") && refused.stderr.contains("TREC"), refused.stderr)
            XCTAssertTrue(refused.stderr.contains("plaid serve"), "says where such ids can be searched: \(refused.stderr)")
            XCTAssertFalse(refused.stderr.contains("queries/s"), "refused before searching: \(refused.stderr)")
            XCTAssertFalse(FileManager.default.fileExists(atPath: path("run-\(k).tsv")))
        }
        let exhaustive = try plaid(["query", "--exhaustive", "--embeddings", embeddings, "--queries", embeddings + "/queries", "--k", "1",
                                    "--output", path("exact.tsv")], expect: 1)
        XCTAssertTrue(exhaustive.stderr.contains("\"doc five\""), exhaustive.stderr)
        XCTAssertFalse(exhaustive.stderr.contains("queries/s"), exhaustive.stderr)
    }

    func testUserMistakesGiveOneClearSentence() throws {
        let embeddings = try synthesize("emb", documents: 40)
        let index = path("index")
        try plaid(["build", "--embeddings", embeddings, "--index", index])
        let again = try plaid(["build", "--embeddings", embeddings, "--index", index], expect: nil)
        XCTAssertNotEqual(again.status, 0)
        XCTAssertTrue(again.stderr.contains("--overwrite"), again.stderr)
        let missing = try plaid(["build", "--embeddings", path("nothing"), "--index", path("x")], expect: nil)
        XCTAssertNotEqual(missing.status, 0)
        XCTAssertTrue(missing.stderr.contains("doc_embeddings.npy"), missing.stderr)
        let badBits = try plaid(["build", "--embeddings", embeddings, "--index", path("y"), "--nbits", "3"], expect: nil)
        XCTAssertNotEqual(badBits.status, 0)
        XCTAssertTrue(badBits.stderr.contains("--nbits must be 1, 2 or 4"), badBits.stderr)
        let notIndex = try plaid(["info", "--index", embeddings], expect: nil)
        XCTAssertNotEqual(notIndex.status, 0)
        XCTAssertTrue(notIndex.stderr.contains("metadata.plaid"), notIndex.stderr)
        for output in [again, missing, badBits, notIndex] {
            XCTAssertFalse(output.stderr.contains("Fatal error") || output.stderr.contains("Stack dump"), output.stderr)
            XCTAssertLessThanOrEqual(output.stderr.split(separator: "\n").filter { !$0.hasPrefix("Usage") && !$0.hasPrefix("  See") && !$0.isEmpty }.count, 2, output.stderr)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("y")))
    }

    /// Kills `plaid build` once its streaming pass has started and checks that nothing is left at
    /// the index path, or that the index already there is untouched.
    func testKilledBuildLeavesNoIndexAndKeepsAnExistingOne() throws {
        let embeddings = try synthesize("emb", documents: 3000, dim: 64)
        let index = path("index")
        for overwrite in [false, true] {
            if overwrite { try plaid(["build", "--embeddings", embeddings, "--index", index, "--centroids", "32"]) }
            let before = overwrite ? try indexFiles(index) : [:]
            let (process, _, _) = try launch(["build", "--embeddings", embeddings, "--index", index, "--chunk-tokens", "64",
                                      "--centroids", "512"] + (overwrite ? ["--overwrite"] : []))
            func temporary() -> String? {
                (try? FileManager.default.contentsOfDirectory(atPath: directory))?
                    .first { $0.hasPrefix(".index.building-") && $0.contains("-\(process.processIdentifier)-") }.map(path)
            }
            let deadline = Date().addingTimeInterval(60)
            while !(temporary().map { FileManager.default.fileExists(atPath: $0 + "/seg-000000/codes.plaid") } ?? false) && process.isRunning && Date() < deadline { usleep(2_000) }
            XCTAssertTrue(process.isRunning, "the build finished before it could be killed; make the corpus larger")
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            if overwrite {
                XCTAssertEqual(try indexFiles(index), before, "the existing index changed")
                try plaid(["info", "--index", index])
            } else {
                XCTAssertFalse(FileManager.default.fileExists(atPath: index), "a killed build left an index")
            }
        }
        // The next build removes the killed builds' temporary directories.
        try plaid(["build", "--embeddings", embeddings, "--index", index, "--centroids", "32", "--overwrite"])
        let hidden = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasPrefix(".") }
        XCTAssertEqual(hidden, [])
    }

    /// `info --system` names the code paths this machine runs; a core type set outside plaid is
    /// the one OpenBLAS runs and is reported as such (plaid does not replace it).
    func testInfoSystemNamesTheCodePaths() throws {
        let machine = try plaid(["info", "--system"]).stdout
        for field in ["cpu:", "kernel level:", "encoder product:", "BLAS core:"] { XCTAssertTrue(machine.contains(field), machine) }
        XCTAssertFalse(machine.contains("BLAS core:        unknown"), machine)
        let chosen = try plaid(["info", "--system"], environment: ["OPENBLAS_CORETYPE": "Prescott"]).stdout
        XCTAssertTrue(chosen.contains("BLAS core:        Prescott (OPENBLAS_CORETYPE=Prescott set outside plaid)"), chosen)
        let json = try plaid(["info", "--system", "--json"]).stdout
        let decoded = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any]
        XCTAssertNotNil(decoded?["kernelLevel"] as? Int, json)
        let neither = try plaid(["info"], expect: nil)
        XCTAssertNotEqual(neither.status, 0)
        XCTAssertTrue(neither.stderr.contains("--index DIR") && neither.stderr.contains("--system"), neither.stderr)
    }
}
