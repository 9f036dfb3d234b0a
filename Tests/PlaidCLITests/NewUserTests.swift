import XCTest
import Foundation
import PlaidCore

/// The hazards and error messages a new user met, each run through the real binary.
final class NewUserTests: PlaidCLITestCase {
    /// A failure: non-zero exit, one line on stderr holding `message`, no stack dump.
    private func assertRefused(_ arguments: [String], _ message: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let result = try plaid(arguments, expect: nil)
        XCTAssertNotEqual(result.status, 0, arguments.joined(separator: " "), file: file, line: line)
        XCTAssertTrue(result.stderr.contains(message), "\(arguments.joined(separator: " ")): \(result.stderr)", file: file, line: line)
        let lines = result.stderr.split(separator: "\n").filter { !$0.hasPrefix("Usage") && !$0.hasPrefix("  See") }
        XCTAssertEqual(lines.count, 1, result.stderr, file: file, line: line)
        XCTAssertFalse(result.stderr.contains("Error Domain") || result.stderr.contains("Fatal error"), result.stderr, file: file, line: line)
    }

    /// A small index and its query embeddings.
    private func smallIndex() throws -> (index: String, queries: String, embeddings: String) {
        try plaid(["synthesize", "--documents", "80", "--dim", "32", "--min-tokens", "10", "--max-tokens", "20",
                   "--queries", "4", "--output", path("emb")])
        try plaid(["build", "--embeddings", path("emb"), "--index", path("index"), "--centroids", "16"])
        return (path("index"), path("emb/queries"), path("emb"))
    }

    func testOutputDashStreamsAndSpecialFilesAreNeverReplaced() throws {
        let (index, queries, _) = try smallIndex()
        let streamed = try plaid(["query", "--index", index, "--queries", queries, "--k", "3", "--output", "-", "--tag", "mine"])
        let lines = streamed.stdout.split(separator: "\n")
        XCTAssertEqual(lines.count, 12)
        XCTAssertTrue(lines.allSatisfy { $0.split(separator: " ").count == 6 && $0.hasSuffix(" mine") }, streamed.stdout)
        XCTAssertEqual(try plaid(["query", "--index", index, "--queries", queries, "--k", "3", "--output", "/dev/stdout"]).stdout.split(separator: "\n").count, 12)

        try FileManager.default.createDirectory(atPath: path("a-folder"), withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: path("link-to-folder"), withDestinationPath: path("a-folder"))
        try FileManager.default.createSymbolicLink(atPath: path("link-to-null"), withDestinationPath: "/dev/null")
        for (output, kind) in [(path("a-folder"), "is a directory"),
                               (path("link-to-folder"), "is a directory (through a symbolic link)")] {
            let refused = try plaid(["query", "--index", index, "--queries", queries, "--output", output], expect: nil)
            XCTAssertNotEqual(refused.status, 0)
            XCTAssertTrue(refused.stderr.contains(kind), refused.stderr)
            XCTAssertFalse(refused.stderr.contains("search:"), "the output was checked only after searching: \(refused.stderr)")
        }
        // /dev/null, the usual way to time a search, and character devices like it are written
        // through, never replaced, directly or through a link.
        for output in ["/dev/null", path("link-to-null")] {
            let timed = try plaid(["query", "--index", index, "--queries", queries, "--k", "3", "--output", output], expect: nil)
            XCTAssertEqual(timed.status, 0, timed.stderr)
        }
        var info = stat()
        XCTAssertEqual(stat("/dev/null", &info), 0)
        XCTAssertEqual(info.st_mode & S_IFMT, S_IFCHR, "/dev/null was replaced")
        XCTAssertEqual(try FileManager.default.destinationOfSymbolicLink(atPath: path("link-to-null")), "/dev/null")
        XCTAssertEqual(try FileManager.default.destinationOfSymbolicLink(atPath: path("link-to-folder")), path("a-folder"))
        // A link to a regular file is written through: the target changes, the link stays.
        try Data("old".utf8).write(to: URL(fileURLWithPath: path("target.run")))
        try FileManager.default.createSymbolicLink(atPath: path("link.run"), withDestinationPath: path("target.run"))
        try plaid(["query", "--index", index, "--queries", queries, "--k", "3", "--output", path("link.run")])
        XCTAssertEqual(try FileManager.default.destinationOfSymbolicLink(atPath: path("link.run")), path("target.run"))
        XCTAssertEqual(try String(contentsOfFile: path("target.run"), encoding: .utf8).split(separator: "\n").count, 12)
        // Missing folders of an output are made.
        try plaid(["query", "--index", index, "--queries", queries, "--k", "3", "--output", path("runs/today/run.tsv")])
        XCTAssertTrue(FileManager.default.fileExists(atPath: path("runs/today/run.tsv")))
    }

    func testErrorsAreOneSentence() throws {
        let (index, queries, embeddings) = try smallIndex()
        try Data("x".utf8).write(to: URL(fileURLWithPath: path("a-file")))
        try assertRefused(["encode", "--queries", path("q.tsv"), "--output-dir", path("a-file")], "does not exist")
        try "q1\thello there\n".write(toFile: path("q.tsv"), atomically: true, encoding: .utf8)
        try assertRefused(["encode", "--queries", path("q.tsv"), "--output-dir", path("a-file")], "a-file is a file")
        try assertRefused(["info", "--index", embeddings], "is not a plaid index")
        // A huge k asked for terabytes (an abort) or overflowed (a trap); a huge --dim wrote an
        // index no command could open.
        for k in ["99999999999", "9223372036854775807"] {
            try assertRefused(["query", "--index", index, "--queries", queries, "--k", k], "--k must be at most")
        }
        try assertRefused(["serve", "--index", path("huge-dim"), "--create", "--dim", "100000000", "--port", "0"], "--dim must be")
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("huge-dim")))
        try assertRefused(["info", "--index", path("a-file")], "is a file, not an index directory")
        // Found by a probe: a file at --index was called an index, and a file above it gave a
        // Foundation error number.
        for overwrite in [[], ["--overwrite"]] {
            try assertRefused(["build", "--embeddings", embeddings, "--index", path("a-file")] + overwrite, "a-file exists and is not a plaid index")
        }
        try assertRefused(["build", "--embeddings", embeddings, "--index", path("a-file/sub")], "a-file is a file, so")
        try FileManager.default.createDirectory(atPath: path("empty"), withIntermediateDirectories: false)
        try assertRefused(["build", "--embeddings", embeddings, "--index", path("empty")], "is an empty directory; pass --overwrite")
        try assertRefused(["query", "--index", index, "--queries", queries, "--k", "-5", "--output", path("r")], "--k must be at least 1, not -5")
        // Found by a probe: a NaN threshold was taken and changed the first result; a huge
        // iteration count ran for as long as asked.
        for threshold in ["nan", "inf", "3"] {
            try assertRefused(["query", "--index", index, "--queries", queries, "--centroid-score-threshold", threshold, "--output", path("r")],
                              "--centroid-score-threshold must be between -2 and 2")
        }
        try assertRefused(["build", "--embeddings", embeddings, "--index", path("i3"), "--kmeans-iterations", "9223372036854775807"],
                          "--kmeans-iterations must be between 0 and 1000")
        try assertRefused(["build", "--embeddings", embeddings, "--index", path("i2"), "--float16"], "--float16 goes with --save-embeddings")
        try assertRefused(["build", "--embeddings", embeddings, "--index", path("i2"), "--model", "m"], "--model goes with --collection")
        try assertRefused(["query", "--index", index, "--queries", queries, "--output", path("r"), "--tag", "two words"], "--tag must be one word")
        try assertRefused(["encode", "--input", path("q.tsv"), "--output-dir", path("e")], "--input needs --mode")
        // JSONL problems: said once, invisible characters shown.
        try "{\"_id\": \"a\", \"text\": \"unterminated\n".write(toFile: path("bad.jsonl"), atomically: true, encoding: .utf8)
        try assertRefused(["encode", "--collection", path("bad.jsonl"), "--output-dir", path("e")], "line 1: invalid JSON at column")
        let doubled = try plaid(["encode", "--collection", path("bad.jsonl"), "--output-dir", path("e")], expect: nil)
        XCTAssertEqual(doubled.stderr.components(separatedBy: "found the end of the line").count, 2, doubled.stderr)
        try Data("{\"_id\": \"a\", \"text\": \"x\"}\u{200B}\n".utf8).write(to: URL(fileURLWithPath: path("hidden.jsonl")))
        try assertRefused(["encode", "--collection", path("hidden.jsonl"), "--output-dir", path("e")], "found \"\\u{200B}\"")
        XCTAssertEqual(try plaid(["--version"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines), PlaidVersion.string)
    }

    func testIgnoredOptionsWarnOrAreRefused() throws {
        try plaid(["synthesize", "--documents", "30", "--dim", "16", "--min-tokens", "5", "--max-tokens", "8", "--output", path("emb")])
        let clamped = try plaid(["build", "--embeddings", path("emb"), "--index", path("index"), "--centroids", "100000"])
        XCTAssertTrue(clamped.stderr.contains("warning: --centroids 100000 became"), clamped.stderr)
        // query --exhaustive needs no index.
        try plaid(["synthesize", "--documents", "30", "--dim", "16", "--min-tokens", "5", "--max-tokens", "8", "--queries", "2", "--output", path("emb2")])
        try plaid(["query", "--exhaustive", "--embeddings", path("emb2"), "--queries", path("emb2/queries"), "--output", path("exact.run")])
        let help = try plaid(["build", "--help"]).stdout
        XCTAssertTrue(help.contains("Exactly one of --collection and --embeddings is required"), help)
        let queryHelp = try plaid(["query", "--help"]).stdout
        XCTAssertFalse(queryHelp.contains("). (default:"), queryHelp)
        // --quiet: nothing on stderr when all goes well.
        let quiet = try plaid(["build", "--embeddings", path("emb"), "--index", path("quiet"), "--centroids", "8", "--quiet"])
        XCTAssertEqual(quiet.stderr, "")
    }

    func testDefaultModelIsFoundFromAnyFolderAndAMissingOneNamesEveryPath() throws {
        try SciFactSlice.requireModel()
        try "q1\twhite matter development\n".write(toFile: path("q.tsv"), atomically: true, encoding: .utf8)
        let elsewhere = path("elsewhere")
        try FileManager.default.createDirectory(atPath: elsewhere, withIntermediateDirectories: true)
        try plaid(["encode", "--queries", path("q.tsv"), "--output-dir", path("qemb")], in: elsewhere)
        XCTAssertTrue(FileManager.default.fileExists(atPath: path("qemb/query_embeddings.npy")))
        // A plaid outside any checkout, with nothing assembled beside it: every absolute path tried is named.
        let copy = path("bin/plaid")
        try FileManager.default.createDirectory(atPath: path("bin"), withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: PlaidProcess.executable.path, toPath: copy)
        let missing = try plaid(["encode", "--queries", path("q.tsv"), "--output-dir", path("q2")], expect: nil, in: elsewhere,
                                environment: ["PLAID_DEFAULT_MODEL": path("nowhere")], executable: URL(fileURLWithPath: copy))
        XCTAssertNotEqual(missing.status, 0)
        for tried in [path("nowhere"), elsewhere + "/models/minilm-colbert", path("bin/models/minilm-colbert")] {
            XCTAssertTrue(missing.stderr.contains(tried), "\(tried) not named: \(missing.stderr)")
        }
        XCTAssertTrue(missing.stderr.contains("PLAID_DEFAULT_MODEL"), missing.stderr)
        // The variable names a model folder.
        try plaid(["encode", "--queries", path("q.tsv"), "--output-dir", path("q3")], in: elsewhere,
                  environment: ["PLAID_DEFAULT_MODEL": SciFactSlice.model], executable: URL(fileURLWithPath: copy))
    }

    /// Ctrl-C (SIGINT) and SIGTERM remove what the command was writing and exit with 130 and 143.
    func testInterruptedBuildsLeaveNothingBehind() throws {
        try SciFactSlice.requireModel()
        let dataset = try SciFactSlice.make(at: path("mini"), documents: 400)
        try plaid(["synthesize", "--documents", "3000", "--dim", "64", "--output", path("emb")])
        let cases: [(arguments: [String], staging: String, signal: Int32)] = [
            (["build", "--collection", dataset + "/corpus.jsonl", "--index", path("text-index")], ".text-index.embeddings-", SIGINT),
            (["build", "--embeddings", path("emb"), "--index", path("index"), "--centroids", "512", "--chunk-tokens", "64"], ".index.building-", SIGTERM),
        ]
        for (arguments, staging, signal) in cases {
            let (process, _, stderr) = try PlaidProcess(directory: directory).launch(arguments)
            let deadline = Date().addingTimeInterval(60)
            func stagingExists() -> Bool { ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).contains { $0.hasPrefix(staging) } }
            while !stagingExists() && process.isRunning && Date() < deadline { usleep(5_000) }
            usleep(300_000)
            XCTAssertTrue(process.isRunning, "finished before it could be interrupted")
            kill(process.processIdentifier, signal)
            process.waitUntilExit()
            XCTAssertEqual(process.terminationStatus, 128 + signal, (try? String(contentsOfFile: stderr, encoding: .utf8)) ?? "")
            let left = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasPrefix(".") }
            XCTAssertEqual(left, [], "\(arguments[0]) interrupted by signal \(signal) left files behind")
        }
    }

    func testIndexesRecordTheirModelAndQueriesOfAnotherModelAreCaught() throws {
        try SciFactSlice.requireModel()
        let dataset = try SciFactSlice.make(at: path("mini"), documents: 30)
        try plaid(["build", "--collection", dataset + "/corpus.jsonl", "--index", path("index"), "--centroids", "16"])
        let info = try plaid(["info", "--index", path("index"), "--json"]).stdout
        let object = try JSONSerialization.jsonObject(with: Data(info.utf8)) as! [String: Any]
        let model = object["model"] as! [String: Any]
        XCTAssertEqual(model["dim"] as? Int, 384)
        XCTAssertEqual(model["query_prefix"] as? String, "[Q] ")
        XCTAssertEqual((model["hash"] as? String)?.count, 16)
        XCTAssertTrue((object["created_by"] as? String)?.contains(PlaidVersion.string) ?? false)
        // Another model of the same dimension: the same weights with another query length.
        let other = path("other-model")
        try FileManager.default.createDirectory(atPath: other, withIntermediateDirectories: true)
        for entry in try FileManager.default.contentsOfDirectory(atPath: SciFactSlice.model) where entry != "config_sentence_transformers.json" {
            try FileManager.default.createSymbolicLink(atPath: other + "/" + entry, withDestinationPath: SciFactSlice.model + "/" + entry)
        }
        let settings = try String(contentsOfFile: SciFactSlice.model + "/config_sentence_transformers.json", encoding: .utf8)
        XCTAssertTrue(settings.contains("\"query_length\": 32"))
        try settings.replacingOccurrences(of: "\"query_length\": 32", with: "\"query_length\": 24").write(toFile: other + "/config_sentence_transformers.json", atomically: true, encoding: .utf8)
        try "q1\twhite matter\n".write(toFile: path("q.tsv"), atomically: true, encoding: .utf8)
        let warned = try plaid(["query", "--index", path("index"), "--model", other, "--queries", path("q.tsv"), "--output", path("r.run")])
        XCTAssertTrue(warned.stderr.contains("warning: the queries are encoded with"), warned.stderr)
        try assertRefused(["query", "--index", path("index"), "--model", other, "--queries", path("q.tsv"), "--output", path("r.run"), "--strict"],
                          "but the index was built with")
        let same = try plaid(["query", "--index", path("index"), "--queries", path("q.tsv"), "--output", path("r.run"), "--strict"])
        XCTAssertFalse(same.stderr.contains("warning"), same.stderr)
        // Embeddings written by encode carry their model to the index built from them.
        try plaid(["encode", "--collection", dataset + "/corpus.jsonl", "--output-dir", path("emb")])
        try assertRefused(["encode", "--collection", dataset + "/corpus.jsonl", "--output-dir", path("emb")], "pass --overwrite")
        try plaid(["build", "--embeddings", path("emb"), "--index", path("from-emb"), "--centroids", "16"])
        XCTAssertTrue(try plaid(["info", "--index", path("from-emb")]).stdout.contains("model hash:      \(model["hash"] as! String)"))
    }

    func testEvalIsHonestAboutWhatItRan() throws {
        try SciFactSlice.requireModel()
        let dataset = try SciFactSlice.make(at: path("mini"))
        let first = try plaid(["eval", "--dataset", dataset, "--centroids", "32", "--json", "--k", "10", "--run-dir", path("runs")], in: directory)
        let report = try JSONSerialization.jsonObject(with: Data(first.stdout.utf8)) as! [String: Any]
        XCTAssertEqual(report["cutoff"] as? Int, 10)
        XCTAssertEqual(report["nbits"] as? Int, 2)
        let plaidScores = report["plaid"] as! [String: Any]
        XCTAssertNotNil(plaidScores["recall_at_cutoff"])
        let parameters = report["parameters"] as! [String: Any]
        XCTAssertEqual(parameters["ndocs"] as? Int, 256)
        for name in ["plaid.run", "exhaustive.run"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: path("runs/\(name)")), name)
        }
        // The cache is in the current folder, keyed by model, precision and corpus.
        let caches = try FileManager.default.contentsOfDirectory(atPath: path(".plaid-work"))
        XCTAssertEqual(caches.count, 1)
        XCTAssertTrue(caches[0].hasPrefix("mini-minilm-colbert-"), caches[0])
        // A second run reuses everything: the same keys, null for the stages that did not run.
        let second = try plaid(["eval", "--dataset", dataset, "--centroids", "32", "--json", "--k", "10"], in: directory)
        let reused = try JSONSerialization.jsonObject(with: Data(second.stdout.utf8)) as! [String: Any]
        XCTAssertEqual(Set(reused.keys), Set(report.keys))
        XCTAssertTrue(reused["encode_seconds"] is NSNull && reused["build_seconds"] is NSNull, second.stdout)
        let table = try plaid(["eval", "--dataset", dataset, "--centroids", "32", "--k", "10"], in: directory).stdout
        XCTAssertTrue(table.contains("Recall@10") && table.contains("MAP@10"), table)
        XCTAssertFalse(table.contains("@100"), "a metric labelled deeper than k: \(table)")
        // float32 gets embeddings of its own.
        try plaid(["eval", "--dataset", dataset, "--centroids", "32", "--k", "10", "--precision", "float32", "--quiet"], in: directory)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: path(".plaid-work")).count, 2)
        // Asking for another nbits of a reused index is refused, not misreported.
        let work = path(".plaid-work/\(caches[0])")
        try assertRefused(["eval", "--dataset", dataset, "--work", work, "--index", work + "/index-2bit", "--nbits", "4", "--centroids", "32", "--quiet"],
                          "nbits 2 (asked: 4)")
        // A run file scored as it is.
        let scored = try plaid(["eval", "--dataset", dataset, "--run", path("runs/plaid.run"), "--k", "10"])
        XCTAssertTrue(scored.stdout.contains("| run ") && scored.stdout.contains("Recall@10"), scored.stdout)
        // The share of exhaustive MaxSim's top-10 kept: reported by the search, and recomputed
        // from the two runs it wrote; an exhaustive run keeps all of its own.
        let share = try XCTUnwrap(report["top10_share"] as? Double)
        let recomputed = try plaid(["eval", "--dataset", dataset, "--run", path("runs/plaid.run"), "--reference", path("runs/exhaustive.run"), "--k", "10", "--json"])
        let recomputedReport = try JSONSerialization.jsonObject(with: Data(recomputed.stdout.utf8)) as! [String: Any]
        XCTAssertEqual(try XCTUnwrap(recomputedReport["top10_share"] as? Double), share, accuracy: 1e-12)
        XCTAssertTrue(share > 0 && share <= 1, "\(share)")
        // A qrels file instead of the dataset folder scores the run the same.
        let byQrels = try plaid(["eval", "--qrels", dataset + "/qrels/test.tsv", "--run", path("runs/plaid.run"), "--reference", path("runs/exhaustive.run"), "--k", "10", "--json"])
        let byQrelsReport = try JSONSerialization.jsonObject(with: Data(byQrels.stdout.utf8)) as! [String: Any]
        XCTAssertEqual(byQrelsReport["run"] as? NSDictionary, recomputedReport["run"] as? NSDictionary)
        try assertRefused(["eval", "--run", path("runs/plaid.run")], "Give --dataset (a BEIR folder), or --run with --qrels FILE.")
        let itself = try plaid(["eval", "--dataset", dataset, "--run", path("runs/exhaustive.run"), "--reference", path("runs/exhaustive.run"), "--k", "10"])
        XCTAssertTrue(itself.stdout.contains("top-10 kept from the reference's top-10: 1.0000"), itself.stdout)
    }
}
