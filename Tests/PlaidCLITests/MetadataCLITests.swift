import XCTest
import Foundation
import PlaidCore

/// Metadata and filters through the command line: bad input is one sentence and writes nothing.
final class MetadataCLITests: PlaidCLITestCase {
    private func write(_ lines: [String], to name: String) throws -> String {
        try (lines.joined(separator: "\n") + "\n").write(toFile: path(name), atomically: true, encoding: .utf8)
        return path(name)
    }

    func testMetadataInFiltersOutAndBadInputChangesNothing() throws {
        try plaid(["synthesize", "--documents", "40", "--dim", "32", "--min-tokens", "8", "--max-tokens", "16", "--queries", "3", "--output", path("emb")])
        let metadata = try write((0..<40).map { #"{"id": "doc\#($0)", "year": \#(2000 + $0), "source": "\#($0 % 2 == 0 ? "pubmed" : "pmc")"}"# }, to: "meta.jsonl")
        try plaid(["build", "--embeddings", path("emb"), "--metadata", metadata, "--index", path("index"), "--centroids", "16"])
        let listed = try plaid(["metadata", "--index", path("index"), "--filter", "year >= ? AND source = 'pubmed'", "--filter-param", "2030"]).stdout
        XCTAssertEqual(listed.split(separator: "\n").map { String($0.split(separator: "\t")[0]) }, ["doc30", "doc32", "doc34", "doc36", "doc38"])
        let run = try plaid(["query", "--index", path("index"), "--queries", path("emb/queries"), "--filter", "source = 'pmc'", "--k", "5", "--output", "-"]).stdout
        let returned = run.split(separator: "\n").map { Int($0.split(separator: " ")[2].dropFirst(3))! }
        XCTAssertEqual(returned.count, 15)
        XCTAssertTrue(returned.allSatisfy { $0 % 2 == 1 }, run)

        try plaid(["synthesize", "--documents", "4", "--dim", "32", "--min-tokens", "8", "--max-tokens", "16", "--seed", "9", "--output", path("more")])
        try EmbeddingsLayout.writeIDs(["m0", "m1", "m2", "m3"], path: path("more/doc_ids.json"))
        let indexFiles = { try FileManager.default.subpathsOfDirectory(atPath: self.path("index")).sorted() }
        let before = try indexFiles()
        let malformed = try write([#"{"id": "m0", "year": 2001}"#, #"{"id": "m1", "year": }"#], to: "malformed.jsonl")
        let stranger = try write([#"{"id": "m0"}"#, #"{"id": "stranger", "year": 1}"#], to: "stranger.jsonl")
        let clash = try write([#"{"id": "m0", "year": "last year"}"#], to: "clash.jsonl")
        let cases: [([String], String)] = [
            (["add", "--index", path("index"), "--embeddings", path("more"), "--metadata", malformed], "malformed.jsonl: line 2: expected one JSON object"),
            (["add", "--index", path("index"), "--embeddings", path("more"), "--metadata", stranger], "stranger.jsonl: line 2: document 'stranger' is not in the batch"),
            (["add", "--index", path("index"), "--embeddings", path("more"), "--metadata", clash], "field 'year' is integer in document 'doc0' but string in document 'm0'"),
            (["query", "--index", path("index"), "--queries", path("emb/queries"), "--filter", "yeer > 1", "--output", path("r.run")], "unknown field 'yeer'"),
            (["query", "--index", path("index"), "--queries", path("emb/queries"), "--filter", "1; DELETE FROM metadata", "--output", path("r.run")], "syntax error"),
            (["metadata", "--index", path("index"), "--filter", "(SELECT 1 FROM sqlite_master)"], "may only read the metadata fields"),
        ]
        for (arguments, message) in cases {
            let result = try plaid(arguments, expect: nil)
            XCTAssertNotEqual(result.status, 0)
            XCTAssertTrue(result.stderr.contains(message), "\(arguments.joined(separator: " ")): \(result.stderr)")
            XCTAssertEqual(result.stderr.split(separator: "\n").count, 1, result.stderr)
        }
        XCTAssertEqual(try indexFiles(), before)
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("r.run")))
        // A good metadata file commits with its documents.
        let good = try write([#"{"id": "m2", "year": 1999, "source": "web"}"#], to: "good.jsonl")
        try plaid(["add", "--index", path("index"), "--embeddings", path("more"), "--metadata", good])
        XCTAssertEqual(try plaid(["metadata", "--index", path("index"), "--filter", "source = 'web'"]).stdout, "m2\t{\"source\":\"web\",\"year\":1999}\n")
    }

    /// A filter that closes plaid's WHERE clause to add rows of its own is one sentence from every
    /// command that filters, not a crash.
    func testFilterThatLeavesItsExpressionIsOneSentence() throws {
        try plaid(["synthesize", "--documents", "20", "--dim", "32", "--min-tokens", "8", "--max-tokens", "16", "--queries", "2", "--output", path("emb")])
        try plaid(["build", "--embeddings", path("emb"), "--index", path("index"), "--centroids", "8"])
        for command in [["metadata", "--index", path("index")], ["query", "--index", path("index"), "--queries", path("emb/queries"), "--output", "-"]] {
            let result = try plaid(command + ["--filter", "0) UNION ALL SELECT -1 WHERE (1"], expect: nil)
            XCTAssertNotEqual(result.status, 0)
            XCTAssertTrue(result.stderr.contains("closes a parenthesis it did not open"), "\(command[0]): \(result.stderr)")
            XCTAssertEqual(result.stderr.split(separator: "\n").count, 1, result.stderr)
        }
        // --filter-time-limit stops a slow filter with one sentence.
        let slow = try plaid(["metadata", "--index", path("index"), "--filter", "length(upper(lower(upper(hex(zeroblob(500000 + length(id))))))) > 0",
                              "--filter-time-limit", "0.01"], expect: nil)
        XCTAssertNotEqual(slow.status, 0)
        XCTAssertTrue(slow.stderr.contains("ran past its time limit of 0.01 seconds"), slow.stderr)
        XCTAssertEqual(slow.stderr.split(separator: "\n").count, 1, slow.stderr)
    }
}
