import XCTest
import Foundation

/// The README's command-line and server blocks, run as written (bash, `set -eu`) on a slice of
/// SciFact, with `P` set to the plaid built beside the tests.
final class ReadmeExampleTests: PlaidCLITestCase {
    func testTheReadmeCommandLineBlockRunsAsWritten() throws {
        try SciFactSlice.requireModel()
        let readme = try String(contentsOfFile: SciFactSlice.root + "/README.md", encoding: .utf8)
        guard let begin = readme.range(of: "<!-- readme-example:begin -->"), let end = readme.range(of: "<!-- readme-example:end -->") else {
            return XCTFail("README.md has no readme-example block")
        }
        let block = readme[begin.upperBound..<end.lowerBound].split(separator: "\n").filter { !$0.hasPrefix("```") }.joined(separator: "\n")
        let directory = (NSTemporaryDirectory() as NSString).appendingPathComponent("plaid-readme-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try SciFactSlice.make(at: directory)
        // Queries: the judged ones only, to keep it short; more.jsonl: two changed documents and a new one.
        let judged = Set(try String(contentsOfFile: directory + "/qrels/test.tsv", encoding: .utf8).split(separator: "\n").dropFirst()
            .map { String($0.split(separator: "\t")[0]) })
        let queries = try String(contentsOfFile: directory + "/queries.jsonl", encoding: .utf8).split(separator: "\n").filter { line in
            judged.contains { line.hasPrefix("{\"_id\": \"\($0)\"") }
        }
        XCTAssertEqual(queries.count, judged.count)
        try (queries.joined(separator: "\n") + "\n").write(toFile: directory + "/queries.jsonl", atomically: true, encoding: .utf8)
        let corpus = try String(contentsOfFile: directory + "/corpus.jsonl", encoding: .utf8).split(separator: "\n")
        let more = corpus.prefix(2).map { $0.replacingOccurrences(of: "\"text\": \"", with: "\"text\": \"Revised. ") }
            + ["{\"_id\": \"new-1\", \"title\": \"A new document\", \"text\": \"White matter develops in the brains of infants.\"}"]
        try (more.joined(separator: "\n") + "\n").write(toFile: directory + "/more.jsonl", atomically: true, encoding: .utf8)

        let bash = Process()
        bash.executableURL = URL(fileURLWithPath: "/bin/bash")
        bash.arguments = ["-eu", "-c", block]
        bash.currentDirectoryURL = URL(fileURLWithPath: directory)
        var environment = ProcessInfo.processInfo.environment
        environment["P"] = PlaidProcess.executable.path
        bash.environment = environment
        let output = directory + "/stdout", errors = directory + "/stderr"
        FileManager.default.createFile(atPath: output, contents: nil)
        FileManager.default.createFile(atPath: errors, contents: nil)
        bash.standardOutput = FileHandle(forWritingAtPath: output)
        bash.standardError = FileHandle(forWritingAtPath: errors)
        try bash.run()
        bash.waitUntilExit()
        let stdout = try String(contentsOfFile: output, encoding: .utf8), stderr = try String(contentsOfFile: errors, encoding: .utf8)
        XCTAssertEqual(bash.terminationStatus, 0, "the README block failed:\n\(stderr)")
        // What the block shows: three run lines with the tag, the index facts, both eval tables.
        XCTAssertEqual(stdout.split(separator: "\n").filter { $0.hasSuffix(" first-try") }.count, 3, stdout)
        XCTAssertTrue(stdout.contains("generation:      1"), stdout)
        XCTAssertTrue(stdout.contains("| PLAID ") && stdout.contains("| run "), stdout)
        let info = try JSONSerialization.jsonObject(with: Data(try PlaidProcess(directory: directory)
            .run(["info", "--index", directory + "/idx", "--json"]).stdout.utf8)) as! [String: Any]
        // 60 documents, one added, one deleted, compacted.
        XCTAssertEqual(info["documents"] as? Int, 60)
        XCTAssertEqual(info["deleted"] as? Int, 0)
        XCTAssertEqual(info["segments"] as? Int, 1)
        XCTAssertEqual(info["generation"] as? Int, 4)
    }

    /// The README's curl block against `plaid serve --model` on a 30-document slice: every
    /// request but the last (an error shown on purpose) answers 2xx (`curl -f`).
    func testTheReadmeServerBlockRunsAsWritten() throws {
        try SciFactSlice.requireModel()
        let readme = try String(contentsOfFile: SciFactSlice.root + "/README.md", encoding: .utf8)
        guard let begin = readme.range(of: "<!-- readme-server-example:begin -->"), let end = readme.range(of: "<!-- readme-server-example:end -->") else {
            return XCTFail("README.md has no readme-server-example block")
        }
        let block = readme[begin.upperBound..<end.lowerBound].split(separator: "\n").filter { !$0.hasPrefix("```") }.joined(separator: "\n")
        let data = try SciFactSlice.make(at: path("scifact"), documents: 30)
        try plaid(["build", "--collection", data + "/corpus.jsonl", "--index", path("idx"), "--centroids", "32", "--model", SciFactSlice.model])
        let server = try ServerProcess(self, arguments: ["--index", path("idx"), "--model", SciFactSlice.model])
        let result = try PlaidProcess(directory: directory, workingDirectory: directory,
                                      environment: ["URL": "http://127.0.0.1:\(server.port)"], executable: URL(fileURLWithPath: "/bin/bash"))
            .run(["-eu", "-c", block])
        XCTAssertEqual(result.status, 0, "the README server block failed:\n\(result.stderr)\n\(result.stdout)")
        XCTAssertTrue(result.stdout.contains(#"{"status":"ok"}"#), result.stdout)
        XCTAssertTrue(result.stdout.contains(#""added":1"#), result.stdout)
        XCTAssertTrue(result.stdout.contains(#"{"results":[[{"id":"note-1","metadata":{"topic":"nutrition","year":2024},"score":"#), result.stdout)
        XCTAssertTrue(result.stdout.contains(#""deleted":1"#), result.stdout)
        XCTAssertTrue(result.stdout.hasSuffix(#"{"error":"k must be between 1 and 1000 (--max-k), not 0"}"#), result.stdout)
        XCTAssertEqual(server.stop(), 0, server.stderr)
    }
}
