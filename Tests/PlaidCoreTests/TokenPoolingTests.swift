import Foundation
import XCTest
@testable import PlaidCore

/// Token pooling (`TokenPooling`, `PooledEncoder`): what PyLate's hierarchical pooling makes of
/// the same vectors (Fixtures/pooling.json, from make_pooling_fixture.py with SciPy), and the
/// contracts around it.
final class TokenPoolingTests: XCTestCase {
    struct Case: Decodable {
        let dimension: Int
        let factor: Int
        let vectors: [Float]
        let pooled: [Float]
    }

    /// A document's vectors as rows, sorted, so that two poolings compare as sets of vectors
    /// (MaxSim does not depend on their order).
    static func sortedRows(_ values: [Float], dimension: Int) -> [[Float]] {
        stride(from: 0, to: values.count, by: dimension).map { Array(values[$0..<($0 + dimension)]) }
            .sorted { a, b in zip(a, b).first { $0 != $1 }.map { $0 < $1 } ?? false }
    }

    func testPoolingMatchesPyLatesHierarchicalPooling() throws {
        let url = try XCTUnwrap(Bundle.module.url(forResource: "Fixtures/pooling", withExtension: "json"))
        let cases = try JSONDecoder().decode([Case].self, from: Data(contentsOf: url))
        XCTAssertEqual(cases.count, 6)
        for (i, c) in cases.enumerated() {
            let pooled = TokenPooling.pool(c.vectors, dimension: c.dimension, factor: c.factor)
            XCTAssertEqual(pooled.count, c.pooled.count, "case \(i): pooled vectors")
            XCTAssertEqual(Array(pooled.prefix(c.dimension)), Array(c.vectors.prefix(c.dimension)), "case \(i): the first token is kept first")
            let ours = Self.sortedRows(pooled, dimension: c.dimension), theirs = Self.sortedRows(c.pooled, dimension: c.dimension)
            guard ours.count == theirs.count else { continue }
            for (a, b) in zip(ours, theirs) {
                for (x, y) in zip(a, b) { XCTAssertEqual(x, y, accuracy: 1e-6, "case \(i)") }
            }
        }
    }

    /// A document pooling would not shorten (factor 1, or too few tokens) comes back unchanged.
    func testPoolingThatWouldNotShortenChangesNothing() {
        let vectors: [Float] = [1, 0, 0, 1, 0.6, 0.8]
        XCTAssertEqual(TokenPooling.pool(vectors, dimension: 2, factor: 1), vectors)
        XCTAssertEqual(TokenPooling.pool(Array(vectors.prefix(4)), dimension: 2, factor: 2), Array(vectors.prefix(4)))
        XCTAssertEqual(TokenPooling.pool([], dimension: 2, factor: 3), [])
    }

    /// Identical vectors end in one cluster, whose mean is that vector; the cut gives the count asked.
    func testTheCutGivesTheClustersAsked() {
        let a: [Float] = [1, 0], b: [Float] = [0, 1]
        let vectors = [0.6, 0.8] + a + a + a + b + b + b
        let pooled = TokenPooling.pool(vectors, dimension: 2, factor: 3)
        XCTAssertEqual(pooled, [0.6, 0.8] + a + b)
        let labels = TokenPooling.wardClusters(distances: [0, 1, 9, 9, 1, 0, 9, 9, 9, 9, 0, 2, 9, 9, 2, 0], count: 4, clusters: 2)
        XCTAssertEqual(labels, [0, 0, 1, 1])
        XCTAssertEqual(TokenPooling.wardClusters(distances: [0, 1, 1, 0], count: 2, clusters: 2), [0, 1])
    }

    /// The pooled encoder pools documents, not queries.
    func testThePooledEncoderPoolsDocumentsOnly() throws {
        let base = FixedEncoder()
        let pooled = PooledEncoder(base, factor: 2)
        let documents = try pooled.encodeDocuments(["x"], batchSize: 1, progress: nil)
        XCTAssertEqual(documents, [TokenPooling.pool(base.document, dimension: 2, factor: 2)])
        XCTAssertLessThan(documents[0].count, base.document.count)
        XCTAssertEqual(try pooled.encodeQueries(["x"], batchSize: 1), try base.encodeQueries(["x"], batchSize: 1))
    }

    final class FixedEncoder: TextEncoder {
        let document: [Float] = [0.6, 0.8, 1, 0, 1, 0, 0, 1, 0, 1, 0.8, 0.6]
        var dimension: Int { 2 }
        var queryLength: Int { 2 }
        var identity: ModelIdentity {
            ModelIdentity(name: "fixed", path: "", hash: "", dim: 2, queryLength: 2, documentLength: 8, queryPrefix: "", documentPrefix: "", precision: "float32")
        }
        var tokensProcessed: Int { 0 }
        func encodeDocuments(_ texts: [String], batchSize: Int, progress: ((Int) -> Void)?) throws -> [[Float]] { texts.map { _ in document } }
        func encodeQueries(_ texts: [String], batchSize: Int) throws -> [[Float]] { texts.map { _ in [1, 0, 0, 1] } }
        func encodeQueryEmbeddings(ids: [String], texts: [String], batchSize: Int) throws -> QueryEmbeddings {
            fatalError("not used")
        }
    }
}
