import Foundation
import PlaidCore
import PlaidEvaluation
import XCTest

final class FileFormatTests: XCTestCase {
    var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("plaid-eval-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: directory)
    }

    func write(_ name: String, _ text: String) throws -> String {
        let url = directory.appendingPathComponent(name)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(text.utf8).write(to: url)
        return url.path
    }

    func assertInvalidInput(_ body: @autoclosure () throws -> Any, file: String, mentions: [String],
                            line: UInt = #line) {
        XCTAssertThrowsError(try body(), line: line) { error in
            guard case let PlaidError.invalidInput(errorFile, detail)? = error as? PlaidError else {
                return XCTFail("expected invalidInput, got \(error)", line: line)
            }
            XCTAssertEqual(errorFile, file, line: line)
            for word in mentions { XCTAssertTrue(detail.contains(word), "\(detail) lacks \(word)", line: line) }
        }
    }

    /// The ids a TREC run can hold: not empty, no Unicode whitespace, ASCII or not.
    func testWhichIDsATRECRunCanHold() {
        for id in ["doc1", "MED-10", "é", "日本", "a_b", "a\u{1C}b"] { XCTAssertTrue(Run.fitsTREC(id), id) }
        for id in ["", "a b", "a\tb", "a\u{0B}b", "a\r\nb", "é b", "a\u{00A0}b", "a\u{2003}b", "\u{85}"] {
            XCTAssertFalse(Run.fitsTREC(id), id.debugDescription)
        }
    }

    func testRunFileRoundTripKeepsScoresExactly() throws {
        let run = Run(["q2": ["b": 0.1, "a": 0.1, "c": 1e-7], "q1": ["x": -3.25, "y": 12345.678901234567]])
        let path = directory.appendingPathComponent("run.trec").path
        try run.writeTREC(path: path, tag: "test")
        XCTAssertEqual(try Run.readTREC(path: path), run)
        let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(lines[0], "q1 Q0 y 1 12345.678901234567 test")
        // Ties in trec_eval order, so the rank column agrees with the scores.
        XCTAssertEqual(lines[2...4].map { String($0.split(separator: " ")[2]) }, ["b", "a", "c"])
        XCTAssertEqual(lines[4], "q2 Q0 c 3 1e-07 test")
    }

    func testRunFileErrorsNameTheLine() throws {
        let dup = try write("dup.trec", "q Q0 a 1 2.0 t\nq Q0 b 2 1.0 t\nq Q0 a 3 0.5 t\n")
        assertInvalidInput(try Run.readTREC(path: dup), file: dup, mentions: ["line 3", "\"a\"", "line 1"])
        let short = try write("short.trec", "q Q0 a 1 2.0 t\nq Q0 b 2 1.0\n")
        assertInvalidInput(try Run.readTREC(path: short), file: short, mentions: ["line 2", "6 fields", "found 5"])
        let score = try write("score.trec", "q Q0 a 1 high t\n")
        assertInvalidInput(try Run.readTREC(path: score), file: score, mentions: ["line 1", "score", "high"])
    }

    func testQrelsInBEIRAndTRECForm() throws {
        let beir = try write("beir.tsv", "query-id\tcorpus-id\tscore\r\nq1\td1\t1\r\nq1\td2\t0\r\nq2\td1\t2\r\n")
        XCTAssertEqual(try Qrels.load(path: beir), Qrels(["q1": ["d1": 1, "d2": 0], "q2": ["d1": 2]]))
        let trec = try write("qrels.txt", "q1 0 d1 1\nq1 0 d2 0\n\nq2 0 d1 2\n")
        XCTAssertEqual(try Qrels.load(path: trec), Qrels(["q1": ["d1": 1, "d2": 0], "q2": ["d1": 2]]))
        let bad = try write("bad.tsv", "query-id\tcorpus-id\tscore\nq1\td1\t1\nq1\td2\tyes\n")
        assertInvalidInput(try Qrels.load(path: bad), file: bad, mentions: ["line 3", "integer", "yes"])
        let fields = try write("fields.tsv", "q1\td1\n")
        assertInvalidInput(try Qrels.load(path: fields), file: fields, mentions: ["line 1", "found 2 fields"])
        // Found by a probe: an empty qrels file gave every metric as 0.0000 and exit 0.
        for (name, text) in [("empty.tsv", ""), ("header-only.tsv", "query-id\tcorpus-id\tscore\n")] {
            let empty = try write(name, text)
            assertInvalidInput(try Qrels.load(path: empty), file: empty, mentions: ["no judgments"])
        }
    }

    func testBEIRDatasetMissingSplitListsTheSplitsThatExist() throws {
        _ = try write("ds/corpus.jsonl", "{\"_id\": \"d1\", \"title\": \"T\", \"text\": \"x\"}\n")
        _ = try write("ds/queries.jsonl", "{\"_id\": \"q1\", \"text\": \"y\"}\n{\"_id\": \"q2\", \"text\": \"z\"}\n")
        _ = try write("ds/qrels/test.tsv", "query-id\tcorpus-id\tscore\nq1\td1\t1\n")
        _ = try write("ds/qrels/dev.tsv", "query-id\tcorpus-id\tscore\nq2\td1\t1\n")
        let path = directory.appendingPathComponent("ds").path
        XCTAssertThrowsError(try BEIRDataset(path: path, split: "train")) { error in
            guard case let PlaidError.missingFile(missing, hint)? = error as? PlaidError else { return XCTFail("\(error)") }
            XCTAssertEqual(missing, path + "/qrels/train.tsv")
            XCTAssertTrue(hint.contains("dev, test"), hint)
        }
        let dataset = try BEIRDataset(path: path)
        let qrels = try dataset.loadQrels()
        XCTAssertEqual(try dataset.loadQueries(judgedBy: qrels), [TextRecord(id: "q1", text: "y")])
        XCTAssertEqual(try dataset.loadCorpus(), [TextRecord(id: "d1", text: "T x")])
    }

    /// The committed SciFact copy: counts from datasets/README.md, and the load time of its 8 MB corpus.
    func testSciFact() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let path = root.appendingPathComponent("datasets/scifact").path
        try XCTSkipUnless(FileManager.default.fileExists(atPath: path), "datasets/scifact is not in this checkout")
        let dataset = try BEIRDataset(path: path, split: "test")
        let start = Date()
        let corpus = try dataset.loadCorpus()
        let seconds = Date().timeIntervalSince(start)
        print("SciFact corpus: \(corpus.count) documents read in \(String(format: "%.3f", seconds)) s")
        XCTAssertEqual(corpus.count, 5183)
        let qrels = try dataset.loadQrels()
        XCTAssertEqual(qrels.judgments.count, 300)
        XCTAssertEqual(qrels.judgments.values.reduce(0) { $0 + $1.count }, 339)
        XCTAssertEqual(try dataset.loadQueries(judgedBy: qrels).count, 300)
        XCTAssertEqual(BEIRDataset.availableSplits(path: path), ["test", "train"])
        let ids = Set(corpus.map(\.id))
        XCTAssertTrue(qrels.judgments.values.allSatisfy { $0.keys.allSatisfy(ids.contains) })
    }
}
