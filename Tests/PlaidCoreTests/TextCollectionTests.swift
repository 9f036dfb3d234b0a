import Foundation
@testable import PlaidCore
import XCTest

final class TextCollectionTests: XCTestCase {
    var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("plaid-text-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: directory)
    }

    func write(_ name: String, _ text: String) throws -> String {
        try write(name, bytes: Array(text.utf8))
    }

    func write(_ name: String, bytes: [UInt8]) throws -> String {
        let url = directory.appendingPathComponent(name)
        try Data(bytes).write(to: url)
        return url.path
    }

    func assertInvalidInput(_ path: String, mentions: [String], line: UInt = #line) {
        XCTAssertThrowsError(try TextCollectionReader.read(path: path), line: line) { error in
            guard case let PlaidError.invalidInput(file, detail)? = error as? PlaidError else {
                return XCTFail("expected invalidInput, got \(error)", line: line)
            }
            XCTAssertEqual(file, path, line: line)
            for word in mentions { XCTAssertTrue(detail.contains(word), "\"\(detail)\" lacks \(word)", line: line) }
        }
    }

    static let beirCorpus = """
        {"_id": "d1", "title": "A title", "text": "Body text.", "metadata": {"url": "x", "n": [1, 2.5e3, null, true]}}
        {"_id": "d2", "title": "", "text": "  No title here. ", "metadata": {}}
        {"_id": "d3", "title": "Only title", "text": ""}
        {"_id": "d4", "text": "\\u00e9t\\u00e9 \\"quoted\\" \\ud83d\\ude00\\ttab", "title": null}

        {"_id": "d5", "title": "\\u3000Wide space", "text": "x\\u001f"}

        """

    func testBEIRCorpusJoinsTitleAndTextAsBEIRAndPyLateDo() throws {
        let path = try write("corpus.jsonl", Self.beirCorpus)
        XCTAssertEqual(try TextCollectionReader.read(path: path), [
            TextRecord(id: "d1", text: "A title Body text."),
            // (title + " " + text).strip(): an empty title leaves no leading space.
            TextRecord(id: "d2", text: "No title here."),
            TextRecord(id: "d3", text: "Only title"),
            TextRecord(id: "d4", text: "été \"quoted\" 😀\ttab"),
            // Python's strip removes U+3000 and U+001F too.
            TextRecord(id: "d5", text: "Wide space x"),
        ])
    }

    func testPlainJSONLAndQueries() throws {
        let plain = try write("plain.jsonl", "{\"id\": \"a\", \"text\": \"first\"}\r\n{\"id\": 7, \"text\": \"second\"}")
        XCTAssertEqual(try TextCollectionReader.read(path: plain),
                       [TextRecord(id: "a", text: "first"), TextRecord(id: "7", text: "second")])
        let queries = try write("queries.jsonl", "{\"_id\": \"0\", \"text\": \"What is X?\", \"metadata\": {}}\n")
        XCTAssertEqual(try TextCollectionReader.read(path: queries), [TextRecord(id: "0", text: "What is X?")])
    }

    func testTSVWithAndWithoutHeader() throws {
        let headed = try write("c.tsv", "id\ttext\r\n1\tone\r\n2\t two \r\n")
        XCTAssertEqual(try TextCollectionReader.read(path: headed),
                       [TextRecord(id: "1", text: "one"), TextRecord(id: "2", text: "two")])
        let bare = try write("d.tsv", "10\tten\n11\televen")
        XCTAssertEqual(try TextCollectionReader.read(path: bare),
                       [TextRecord(id: "10", text: "ten"), TextRecord(id: "11", text: "eleven")])
        // A header-looking line anywhere but first is data.
        let late = try write("e.tsv", "1\tone\nid\ttext\n")
        XCTAssertEqual(try TextCollectionReader.read(path: late).last, TextRecord(id: "id", text: "text"))
    }

    func testZstdCompressedFilesReadLikePlainOnes() throws {
        // Enough text for many zstd blocks and several 1 MiB reads, in two concatenated frames.
        var text = ""
        for i in 0..<40_000 { text += "{\"_id\": \"d\(i)\", \"title\": \"T\(i % 7)\", \"text\": \"text \(i * 31 % 1000)\"}\n" }
        let bytes = Array(text.utf8)
        let half = bytes.count / 2
        let first = try bytes[..<half].withUnsafeBytes { try Zstd.compress($0) }
        let second = try bytes[half...].withUnsafeBytes { try Zstd.compress($0, level: 1) }
        let plain = try write("big.jsonl", text)
        let packed = try write("big.jsonl.zst", bytes: first + second)
        let expected = try TextCollectionReader.read(path: plain)
        XCTAssertEqual(expected.count, 40_000)
        XCTAssertEqual(expected[12345], TextRecord(id: "d12345", text: "T4 text \(12345 * 31 % 1000)"))
        XCTAssertEqual(try TextCollectionReader.read(path: packed), expected)

        let tsv = try Array("1\tone\n2\ttwo\n".utf8).withUnsafeBytes { try Zstd.compress($0) }
        XCTAssertEqual(try TextCollectionReader.read(path: try write("c.tsv.zst", bytes: tsv)).count, 2)

        let truncated = try write("cut.jsonl.zst", bytes: Array(first.dropLast(7)))
        assertInvalidInput(truncated, mentions: ["zstd"])
        let foreign = try write("foreign.jsonl.zst", "{\"id\": \"a\", \"text\": \"not compressed\"}\n")
        assertInvalidInput(foreign, mentions: ["zstd"])
    }

    /// A zstd frame of `payload` in one raw block whose header asks for a window of 2^`windowLog` bytes.
    private func zstdFrame(windowLog: Int, payload: String) -> [UInt8] {
        let body = Array(payload.utf8)
        let blockHeader = 1 | (body.count << 3)  // last block, raw, its size
        return [0x28, 0xB5, 0x2F, 0xFD, 0x00, UInt8((windowLog - 10) << 3),
                UInt8(blockHeader & 0xFF), UInt8((blockHeader >> 8) & 0xFF), UInt8(blockHeader >> 16)] + body
    }

    func testZstdWindowIsBoundedBeforeItIsAllocated() throws {
        // Regression (fuzz-text-collection, CI): a 10-byte frame header asking for a 2 GiB window
        // made the reader allocate 2 GiB before reading one byte of text.
        let line = "{\"id\": \"a\", \"text\": \"x\"}\n"
        let greedy = try write("greedy.jsonl.zst", bytes: zstdFrame(windowLog: 31, payload: line))
        assertInvalidInput(greedy, mentions: ["window", "2^27", "--long"])
        // The largest window `zstd` itself decodes without being asked (2^27, 128 MiB) is accepted.
        let usual = try write("usual.jsonl.zst", bytes: zstdFrame(windowLog: 27, payload: line))
        XCTAssertEqual(try TextCollectionReader.read(path: usual), [TextRecord(id: "a", text: "x")])
    }

    func testLongLinesGrowTheBuffer() throws {
        let long = String(repeating: "word ", count: 600_000)
        let path = try write("long.jsonl", "{\"id\": \"a\", \"text\": \"\(long)\"}\n{\"id\": \"b\", \"text\": \"short\"}\n")
        let records = try TextCollectionReader.read(path: path)
        XCTAssertEqual(records.map(\.text.count), [long.count - 1, 5])
    }

    func testMalformedLinesNameFileLineAndProblem() throws {
        let ok = "{\"_id\": \"d1\", \"text\": \"fine\"}\n"
        assertInvalidInput(try write("a.jsonl", ok + "{\"_id\": \"d2\", \"text\": \"broken}\n"),
                           mentions: ["line 2", "closing", "end of the line"])
        assertInvalidInput(try write("b.jsonl", ok + "\n{\"_id\": \"d3\" \"text\": \"x\"}\n"),
                           mentions: ["line 3", "column 14", "expected ',' or '}'"])
        assertInvalidInput(try write("c.jsonl", ok + "{\"title\": \"t\", \"text\": \"x\"}\n"),
                           mentions: ["line 2", "\"_id\"", "no id field"])
        assertInvalidInput(try write("d.jsonl", ok + "{\"_id\": \"d9\", \"body\": \"x\"}\n"),
                           mentions: ["line 2", "\"text\"", "d9"])
        assertInvalidInput(try write("e.jsonl", ok + "{\"_id\": \"d9\", \"text\": 3}\n"),
                           mentions: ["line 2", "string", "a number"])
        assertInvalidInput(try write("f.jsonl", ok + "\n" + ok),
                           mentions: ["line 3", "\"d1\"", "already used on line 1"])
        assertInvalidInput(try write("g.jsonl", "[1, 2]\n"), mentions: ["line 1", "JSON object"])
        assertInvalidInput(try write("h.jsonl", ok + "{\"_id\": \"d2\", \"text\": \"x\"} trailing\n"),
                           mentions: ["line 2", "end of the line after the JSON object", "trailing"])
        assertInvalidInput(try write("i.tsv", "1\tone\n2 two\n"), mentions: ["line 2", "no tab"])
        assertInvalidInput(try write("j.tsv", "1\tone\t1\n"), mentions: ["line 1", "exactly one tab"])
        assertInvalidInput(try write("k.tsv", "1\tone\n1\tagain\n"), mentions: ["line 2", "already used on line 1"])
        assertInvalidInput(try write("l.jsonl", bytes: Array(ok.utf8) + Array("{\"_id\": \"x\", \"text\": \"".utf8) + [0xFF, 0x22, 0x7D]),
                           mentions: ["line 2", "UTF-8"])
        XCTAssertThrowsError(try TextCollectionReader.read(path: try write("m.csv", "a,b\n")))
        XCTAssertThrowsError(try TextCollectionReader.read(path: directory.appendingPathComponent("none.jsonl").path)) {
            guard case PlaidError.missingFile? = $0 as? PlaidError else { return XCTFail("\($0)") }
        }
    }

    /// A byte order mark opening the file is skipped; one opening a later line (files joined
    /// together) is named as one. What follows a problem is shown as the characters it is.
    func testByteOrderMarksAndNonASCIIAreNamedAsTheyAre() throws {
        let bom: [UInt8] = [0xEF, 0xBB, 0xBF]
        let line = Array("{\"_id\": \"a\", \"text\": \"x\"}\n".utf8)
        XCTAssertEqual(try TextCollectionReader.read(path: try write("bom.jsonl", bytes: bom + line)), [TextRecord(id: "a", text: "x")])
        assertInvalidInput(try write("joined.jsonl", bytes: bom + line + bom + Array("{\"_id\": \"b\", \"text\": \"y\"}\n".utf8)),
                           mentions: ["line 2", "column 1", "byte order mark", "save the file without one"])
        // The excerpt after a problem ends at a whole character, never half of one.
        assertInvalidInput(try write("cut.jsonl", "{\"_id\": \"a\", \"text\": x234567890123456789é}\n"),
                           mentions: ["line 1", "found \"x234567890123456789…\""])
        assertInvalidInput(try write("byte.jsonl", bytes: Array("{\"_id\": \"a\", \"text\": ".utf8) + [0xFF, 0x7D, 0x0A]),
                           mentions: ["line 1", "column 22", "found the byte 0xFF, which is not UTF-8"])
    }

    func testStreamingReaderYieldsRecordsOneByOne() throws {
        let path = try write("s.jsonl", Self.beirCorpus)
        let reader = try TextCollectionReader(path: path)
        XCTAssertEqual(try reader.next()?.id, "d1")
        var rest: [String] = []
        try reader.forEach { rest.append($0.id) }
        XCTAssertEqual(rest, ["d2", "d3", "d4", "d5"])
        XCTAssertNil(try reader.next())
    }

    func testPythonStrip() {
        XCTAssertEqual(pythonStrip(" \t\n\u{0B}\u{0C}\r\u{1C}\u{85}\u{A0}x y\u{2028}\u{3000}"), "x y")
        XCTAssertEqual(pythonStrip("   "), "")
        XCTAssertEqual(pythonStrip("\u{200B}x"), "\u{200B}x")  // zero-width space is not whitespace in Python
    }
}
