import XCTest
import PlaidCore
@testable import PlaidIndex

/// A list damaged past its checksum (or opened without checking postings, as a server opens)
/// never makes a reader read out of bounds.
final class InvertedListsTests: XCTestCase {
    /// One list over `documents` documents holding `bytes`, in the file layout.
    private func payload(_ bytes: [UInt8], recorded: UInt32) -> [UInt8] {
        var out: [UInt8] = []
        for offset in [UInt64(0), UInt64(bytes.count)] { withUnsafeBytes(of: offset.littleEndian) { out += $0 } }
        withUnsafeBytes(of: recorded.littleEndian) { out += $0 }
        return out + bytes
    }

    private func documents(_ bytes: [UInt8], recorded: UInt32, documents: Int, check: Bool) throws -> [Int] {
        let data = payload(bytes, recorded: recorded)
        return try data.withUnsafeBytes { raw in
            try InvertedLists(payload: raw, listCount: 1, documentCount: documents, file: "lists", checkPostings: check).documents(inList: 0)
        }
    }

    func testDamagedPostingsAreRefusedWhenCheckedAndCutShortWhenNot() throws {
        let damaged: [(bytes: [UInt8], why: String)] = [
            ([0x05, 0x80], "a number running past the list's end"),
            ([0x03, 0x7F], "an id beyond the 100 documents"),
            ([0x01] + [UInt8](repeating: 0xFF, count: 8) + [0x7F], "a gap that overflows an Int"),
        ]
        for (bytes, why) in damaged {
            XCTAssertThrowsError(try documents(bytes, recorded: 2, documents: 100, check: true), why)
            let read = try documents(bytes, recorded: 2, documents: 100, check: false)
            XCTAssertTrue(read.allSatisfy { $0 >= 0 && $0 < 100 }, "\(why): \(read)")
            XCTAssertLessThan(read.count, 2, why)
        }
        XCTAssertEqual(try documents([0x02, 0x03], recorded: 2, documents: 100, check: false), [2, 5])
        XCTAssertEqual(try documents([0x02, 0x03], recorded: 2, documents: 100, check: true), [2, 5])
    }
}
