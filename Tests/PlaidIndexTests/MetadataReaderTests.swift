import XCTest
import PlaidCore
@testable import PlaidIndex

/// Metadata JSONL files (`plaid build/add --metadata`) and the fields of a JSONL collection's lines.
final class MetadataReaderTests: XCTestCase {
    private var directory = ""
    override func setUp() { directory = temporaryDirectory() }
    override func tearDown() { try? FileManager.default.removeItem(atPath: directory) }

    private func write(_ name: String, _ bytes: [UInt8]) throws -> String {
        let path = (directory as NSString).appendingPathComponent(name)
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    private func refusal(_ bytes: [UInt8], ids: [String] = ["a", "b"]) throws -> String {
        let path = try write("m.jsonl", bytes)
        do { _ = try MetadataReader.read(path: path, batchIDs: ids); return "accepted" } catch { return "\(error)" }
    }

    /// A byte order mark opening the file is skipped; one opening a later line is named.
    func testByteOrderMarkIsSkippedOnLineOneAndNamedElsewhere() throws {
        let bom: [UInt8] = [0xEF, 0xBB, 0xBF]
        let path = try write("bom.jsonl", bom + Array("{\"id\": \"a\", \"n\": 1}\n".utf8))
        XCTAssertEqual(try MetadataReader.read(path: path, batchIDs: ["a"]), ["a": ["n": .integer(1)]])
        let joined = try refusal(bom + Array("{\"id\": \"a\"}\n".utf8) + bom + Array("{\"id\": \"b\"}\n".utf8))
        for part in ["line 2: expected one JSON object", "column 1", "byte order mark", "save the file without one"] {
            XCTAssertTrue(joined.contains(part), "\(joined) lacks \(part)")
        }
    }
}

extension MetadataReaderTests {
    /// Values as JSONDecoder read them before: a whole number is an integer (written 2001.0 too),
    /// nested values are compact JSON with sorted keys.
    func testValuesAndNestedJSON() throws {
        let line = #"{"id": "a", "year": 2001, "whole": 2001.0, "big": 1e18, "score": 2.5, "huge": 1e300, "ok": true, "none": null, "s": "x/y\u00e9", "tags": ["b/c", 1.0, 2.5, null], "o": {"z": {}, "a": [[1, 2], [3, 4]]}}"#
        let read = try MetadataReader.read(path: try write("v.jsonl", Array((line + "\n").utf8)), batchIDs: ["a"])
        XCTAssertEqual(read["a"], [
            "year": .integer(2001), "whole": .integer(2001), "big": .integer(1_000_000_000_000_000_000), "score": .float(2.5),
            "huge": .float(1e300), "ok": .boolean(true), "none": .null, "s": .string("x/yé"),
            "tags": .json(#"["b/c",1,2.5,null]"#), "o": .json(#"{"a":[[1,2],[3,4]],"z":{}}"#),
        ])
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        XCTAssertEqual(String(decoding: try encoder.encode(read["a"]!["o"]!), as: UTF8.self), #"{"a":[[1,2],[3,4]],"z":{}}"#)
    }

    /// A line that is not one strict JSON object is refused naming the line and column, with
    /// the sentence the command line has always given first.
    func testMalformedLinesNameTheLineAndColumn() throws {
        let cases: [(String, [String])] = [
            (#"{"id": "a", "year": }"#, ["line 2: expected one JSON object with \"id\" and the document's fields; invalid JSON at column 21: expected a value"]),
            (#"{"id": "a", "year": 1,}"#, ["line 2", "column 23", "expected a field name in double quotes"]),
            (#"{"id": "a", "id": "b"}"#, ["line 2", "the field \"id\" appears twice", "column 13"]),
            (#"{"id": "a", "n": 1e999}"#, ["line 2", "the number 1e999 at column 18 is out of range"]),
            (#"["a"]"#, ["line 2", "expected a JSON object starting with '{'"]),
            (#"{"id": "a"} {"id": "b"}"#, ["line 2", "expected the end of the line after the JSON object"]),
            (#"{"id": 7}"#, ["line 2: expected a string \"id\" naming the document"]),
        ]
        for (line, parts) in cases {
            let message = try refusal(Array(("{\"id\": \"b\"}\n" + line + "\n").utf8))
            for part in parts { XCTAssertTrue(message.contains(part), "\(line): \(message) lacks \(part)") }
        }
    }

    /// A collection's lines give their fields besides id, title and text, the `metadata` object's
    /// fields merged in; a line whose id is not a string, or that is not JSON, gives none.
    func testCollectionFields() throws {
        let lines = [
            #"{"_id": "d1", "title": "T", "text": "x", "year": 1999, "metadata": {"url": "u", "year": 2000}}"#,
            #"{"_id": null, "id": "d2", "text": "y", "metadata": [1, 2]}"#,
            #"{"_id": 3, "text": "z", "year": 1}"#,
            #"{"_id": "d4", "text": "w"}"#,
            #"{"_id": "d5", "text": "v", "n": 1,}"#,
        ]
        let path = try write("c.jsonl", Array(lines.joined(separator: "\n").utf8))
        XCTAssertEqual(try MetadataReader.fromCollection(path: path), [
            "d1": ["url": .string("u"), "year": .integer(2000)],
            "d2": ["metadata": .json("[1,2]")],
        ])
        XCTAssertEqual(lines[0].utf8.withContiguousStorageIfAvailable { MetadataReader.collectionFields(line: $0) },
                       ["url": .string("u"), "year": .integer(2000)])
    }
}
