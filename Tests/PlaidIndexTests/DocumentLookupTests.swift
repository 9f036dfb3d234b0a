import XCTest
import PlaidCore
@testable import PlaidIndex

/// Naming documents by id (`DocumentLookup`), documents handed over in a caller's memory
/// (`BorrowedDocumentBatch`) and metadata given as one JSON array: what the C interface builds on.
final class DocumentLookupTests: XCTestCase {
    private var directory = ""
    private var pool: DocumentEmbeddings!

    override func setUpWithError() throws {
        directory = temporaryDirectory()
        (_, pool) = try smallCorpus(documents: 120, tokens: 6...12, dim: 16, seed: 5, in: directory)
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: directory) }

    private func vectors(_ documents: Range<Int>) throws -> [Float] {
        let start = pool.offsets[documents.lowerBound], count = pool.offsets[documents.upperBound] - start
        var v = [Float](repeating: 0, count: count * pool.dim)
        try v.withUnsafeMutableBufferPointer { try pool.copyTokens(start: start, count: count, into: $0.baseAddress!) }
        return v
    }

    private func borrowed(_ documents: Range<Int>, ids: [String], values: UnsafePointer<Float>) throws -> BorrowedDocumentBatch {
        try BorrowedDocumentBatch(ids: ids, lengths: Array(pool.lengths[documents]), values: values, dim: pool.dim, sourceName: "the test's documents")
    }

    func testABorrowedBatchBuildsTheSameIndexAsTheFileItCameFrom() throws {
        let values = try vectors(0..<120)
        let fromFile = (directory as NSString).appendingPathComponent("file")
        let fromMemory = (directory as NSString).appendingPathComponent("memory")
        _ = try IndexBuilder.build(from: pool, at: fromFile, parameters: BuildParameters(kmeans: KMeansParameters(centroids: 16)))
        try values.withUnsafeBufferPointer { buffer in
            let batch = try borrowed(0..<120, ids: pool.ids, values: buffer.baseAddress!)
            _ = try IndexBuilder.build(from: batch, at: fromMemory, parameters: BuildParameters(kmeans: KMeansParameters(centroids: 16)))
        }
        let queries = QueryEmbeddings(ids: ["q"], tokensPerQuery: 6, dim: pool.dim, values: Array(values.prefix(6 * pool.dim)))
        let a = Searcher(index: try CompressedIndex(path: fromFile)).search(queries: queries, parameters: SearchParameters(k: 10), threads: 1)
        let b = Searcher(index: try CompressedIndex(path: fromMemory)).search(queries: queries, parameters: SearchParameters(k: 10), threads: 1)
        XCTAssertEqual(a, b)
    }

    func testABorrowedBatchChecksItsRowsAsTheyAreRead() throws {
        var values = try vectors(0..<3)
        values[pool.lengths[0] * pool.dim + 2] = .nan   // document 1, its first row
        try values.withUnsafeBufferPointer { buffer in
            let batch = try borrowed(0..<3, ids: ["a", "b", "c"], values: buffer.baseAddress!)
            var out = [Float](repeating: 0, count: batch.tokenCount * pool.dim)
            XCTAssertThrowsError(try batch.copyTokens(start: 0, count: batch.tokenCount, into: &out)) {
                XCTAssertEqual(($0 as? PlaidError)?.description, "the test's documents: row \(pool.lengths[0]) holds NaN or infinite values")
            }
            XCTAssertThrowsError(try BorrowedDocumentBatch(ids: ["a", "a", "c"], lengths: [1, 1, 1], values: buffer.baseAddress!, dim: pool.dim, sourceName: "x"))
            XCTAssertThrowsError(try BorrowedDocumentBatch(ids: ["a"], lengths: [0], values: buffer.baseAddress!, dim: pool.dim, sourceName: "x")) {
                XCTAssertTrue(String(describing: $0).contains("document 'a' has 0 vectors"))
            }
        }
    }

    func testTheLookupFindsLiveDocumentsAndFiltersByID() throws {
        let path = (directory as NSString).appendingPathComponent("index")
        _ = try IndexBuilder.build(from: pool, at: path, parameters: BuildParameters(kmeans: KMeansParameters(centroids: 16)))
        let writer = try IndexWriter(path: path)
        try writer.delete(ids: [pool.ids[4]])
        try writer.commit()
        writer.close()
        let index = try CompressedIndex(path: path)
        let lookup = DocumentLookup(index: index)
        XCTAssertEqual(lookup.ordinal(of: pool.ids[7]).map(index.documentID), pool.ids[7])
        XCTAssertNil(lookup.ordinal(of: pool.ids[4]), "a deleted document is not found")
        XCTAssertNil(lookup.ordinal(of: "no such id"))
        let filter = lookup.filter(ids: [pool.ids[9], pool.ids[4], "no such id", pool.ids[2]])
        XCTAssertEqual(filter.ordinals.map(index.documentID), [pool.ids[2], pool.ids[9]])
        XCTAssertEqual(filter.tokens, pool.lengths[2] + pool.lengths[9])
        let both = filter.intersection(lookup.filter(ids: [pool.ids[9], pool.ids[11]]), in: index)
        XCTAssertEqual(both.ordinals.map(index.documentID), [pool.ids[9]])
    }

    func testMetadataAsAJSONArrayHasOneObjectOrNullPerDocument() throws {
        let read = try MetadataReader.read(jsonArray: Array(#"[{"year": 2001, "tags": ["a"]}, null, {"ok": true}]"#.utf8),
                                           ids: ["a", "b", "c"], source: "metadata")
        XCTAssertEqual(read["a"]?["year"], .integer(2001))
        XCTAssertEqual(read["a"]?["tags"], .json(#"["a"]"#))
        XCTAssertNil(read["b"])
        XCTAssertEqual(read["c"]?["ok"], .boolean(true))
        let cases: [(String, String)] = [
            (#"{"a": 1}"#, "expected a JSON array of one object (or null) per document, found an object"),
            (#"[{}]"#, "has 1 entries for 3 documents"),
            (#"[{}, 3, {}]"#, "entry 1 (document 'b') is a number; expected an object of fields, or null"),
            (#"[{}, {}"#, "expected a JSON array of one object (or null) per document;"),
        ]
        for (text, expected) in cases {
            XCTAssertThrowsError(try MetadataReader.read(jsonArray: Array(text.utf8), ids: ["a", "b", "c"], source: "metadata"), text) {
                XCTAssertTrue(String(describing: $0).contains(expected), "\(text): \($0)")
            }
        }
    }
}
