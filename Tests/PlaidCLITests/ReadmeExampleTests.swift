import XCTest
import Foundation

/// The shell blocks of the README and of the pages under docs/, run as written (bash, `set -eu`)
/// with the `plaid` built beside the tests first on `PATH` and in `P`.
///
/// Only marked blocks run; the others are shown, not run (a server that stays up, a long benchmark):
/// - `<!-- readme-example:begin -->` … `<!-- readme-example:end -->`: the fenced blocks between the
///   markers run, in order, in a fresh folder holding a 60-document slice of SciFact
///   (`corpus.jsonl`, `queries.jsonl` with the judged queries only, `qrels/test.tsv`) and
///   `more.jsonl` (two changed documents and a new one).
/// - `<!-- readme-server-example:begin -->` … `<!-- readme-server-example:end -->`: the fenced
///   blocks run against `plaid serve --model` on the default model, with `URL` set to its address.
///   The README's serve the index its quickstart built; the docs' a 30-document slice of SciFact.
final class ReadmeExampleTests: PlaidCLITestCase {
    static let commandLineMarker = "readme-example"
    static let serverMarker = "readme-server-example"

    /// Index, search, serve: the quickstart's texts come back for the questions that name them.
    func testTheReadmeQuickstartRunsAsWritten() throws {
        try SciFactSlice.requireModel()
        let folder = try commandLineFolder("readme")
        let output = try runBlocks(Self.commandLineMarker, of: "README.md", in: folder)
        XCTAssertTrue(output.contains("q1 Q0 vitamin-d 1 "), output)
        XCTAssertTrue(output.contains("q2 Q0 espresso 1 "), output)
        let served = try runBlocks(Self.serverMarker, of: "README.md", servingIndex: folder + "/notes.plaid")
        XCTAssertTrue(served.contains(#"{"results":[[{"id":"espresso","metadata":{"topic":"cooking"},"score":"#), served)
        XCTAssertTrue(served.contains(#""added":1"#), served)
    }

    /// docs/cli.md's block, every command once: the run lines with their tag, the index facts, both
    /// eval tables, and the index after its add, delete and compaction.
    func testTheCommandLineGuideRunsAsWritten() throws {
        try SciFactSlice.requireModel()
        let folder = try commandLineFolder("cli")
        let stdout = try runBlocks(Self.commandLineMarker, of: "docs/cli.md", in: folder)
        XCTAssertEqual(stdout.split(separator: "\n").filter { $0.hasSuffix(" first-try") }.count, 3, stdout)
        XCTAssertTrue(stdout.contains("generation:      1"), stdout)
        XCTAssertTrue(stdout.contains("| PLAID ") && stdout.contains("| run "), stdout)
        let info = try JSONSerialization.jsonObject(with: Data(try PlaidProcess(directory: directory)
            .run(["info", "--index", folder + "/idx", "--json"]).stdout.utf8)) as! [String: Any]
        // 60 documents, one added, one deleted, compacted.
        XCTAssertEqual(info["documents"] as? Int, 60)
        XCTAssertEqual(info["deleted"] as? Int, 0)
        XCTAssertEqual(info["segments"] as? Int, 1)
        XCTAssertEqual(info["generation"] as? Int, 4)
    }

    /// docs/server.md's curl block: every request but the last (an error shown on purpose) answers
    /// 2xx (`curl -f`).
    func testTheServerGuideRunsAsWritten() throws {
        try SciFactSlice.requireModel()
        let result = try runBlocks(Self.serverMarker, of: "docs/server.md", servingIndex: try slicedIndex())
        XCTAssertTrue(result.contains(#"{"status":"ok"}"#), result)
        XCTAssertTrue(result.contains(#""added":1"#), result)
        XCTAssertTrue(result.contains(#"{"results":[[{"id":"note-1","metadata":{"topic":"nutrition","year":2024},"score":"#), result)
        XCTAssertTrue(result.contains(#""deleted":1"#), result)
        XCTAssertTrue(result.hasSuffix(#"{"error":"k must be between 1 and 1000 (--max-k), not 0"}"#), result)
    }

    /// Every other page under docs/ runs its marked blocks too, so a new page's examples are tested
    /// without a test of their own; the metadata page's filter keeps its best match out.
    func testEveryOtherDocsPageRunsAsWritten() throws {
        try SciFactSlice.requireModel()
        let pages = try FileManager.default.contentsOfDirectory(atPath: SciFactSlice.root + "/docs")
            .filter { $0.hasSuffix(".md") }.sorted().map { "docs/" + $0 }
            .filter { !["docs/cli.md", "docs/server.md"].contains($0) }
        var outputs: [String: String] = [:]
        for page in pages {
            let text = try contents(of: page)
            if try !fencedBlocks(Self.commandLineMarker, in: text, of: page).isEmpty {
                outputs[page, default: ""] += try runBlocks(Self.commandLineMarker, of: page, in: try commandLineFolder(page))
            }
            if try !fencedBlocks(Self.serverMarker, in: text, of: page).isEmpty {
                outputs[page, default: ""] += try runBlocks(Self.serverMarker, of: page, servingIndex: try slicedIndex())
            }
        }
        // p1 is the best match for bones, but from 2019: the year filter leaves p3 first.
        let metadata = try XCTUnwrap(outputs["docs/metadata.md"], "docs/metadata.md has no marked block")
        XCTAssertTrue(metadata.contains("q1 Q0 p3 1 "), metadata)
        XCTAssertFalse(metadata.contains("q1 Q0 p1 "), metadata)
    }

    // MARK: Blocks

    private func contents(of page: String) throws -> String {
        try String(contentsOfFile: SciFactSlice.root + "/" + page, encoding: .utf8)
    }

    /// The fenced blocks between each `<!-- marker:begin -->` and `<!-- marker:end -->` of `text`, in
    /// order, without their fences; prose between the fences is left out.
    private func fencedBlocks(_ marker: String, in text: String, of page: String) throws -> [String] {
        let begin = "<!-- \(marker):begin -->", end = "<!-- \(marker):end -->"
        var blocks: [String] = []
        var rest = text[...]
        while let opening = rest.range(of: begin) {
            guard let closing = rest.range(of: end, range: opening.upperBound..<rest.endIndex) else {
                XCTFail("\(page): \(begin) has no \(end)")
                return blocks
            }
            var inside = false
            var lines: [Substring] = []
            for line in rest[opening.upperBound..<closing.lowerBound].split(separator: "\n", omittingEmptySubsequences: false) {
                if line.hasPrefix("```") {
                    if inside { blocks.append(lines.joined(separator: "\n")); lines = [] }
                    inside.toggle()
                } else if inside {
                    lines.append(line)
                }
            }
            XCTAssertFalse(inside, "\(page): a fence between the \(marker) markers is not closed")
            rest = rest[closing.upperBound...]
        }
        XCTAssertNil(rest.range(of: end), "\(page): \(end) without its \(begin)")
        return blocks
    }

    /// Runs the `marker` blocks of `page` as one bash script; returns its standard output, after
    /// checking that it exited 0 (the server blocks' last request may fail on purpose: no `-f`).
    private func runBlocks(_ marker: String, of page: String, in folder: String? = nil, servingIndex index: String? = nil) throws -> String {
        let blocks = try fencedBlocks(marker, in: try contents(of: page), of: page)
        guard !blocks.isEmpty else {
            XCTFail("\(page) has no \(marker) block")
            return ""
        }
        let executable = PlaidProcess.executable
        var environment: [String: String?] = [
            "P": executable.path,
            "PATH": executable.deletingLastPathComponent().path + ":" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"),
        ]
        var server: ServerProcess?
        if let index {
            server = try ServerProcess(self, arguments: ["--index", index, "--model", SciFactSlice.model])
            environment["URL"] = "http://127.0.0.1:\(server!.port)"
        }
        let result = try PlaidProcess(directory: directory, workingDirectory: folder ?? directory, environment: environment,
                                      executable: URL(fileURLWithPath: "/bin/bash"))
            .run(["-eu", "-c", blocks.joined(separator: "\n")])
        XCTAssertEqual(result.status, 0, "the \(marker) blocks of \(page) failed:\n\(result.stderr)\n\(result.stdout)")
        if let server { XCTAssertEqual(server.stop(), 0, server.stderr) }
        return result.stdout
    }

    // MARK: Folders

    /// A fresh folder with a 60-document SciFact slice: the judged queries only, to keep it short;
    /// more.jsonl holds two changed documents and a new one.
    private func commandLineFolder(_ name: String) throws -> String {
        let folder = path("blocks-" + name.replacingOccurrences(of: "/", with: "-"))
        try SciFactSlice.make(at: folder)
        let judged = Set(try String(contentsOfFile: folder + "/qrels/test.tsv", encoding: .utf8).split(separator: "\n").dropFirst()
            .map { String($0.split(separator: "\t")[0]) })
        let queries = try String(contentsOfFile: folder + "/queries.jsonl", encoding: .utf8).split(separator: "\n").filter { line in
            judged.contains { line.hasPrefix("{\"_id\": \"\($0)\"") }
        }
        XCTAssertEqual(queries.count, judged.count)
        try (queries.joined(separator: "\n") + "\n").write(toFile: folder + "/queries.jsonl", atomically: true, encoding: .utf8)
        let corpus = try String(contentsOfFile: folder + "/corpus.jsonl", encoding: .utf8).split(separator: "\n")
        let more = corpus.prefix(2).map { $0.replacingOccurrences(of: "\"text\": \"", with: "\"text\": \"Revised. ") }
            + ["{\"_id\": \"new-1\", \"title\": \"A new document\", \"text\": \"White matter develops in the brains of infants.\"}"]
        try (more.joined(separator: "\n") + "\n").write(toFile: folder + "/more.jsonl", atomically: true, encoding: .utf8)
        return folder
    }

    /// A fresh index of the first 30 SciFact documents, for the docs' server blocks.
    private func slicedIndex() throws -> String {
        let name = "served-\(UUID().uuidString)"
        let data = try SciFactSlice.make(at: path(name + "-data"), documents: 30)
        try plaid(["build", "--collection", data + "/corpus.jsonl", "--index", path(name), "--centroids", "32", "--model", SciFactSlice.model])
        return path(name)
    }
}
