import XCTest
import PlaidCore
@testable import PlaidServer

/// Request bodies: PlaidCore's JSON reader under the server's limits (its own tests are in
/// PlaidCoreTests), each refusal phrased as the one sentence a client gets, with its status.
final class RequestBodyTests: XCTestCase {
    private func parse(_ text: String) throws -> JSONValue { try JSONReader.parseRequestBody(Array(text.utf8)) }

    private func refusal(_ text: String) -> String { refusal(bytes: Array(text.utf8)) }

    private func refusal(bytes: [UInt8]) -> String {
        do { _ = try JSONReader.parseRequestBody(bytes); return "accepted" } catch let error as APIError { return error.message } catch { return "\(error)" }
    }

    /// What the server stores for a nested metadata value, written back, reads as Foundation
    /// reads the body.
    func testCompactTextReadsAsFoundationReadsTheBody() throws {
        let documents = [
            #"{"a": [1, -2.5, 3e2, 0, -0.0, 1E-3], "b": "x\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00", "c": [true, false, null, {"d": []}], "e": {}}"#,
            #"  [ [0.1, 0.2], [], [[1]] ]  "#,
            #""plain""#, "42", "-7", "null",
        ]
        for text in documents {
            let ours = try parse(text).compactText
            let theirs = try JSONSerialization.jsonObject(with: Data(text.utf8), options: .fragmentsAllowed)
            let reread = try JSONSerialization.jsonObject(with: Data(ours.utf8), options: .fragmentsAllowed)
            XCTAssertTrue(NSArray(array: [reread]).isEqual(to: [theirs]), "\(text): \(ours)")
        }
    }

    func testInvalidDocumentsAreRefusedWithThePlace() {
        let cases: [(String, String)] = [
            ("{bad", "the body is not valid JSON: expected a field name in double quotes at line 1, column 2, found 'b'"),
            ("[1, 2", "the body is not valid JSON: expected ',' or ']' at line 1, column 6, found the end of the body"),
            ("[01]", "expected ',' or ']'"),
            ("[1.]", "expected a digit after the decimal point"),
            ("[-]", "expected a digit"),
            ("[1e]", "expected a digit in the exponent"),
            ("[NaN]", "expected a value"),
            ("[Infinity]", "expected a value"),
            ("[1e999]", "the number 1e999 in the body is out of range; send finite numbers"),
            ("{\"a\": 1} x", "the body is not valid JSON: expected the end of the body at line 1, column 10, found 'x'"),
            ("{\"a\": 1, \"a\": 2}", "the body names the field \"a\" twice in one object"),
            ("\"tab\there\"", "expected an escaped control character"),
            ("\"\\x\"", "expected an escape"),
            ("\"\\ud83d\"", "expected the low half of a surrogate pair"),
            ("{\"a\"\n  1}", "expected ':' after a field name at line 2, column 3"),
            (String(repeating: "[", count: 70) + String(repeating: "]", count: 70), "at most 64 levels of nesting"),
            ("", "expected a value"),
        ]
        for (text, expected) in cases {
            let message = refusal(text)
            XCTAssertTrue(message.contains(expected), "\(text): \(message)")
        }
    }

    /// A byte order mark, or any character beyond ASCII, is named as it is, not byte by byte in
    /// Latin-1 ("ï»¿" for a byte order mark).
    func testByteOrderMarkAndNonASCIIAreShownAsTheyAre() {
        let marked = refusal(bytes: [0xEF, 0xBB, 0xBF] + Array("{\"k\": 1}".utf8))
        XCTAssertTrue(marked.contains("byte order mark") && marked.contains("send the body without one"), marked)
        XCTAssertFalse(marked.contains("ï"), marked)
        let accented = refusal("{\"k\": é}")
        XCTAssertTrue(accented.contains("at line 1, column 7, found 'é'"), accented)
        let invalid = refusal(bytes: Array("{\"k\": ".utf8) + [0xFF, 0x7D])
        XCTAssertTrue(invalid.contains("found the byte 0xFF, which is not UTF-8"), invalid)
    }

    /// The request types read vectors alike whether the body's numbers were packed or not, and
    /// name the first element that is not a number either way.
    func testVectorsReadPackedOrNot() throws {
        let body = Array(#"{"query_embeddings": [[[1, 0.5], [2, -1]], [[3, 4]]], "k": 2}"#.utf8)
        for value in [try JSONReader.parseRequestBody(body), try JSONReader.parse(body)] {
            let request = try SearchRequest(json: value)
            XCTAssertEqual(request.queryEmbeddings?.map(\.values), [[1, 0.5, 2, -1], [3, 4]])
            XCTAssertEqual(request.queryEmbeddings?.map(\.rows), [2, 1])
            XCTAssertEqual(request.queryEmbeddings?.map(\.width), [2, 2])
        }
        for text in [#"{"query_embeddings": [[[1, "a"]]]}"#, #"{"query_embeddings": [[[1, 2], [3]]]}"#] {
            let messages = [try JSONReader.parseRequestBody(Array(text.utf8)), try JSONReader.parse(Array(text.utf8))].map { value in
                do { _ = try SearchRequest(json: value); return "accepted" } catch let error as APIError { return error.message } catch { return "\(error)" }
            }
            XCTAssertEqual(messages[0], messages[1], text)
            XCTAssertTrue(messages[0].hasPrefix("field query_embeddings[0]["), messages[0])
        }
    }

    /// Tiny arrays of varying lengths, which would cost far more than their text, are a 413;
    /// rows of equal length (vectors) are read.
    func testTinyArraysOfVaryingLengthAreRefused() throws {
        let rows = "[" + Array(repeating: "[0,1]", count: 100_000).joined(separator: ",") + "]"
        XCTAssertEqual(try parse(rows).kind, "an array")
        let ragged = "[" + (0..<200_000).map { $0 % 2 == 0 ? "[0]" : "[0,0]" }.joined(separator: ",") + "]"
        do {
            _ = try parse(ragged)
            XCTFail("ragged tiny arrays were accepted")
        } catch let error as APIError {
            XCTAssertEqual(error.status, .contentTooLarge, error.message)
            XCTAssertTrue(error.message.contains("more than 6 times its size in memory"), error.message)
        }
    }
}
