import XCTest
@testable import PlaidServer

/// The server's JSON parser: what RFC 8259 allows is read as `JSONSerialization` reads it, what
/// it forbids is refused with the place it breaks.
final class JSONReaderTests: XCTestCase {
    private func parse(_ text: String) throws -> JSONValue { try JSONReader.parse(Array(text.utf8)) }

    private func refusal(_ text: String) -> String {
        do { _ = try parse(text); return "accepted" } catch let error as APIError { return error.message } catch { return "\(error)" }
    }

    func testValidDocumentsReadAsFoundationReadsThem() throws {
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
        guard case .object(let members) = try parse(#"{"v": [1, 2.5], "n": 9007199254740993, "s": "é😀"}"#) else { return XCTFail() }
        guard case .numbers(let numbers) = members[0].value else { return XCTFail("an array of numbers is packed") }
        XCTAssertEqual(numbers, [1, 2.5])
        guard case .number(_, let integer) = members[1].value else { return XCTFail() }
        XCTAssertEqual(integer, 9_007_199_254_740_993, "integers keep 64 bits")
        guard case .string(let s) = members[2].value else { return XCTFail() }
        XCTAssertEqual(s, "é😀")
    }

    func testInvalidDocumentsAreRefusedWithThePlace() {
        let cases: [(String, String)] = [
            ("{bad", "expected a field name in double quotes at line 1, column 2, found 'b'"),
            ("[1, 2", "expected ',' or ']' at line 1, column 6, found the end of the body"),
            ("[01]", "expected ',' or ']'"),
            ("[1.]", "expected a digit after the decimal point"),
            ("[-]", "expected a digit"),
            ("[1e]", "expected a digit in the exponent"),
            ("[NaN]", "expected a value"),
            ("[Infinity]", "expected a value"),
            ("[1e999]", "the number 1e999 in the body is out of range"),
            ("{\"a\": 1} x", "expected the end of the body"),
            ("{\"a\": 1, \"a\": 2}", "names the field \"a\" twice"),
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

    /// Numbers read exactly as `Double(String)` (strtod) reads them, on the fast path and off it.
    func testNumbersMatchStrtod() throws {
        var rng = SystemRandomNumberGenerator()
        var texts = ["0", "-0", "0.0", "1e22", "1e23", "9007199254740993", "123456789012345678901234567890", "0.1e-30",
                     "4.9e-324", "1.7976931348623157e308", "-2.5E+3", "0.000000000000000000001", "12345.678901234567890"]
        for _ in 0..<20_000 {
            let f = Float.random(in: -1...1, using: &rng)
            let d = Double.random(in: -1e6...1e6, using: &rng)
            texts += ["\(f)", "\(d)", String(format: "%.17g", d), String(format: "%.6e", d)]
        }
        for text in texts {
            guard case .numbers(let values) = try parse("[\(text)]") else { return XCTFail(text) }
            XCTAssertEqual(values[0].bitPattern, Double(text)!.bitPattern, text)
        }
    }
}

/// The parser's cost stays linear in the body, and what it keeps stays a small multiple of it.
final class JSONReaderBoundsTests: XCTestCase {
    /// 80,000 distinct keys in one object took 16 s when each key was checked against every earlier one.
    func testDuplicateKeysAreFoundInLinearTime() throws {
        let keys = (0..<80_000).map { "\"k\($0)\":0" }
        let started = Date()
        _ = try JSONReader.parse(Array(("{" + keys.joined(separator: ",") + "}").utf8))
        XCTAssertLessThan(Date().timeIntervalSince(started), 2)
        do {
            _ = try JSONReader.parse(Array(("{" + keys.joined(separator: ",") + ",\"k79999\":1}").utf8))
            XCTFail("a duplicate key was accepted")
        } catch let error as APIError {
            XCTAssertTrue(error.message.contains("\"k79999\" twice"), error.message)
        }
    }

    /// Tiny arrays of varying lengths, which would cost far more than their text, are refused;
    /// rows of equal length (vectors) are not.
    func testTinyArraysOfVaryingLengthAreRefused() throws {
        let rows = "[" + Array(repeating: "[0,1]", count: 100_000).joined(separator: ",") + "]"
        XCTAssertEqual(try JSONReader.parse(Array(rows.utf8)).kind, "an array")
        let ragged = "[" + (0..<200_000).map { $0 % 2 == 0 ? "[0]" : "[0,0]" }.joined(separator: ",") + "]"
        do {
            _ = try JSONReader.parse(Array(ragged.utf8))
            XCTFail("ragged tiny arrays were accepted")
        } catch let error as APIError {
            XCTAssertEqual(error.status, .contentTooLarge, error.message)
        }
    }
}
