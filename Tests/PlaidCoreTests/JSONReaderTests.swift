import Foundation
@testable import PlaidCore
import XCTest

/// The one JSON reader of collections, metadata files and request bodies: what RFC 8259 allows is
/// read as `JSONSerialization` reads it, what it forbids (or leaves open) is refused with the place.
final class JSONReaderTests: XCTestCase {
    private func parse(_ text: String, options: JSONReader.Options = .init()) throws -> JSONValue {
        try JSONReader.parse(Array(text.utf8), options: options)
    }

    private func refusal(_ bytes: [UInt8], options: JSONReader.Options = .init()) -> JSONError? {
        do {
            _ = try JSONReader.parse(bytes, options: options)
            return nil
        } catch {
            return error as? JSONError
        }
    }

    private func refusal(_ text: String, options: JSONReader.Options = .init()) -> JSONError? { refusal(Array(text.utf8), options: options) }

    /// The value as `JSONSerialization` gives it, to compare.
    private func foundation(_ value: JSONValue) -> Any {
        switch value {
        case .null: return NSNull()
        case .bool(let b): return b
        case .number(let d, let integer): return integer.map { NSNumber(value: $0) } ?? NSNumber(value: d)
        case .string(let s): return s
        case .numbers(let numbers): return numbers
        case .rows(let flat, let width): return stride(from: 0, to: flat.count, by: width).map { Array(flat[$0..<($0 + width)]) }
        case .array(let values): return values.map(foundation)
        case .object(let members): return Dictionary(uniqueKeysWithValues: members.map { ($0.key, foundation($0.value)) })
        }
    }

    func testValidDocumentsReadAsFoundationReadsThem() throws {
        let documents = [
            #"{"a": [1, -2.5, 3e2, 0, -0.0, 1E-3], "b": "x\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00", "c": [true, false, null, {"d": []}], "e": {}}"#,
            #"  [ [0.1, 0.2], [], [[1]] ]  "#, "[[1, 2], [3, 4]]", "[[1], [2, 3], 4]", #"[1, "two"]"#,
            #""plain""#, "42", "-7", "null", "\t\r\n {\"\u{7F}é😀\": \"\\u0000\"}",
        ]
        for text in documents {
            let ours = foundation(try parse(text))
            let theirs = try JSONSerialization.jsonObject(with: Data(text.utf8), options: .fragmentsAllowed)
            XCTAssertTrue(NSArray(array: [ours]).isEqual(to: [theirs]), "\(text): \(ours)")
        }
        let packed = JSONReader.Options(packsNumbers: true)
        guard case .object(let members) = try parse(#"{"v": [1, 2.5], "n": 9007199254740993, "s": "é😀", "m": [[1, 2], [3, 4]]}"#, options: packed) else { return XCTFail() }
        guard case .numbers(let numbers) = members[0].value else { return XCTFail("an array of numbers is packed") }
        XCTAssertEqual(numbers, [1, 2.5])
        guard case .number(_, let integer) = members[1].value else { return XCTFail() }
        XCTAssertEqual(integer, 9_007_199_254_740_993, "integers keep 64 bits")
        guard case .string(let s) = members[2].value else { return XCTFail() }
        XCTAssertEqual(s, "é😀")
        guard case .rows(let flat, width: 2) = members[3].value else { return XCTFail("rows of equal length are packed") }
        XCTAssertEqual(flat, [1, 2, 3, 4])
        // Unpacked, an array keeps every number's integer.
        guard case .array(let unpacked) = try parse("[9007199254740993, 2.5]"), case .number(_, 9_007_199_254_740_993?) = unpacked[0] else {
            return XCTFail("numbers are not packed by default")
        }
        guard case .array(let empty) = try parse("[]"), empty.isEmpty, case .numbers([]) = try parse("[]", options: packed) else { return XCTFail() }
        for (text, integer) in [("1", Int64(1)), ("-0", 0), ("9223372036854775807", .max), ("-9223372036854775808", .min)] {
            guard case .number(_, let read) = try parse(text) else { return XCTFail(text) }
            XCTAssertEqual(read, integer, text)
        }
        for text in ["1.0", "1e2", "9223372036854775808"] {
            guard case .number(_, nil) = try parse(text) else { return XCTFail("\(text) is no 64-bit integer literal") }
        }
    }

    /// Every refusal names what was expected, the line and column, and what stands there.
    func testInvalidDocumentsAreRefusedWithThePlace() {
        let cases: [(String, JSONError.Reason, Int, Int, JSONError.Found)] = [
            ("{bad", .expected("a field name in double quotes"), 1, 2, .text("bad", more: false)),
            ("[1, 2", .expected("',' or ']'"), 1, 6, .end),
            ("[01]", .expected("',' or ']'"), 1, 3, .text("1]", more: false)),
            ("[1.]", .expected("a digit after the decimal point"), 1, 4, .text("]", more: false)),
            ("[-]", .expected("a digit"), 1, 3, .text("]", more: false)),
            ("[1e]", .expected("a digit in the exponent"), 1, 4, .text("]", more: false)),
            ("[NaN]", .expected("a value (a string, number, object, array, true, false or null)"), 1, 2, .text("NaN]", more: false)),
            ("[tru]", .expected("true"), 1, 5, .text("]", more: false)),
            ("[1,]", .expected("a value (a string, number, object, array, true, false or null)"), 1, 4, .text("]", more: false)),
            ("{\"a\": 1,}", .expected("a field name in double quotes"), 1, 9, .text("}", more: false)),
            ("[1e999]", .numberOutOfRange(literal: "1e999"), 1, 2, .text("1e999]", more: false)),
            ("{\"a\": 1} x", .trailingContent, 1, 10, .text("x", more: false)),
            ("{\"a\": 1, \"a\": 2}", .duplicateField("a"), 1, 10, .text("\"a\": 2}", more: false)),
            ("\"tab\there\"", .expected("an escaped control character (\\n, \\t, \\u…)"), 1, 5, .text("\there\"", more: false)),
            ("\"\\x\"", .expected("an escape (\\\", \\\\, \\/, \\b, \\f, \\n, \\r, \\t or \\u)"), 1, 3, .text("x\"", more: false)),
            ("\"\\u12G4\"", .expected("four hex digits after \\u"), 1, 6, .text("G4\"", more: false)),
            ("\"open", .expected("a closing '\"' to end the string"), 1, 6, .end),
            ("{\"a\"\n  1}", .expected("':' after a field name"), 2, 3, .text("1}", more: false)),
            ("", .expected("a value"), 1, 1, .end),
            ("[\"123456789012345678901234\"", .expected("',' or ']'"), 1, 28, .end),
            ("{\"k\": 123456789012345678901234567890x}", .expected("',' or '}'"), 1, 37, .text("x}", more: false)),
        ]
        for (text, reason, line, column, found) in cases {
            let error = refusal(text)
            XCTAssertEqual(error?.reason, reason, text)
            XCTAssertEqual(error?.line, line, text)
            XCTAssertEqual(error?.column, column, text)
            XCTAssertEqual(error?.found, found, text)
        }
        XCTAssertEqual(refusal("[\"" + String(repeating: "x", count: 30))?.found, .end)
        XCTAssertEqual(refusal("[" + String(repeating: "x", count: 30))?.found, .text(String(repeating: "x", count: 20), more: true))
    }

    /// RFC 8259 leaves lone surrogates' meaning open, and no Swift string holds one: refused.
    func testLoneSurrogatesAreRefused() {
        XCTAssertEqual(refusal("\"\\ud83d\"")?.reason, .expected("the low half of a surrogate pair"))
        XCTAssertEqual(refusal("\"\\ud83d\\u0041\"")?.reason, .expected("the low half of a surrogate pair"))
        XCTAssertEqual(refusal("\"\\ude00\"")?.reason, .expected("a Unicode scalar, not the low half of a surrogate pair alone"))
    }

    /// What stands at a problem is shown as the characters it is: a byte order mark by name, a
    /// byte that is not UTF-8 by its value, an excerpt never cut inside a character.
    func testFoundIsTheRealCharacter() {
        let marked = refusal([0xEF, 0xBB, 0xBF] + Array("{}".utf8))
        XCTAssertEqual(marked?.found, .byteOrderMark)
        XCTAssertEqual(marked?.column, 1)
        XCTAssertTrue(marked?.lineDescription.contains("found a byte order mark (EF BB BF); save the file without one") == true, "\(String(describing: marked))")
        XCTAssertEqual(refusal("[é]")?.found, .text("é]", more: false))
        XCTAssertEqual(refusal("[1 😀]")?.found, .text("😀]", more: false))
        XCTAssertEqual(refusal("[" + String(repeating: "x", count: 19) + "é")?.found, .text(String(repeating: "x", count: 19), more: true))
        let invalid = refusal(Array("{\"k\": ".utf8) + [0xFF, 0x7D])
        XCTAssertEqual(invalid?.found, .invalidUTF8(0xFF))
        XCTAssertTrue(invalid?.description.contains("found the byte 0xFF, which is not UTF-8") == true, "\(String(describing: invalid))")
        // Inside a string, at the first byte that is not UTF-8, with or without escapes before it.
        for prefix in ["\"ab", "\"a\\n\\u00e9b"] {
            let error = refusal(Array(prefix.utf8) + [0xC3, 0x28, 0x22])
            XCTAssertEqual(error?.reason, .expected("UTF-8 text"), prefix)
            XCTAssertEqual(error?.column, prefix.utf8.count + 1, prefix)
            XCTAssertEqual(error?.found, .invalidUTF8(0xC3), prefix)
        }
        XCTAssertEqual(refusal("[\"\u{1}\"]")?.lineDescription,
                       "invalid JSON at column 3: expected an escaped control character (\\n, \\t, \\u…), found \"\\u{0001}\"]\"")
    }

    func testLimitsOnNestingAndMemory() throws {
        let limits = JSONReader.Options(maximumDepth: 64, memoryMultiple: 6, packsNumbers: true)
        XCTAssertNoThrow(try parse(String(repeating: "[", count: 64) + String(repeating: "]", count: 64), options: limits))
        let deep = refusal(String(repeating: "[", count: 70) + String(repeating: "]", count: 70), options: limits)
        XCTAssertEqual(deep?.reason, .expected("at most 64 levels of nesting"))
        XCTAssertEqual(deep?.column, 65)
        XCTAssertNoThrow(try parse(String(repeating: "{\"a\":", count: 512) + "1" + String(repeating: "}", count: 512)))
        XCTAssertEqual(refusal(String(repeating: "{\"a\":", count: 513) + "1" + String(repeating: "}", count: 513))?.reason,
                       .expected("at most 512 levels of nesting"))
        // Tiny arrays of varying lengths would cost far more than their text; rows of equal
        // length (vectors) do not.
        let rows = "[" + Array(repeating: "[0,1]", count: 100_000).joined(separator: ",") + "]"
        guard case .rows = try parse(rows, options: limits) else { return XCTFail("vectors are packed") }
        let ragged = "[" + (0..<200_000).map { $0 % 2 == 0 ? "[0]" : "[0,0]" }.joined(separator: ",") + "]"
        XCTAssertEqual(refusal(ragged, options: limits)?.reason, .tooLarge(memoryMultiple: 6))
        XCTAssertNoThrow(try parse(ragged), "no bound without a memory multiple")
    }

    /// 80,000 distinct keys in one object took 16 s when each key was checked against every earlier one.
    func testDuplicateFieldsAreFoundInLinearTime() throws {
        let keys = (0..<80_000).map { "\"k\($0)\":0" }
        let started = Date()
        _ = try parse("{" + keys.joined(separator: ",") + "}")
        XCTAssertLessThan(Date().timeIntervalSince(started), 2)
        XCTAssertEqual(refusal("{" + keys.joined(separator: ",") + ",\"k79999\":1}")?.reason, .duplicateField("k79999"))
    }

    /// Numbers read exactly as `Double(String)` (strtod) reads them, on the fast path and off it.
    func testNumbersMatchStrtod() throws {
        var rng = SystemRandomNumberGenerator()
        var texts = ["0", "-0", "0.0", "1e22", "1e23", "9007199254740993", "123456789012345678901234567890", "0.1e-30",
                     "4.9e-324", "1.7976931348623157e308", "-2.5E+3", "0.000000000000000000001", "12345.678901234567890", "1e-400"]
        for _ in 0..<20_000 {
            let f = Float.random(in: -1...1, using: &rng)
            let d = Double.random(in: -1e6...1e6, using: &rng)
            texts += ["\(f)", "\(d)", String(format: "%.17g", d), String(format: "%.6e", d)]
        }
        for text in texts {
            guard case .number(let value, _) = try parse(text) else { return XCTFail(text) }
            XCTAssertEqual(value.bitPattern, Double(text)!.bitPattern, text)
        }
    }

    /// `parseObject` takes one object, for the lines of metadata files.
    func testParseObject() throws {
        let members = try JSONReader.parseObject(Array(" {\"id\": \"a\", \"n\": [1]} ".utf8))
        XCTAssertEqual(members.map(\.key), ["id", "n"])
        for text in ["[1]", "\"a\"", ""] {
            XCTAssertThrowsError(try JSONReader.parseObject(Array(text.utf8)), text) { error in
                XCTAssertEqual((error as? JSONError)?.reason, .expected("a JSON object starting with '{'"), text)
            }
        }
        XCTAssertThrowsError(try JSONReader.parseObject(Array("{} {}".utf8))) { error in
            XCTAssertEqual((error as? JSONError)?.lineDescription,
                           "invalid JSON at column 4: expected the end of the line after the JSON object, found \"{}\"")
        }
    }
}
