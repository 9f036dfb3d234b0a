import XCTest
@testable import PlaidCore

final class NPYTests: XCTestCase {
    private var directory = ""
    override func setUp() {
        directory = (NSTemporaryDirectory() as NSString).appendingPathComponent("plaid-npy-\(UUID().uuidString)")
        try! FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }
    override func tearDown() { try? FileManager.default.removeItem(atPath: directory) }

    /// Writes an .npy file by hand: `version` 1, 2 or 3, the header dictionary text, then `payload`.
    private func writeNPY(_ name: String, version: UInt8 = 1, header: String, payload: [UInt8]) -> String {
        var dict = header
        let prefix = version == 1 ? 10 : 12
        let total = ((prefix + dict.utf8.count + 1 + 63) / 64) * 64
        dict += String(repeating: " ", count: total - prefix - dict.utf8.count - 1) + "\n"
        var bytes: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, version, 0]
        let length = dict.utf8.count
        if version == 1 { bytes += [UInt8(length & 0xFF), UInt8(length >> 8)] } else { bytes += withUnsafeBytes(of: UInt32(length).littleEndian, Array.init) }
        bytes += Array(dict.utf8) + payload
        let path = (directory as NSString).appendingPathComponent(name)
        FileManager.default.createFile(atPath: path, contents: Data(bytes))
        return path
    }

    private func floats(_ values: [Float]) -> [UInt8] { values.withUnsafeBytes(Array.init) }

    func testReadsVersionsOneTwoAndThree() throws {
        for version: UInt8 in [1, 2, 3] {
            let path = writeNPY("v\(version).npy", version: version, header: "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 8), }", payload: floats((0..<16).map(Float.init)))
            let array = try NPYArray(path: path)
            XCTAssertEqual(array.shape, [2, 8])
            var out = [Float](repeating: 0, count: 16)
            out.withUnsafeMutableBufferPointer { array.copyFloats(start: 0, count: 16, into: $0.baseAddress!) }
            XCTAssertEqual(out, (0..<16).map(Float.init))
        }
    }

    func testFloat16AndIntegerTypes() throws {
        let halves = [Float16(1.5), Float16(-2)].map(\.bitPattern).withUnsafeBytes(Array.init)
        let h = try NPYArray(path: writeNPY("h.npy", header: "{'descr': '<f2', 'fortran_order': False, 'shape': (2,), }", payload: halves))
        var out = [Float](repeating: 0, count: 2)
        out.withUnsafeMutableBufferPointer { h.copyFloats(start: 0, count: 2, into: $0.baseAddress!) }
        XCTAssertEqual(out, [1.5, -2])
        let i64 = try NPYArray(path: writeNPY("i.npy", header: "{'descr': '<i8', 'fortran_order': False, 'shape': (3,), }", payload: [Int64(3), 4, 5].withUnsafeBytes(Array.init)))
        XCTAssertEqual(try i64.integers(), [3, 4, 5])
    }

    func testRejectsFortranOrderBigEndianAndWrongTypes() {
        let fortran = writeNPY("f.npy", header: "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 8), }", payload: floats(Array(repeating: 1, count: 16)))
        XCTAssertThrowsError(try NPYArray(path: fortran)) { XCTAssertTrue("\($0)".contains("f.npy") && "\($0)".contains("Fortran"), "\($0)") }
        let big = writeNPY("b.npy", header: "{'descr': '>f4', 'fortran_order': False, 'shape': (2, 8), }", payload: floats(Array(repeating: 1, count: 16)))
        XCTAssertThrowsError(try NPYArray(path: big)) { XCTAssertTrue("\($0)".contains("b.npy") && "\($0)".contains(">f4"), "\($0)") }
        let f64 = writeNPY("d.npy", header: "{'descr': '<f8', 'fortran_order': False, 'shape': (1,), }", payload: Array(repeating: 0, count: 8))
        XCTAssertThrowsError(try NPYArray(path: f64)) { XCTAssertTrue("\($0)".contains("<f8"), "\($0)") }
        let short = writeNPY("s.npy", header: "{'descr': '<f4', 'fortran_order': False, 'shape': (4, 8), }", payload: floats(Array(repeating: 1, count: 16)))
        XCTAssertThrowsError(try NPYArray(path: short)) { XCTAssertTrue("\($0)".contains("truncated"), "\($0)") }
    }

    /// A file cut inside its preamble, or whose header length runs past its end, is named with
    /// the sizes involved (a 9-byte file was called "not a NumPy file" and a header length past
    /// the end "truncated", with no sizes).
    func testAFileCutShortSaysWhereAndHowLong() throws {
        let whole = try Data(contentsOf: URL(fileURLWithPath: writeNPY("w.npy", header: "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", payload: floats([1, 2]))))
        let cut = (directory as NSString).appendingPathComponent("cut.npy")
        FileManager.default.createFile(atPath: cut, contents: whole.prefix(9))
        XCTAssertThrowsError(try NPYArray(path: cut)) { XCTAssertTrue("\($0)".contains("ends after 9 bytes, inside its preamble"), "\($0)") }
        var long = whole
        long[8] = 0x60; long[9] = 0xEA  // a header of 60,000 bytes
        let longPath = (directory as NSString).appendingPathComponent("long.npy")
        FileManager.default.createFile(atPath: longPath, contents: long)
        XCTAssertThrowsError(try NPYArray(path: longPath)) {
            XCTAssertTrue("\($0)".contains("says 60000 bytes") && "\($0)".contains("the file has \(whole.count) bytes"), "\($0)")
        }
    }

    func testWriterRoundTrips() throws {
        let path = (directory as NSString).appendingPathComponent("w.npy")
        let writer = try NPYWriter(path: path, elementType: .float16, rowShape: [8])
        let values = (0..<24).map { Float($0) / 4 }
        try values.withUnsafeBufferPointer { try writer.append(UnsafeBufferPointer(rebasing: $0[0..<16])) }
        try values.withUnsafeBufferPointer { try writer.append(UnsafeBufferPointer(rebasing: $0[16..<24])) }
        try writer.finish()
        let array = try NPYArray(path: path)
        XCTAssertEqual(array.shape, [3, 8])
        XCTAssertEqual(array.elementType, .float16)
        var out = [Float](repeating: 0, count: 24)
        out.withUnsafeMutableBufferPointer { array.copyFloats(start: 0, count: 24, into: $0.baseAddress!) }
        XCTAssertEqual(out, values)
    }

    // MARK: the embeddings layout

    private func layout(_ name: String, embeddings: [Float], rows: Int, dim: Int, lengths: [Int], ids: [String]) throws -> String {
        let dir = (directory as NSString).appendingPathComponent(name)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try NPYWriter.write(path: (dir as NSString).appendingPathComponent("doc_embeddings.npy"), elementType: .float32, shape: [rows, dim], floats: embeddings)
        try NPYWriter.write(path: (dir as NSString).appendingPathComponent("doclens.npy"), elementType: .int32, shape: [lengths.count], floats: lengths.map(Float.init))
        try EmbeddingsLayout.writeIDs(ids, path: (dir as NSString).appendingPathComponent("doc_ids.json"))
        return dir
    }

    func testLayoutErrorsNameTheFileAndTheProblem() throws {
        let good = (0..<3 * 8).map { Float($0 + 1) }
        XCTAssertNoThrow(try DocumentEmbeddings(directory: try layout("ok", embeddings: good, rows: 3, dim: 8, lengths: [1, 2], ids: ["a", "b"])))
        let mismatch = try layout("mismatch", embeddings: good, rows: 3, dim: 8, lengths: [1, 1], ids: ["a", "b"])
        XCTAssertThrowsError(try DocumentEmbeddings(directory: mismatch)) { XCTAssertTrue("\($0)".contains("doc_embeddings.npy") && "\($0)".contains("add up to 2"), "\($0)") }
        // Lengths whose sum passes Int.max (found by a probe: the sum trapped on overflow).
        let huge = try layout("huge", embeddings: good, rows: 3, dim: 8, lengths: [1, 2], ids: ["a", "b"])
        let lengths = try NPYWriter(path: (huge as NSString).appendingPathComponent("doclens.npy"), elementType: .int64, rowShape: [])
        try lengths.append(integers: [1 << 62, 1 << 62, 1, 1])
        try lengths.finish()
        try EmbeddingsLayout.writeIDs(["a", "b", "c", "d"], path: (huge as NSString).appendingPathComponent("doc_ids.json"))
        XCTAssertThrowsError(try DocumentEmbeddings(directory: huge)) {
            XCTAssertTrue("\($0)".contains("doclens.npy") && "\($0)".contains("document 0") && "\($0)".contains("3 rows"), "\($0)")
        }
        let duplicate = try layout("dup", embeddings: good, rows: 3, dim: 8, lengths: [1, 2], ids: ["a", "a"])
        XCTAssertThrowsError(try DocumentEmbeddings(directory: duplicate)) { XCTAssertTrue("\($0)".contains("doc_ids.json") && "\($0)".contains("duplicate id 'a'"), "\($0)") }
        let badDim = try layout("dim", embeddings: Array(good.prefix(18)), rows: 3, dim: 6, lengths: [1, 2], ids: ["a", "b"])
        XCTAssertThrowsError(try DocumentEmbeddings(directory: badDim)) { XCTAssertTrue("\($0)".contains("multiple of 8"), "\($0)") }
        var withNaN = good; withNaN[13] = .nan
        let nan = try DocumentEmbeddings(directory: try layout("nan", embeddings: withNaN, rows: 3, dim: 8, lengths: [1, 2], ids: ["a", "b"]))
        var buffer = [Float](repeating: 0, count: 24)
        XCTAssertThrowsError(try buffer.withUnsafeMutableBufferPointer { try nan.copyTokens(start: 0, count: 3, into: $0.baseAddress!) }) {
            XCTAssertTrue("\($0)".contains("row 1") && "\($0)".contains("NaN"), "\($0)")
        }
        var withZero = good; for j in 16..<24 { withZero[j] = 0 }
        let zero = try DocumentEmbeddings(directory: try layout("zero", embeddings: withZero, rows: 3, dim: 8, lengths: [1, 2], ids: ["a", "b"]))
        XCTAssertThrowsError(try buffer.withUnsafeMutableBufferPointer { try zero.copyTokens(start: 0, count: 3, into: $0.baseAddress!) }) {
            XCTAssertTrue("\($0)".contains("row 2") && "\($0)".contains("zero vector"), "\($0)")
        }
        XCTAssertThrowsError(try DocumentEmbeddings(directory: (directory as NSString).appendingPathComponent("absent"))) {
            XCTAssertTrue("\($0)".contains("doc_embeddings.npy"), "\($0)")
        }
    }
}
