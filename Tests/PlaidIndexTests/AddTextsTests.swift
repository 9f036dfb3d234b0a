import XCTest
import PlaidCore
@testable import PlaidIndex

/// `IndexWriter.add(texts:encoder:)`: texts encoded the one way (`TextEncoder.vectors`) and
/// staged as the same vectors given directly would be.
final class AddTextsTests: XCTestCase {
    private var directory = ""
    override func setUp() { directory = temporaryDirectory() }
    override func tearDown() { try? FileManager.default.removeItem(atPath: directory) }

    /// A stand-in model: each word a seeded unit vector; it counts its calls.
    private final class WordVectors: TextEncoder {
        let dimension: Int
        let queryLength = 4
        var tokensProcessed = 0
        var documentCalls: [Int] = []
        init(dimension: Int) { self.dimension = dimension }
        var identity: ModelIdentity {
            ModelIdentity(name: "words", path: "/models/words", hash: "1", dim: dimension, queryLength: queryLength,
                          documentLength: 64, queryPrefix: "", documentPrefix: "", precision: "float32")
        }
        func vector(_ word: Substring) -> [Float] {
            var random = SeededRandom(seed: word.utf8.reduce(UInt64(1469598103934665603)) { ($0 ^ UInt64($1)) &* 1099511628211 })
            let v = (0..<dimension).map { _ in Float(Int(random.next() % 2001) - 1000) / 1000 + 0.001 }
            let norm = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
            return v.map { $0 / norm }
        }
        func encodeDocuments(_ texts: [String], batchSize: Int, progress: ((Int) -> Void)?) throws -> [[Float]] {
            documentCalls.append(texts.count)
            return texts.map { $0.split(separator: " ").flatMap(vector) }
        }
        func encodeQueries(_ texts: [String], batchSize: Int) throws -> [[Float]] {
            texts.map { $0.split(separator: " ").prefix(queryLength).flatMap(vector) }
        }
        func encodeQueryEmbeddings(ids: [String], texts: [String], batchSize: Int) throws -> QueryEmbeddings {
            QueryEmbeddings(ids: ids, tokensPerQuery: queryLength, dim: dimension, values: [], model: identity)
        }
    }

    private func files(_ path: String) throws -> [String: Data] {
        var out: [String: Data] = [:]
        for case let file as String in FileManager.default.enumerator(atPath: path)! where file != "writer.lock" {
            var isDirectory: ObjCBool = false
            let full = (path as NSString).appendingPathComponent(file)
            if FileManager.default.fileExists(atPath: full, isDirectory: &isDirectory), !isDirectory.boolValue { out[file] = FileManager.default.contents(atPath: full) }
        }
        return out
    }

    func testTextsAreStagedAsTheirVectorsWouldBe() throws {
        let words = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa"]
        let texts = (0..<70).map { d in TextRecord(id: "t\(d)", text: (0..<(3 + d % 5)).map { words[($0 * 7 + d) % words.count] }.joined(separator: " ")) }
        let encoder = WordVectors(dimension: 16)
        let parameters = BuildParameters(nbits: 2, kmeans: KMeansParameters(centroids: 8))
        for name in ["texts", "vectors"] {
            try IndexBuilder.createEmpty(at: (directory as NSString).appendingPathComponent(name), dim: 16, parameters: parameters, model: encoder.identity)
        }
        let byTexts = try IndexWriter(path: (directory as NSString).appendingPathComponent("texts"))
        var chunks = 0
        let added = try byTexts.add(texts: texts, encoder: encoder, chunk: 32) { chunks += 1 }
        try byTexts.commit()
        byTexts.close()
        XCTAssertEqual(added.documents, 70)
        XCTAssertEqual(chunks, 3, "one deadline check before each chunk of 32")
        XCTAssertEqual(encoder.documentCalls, [32, 32, 6])

        let byVectors = try IndexWriter(path: (directory as NSString).appendingPathComponent("vectors"))
        let batch = try DocumentBatch(ids: texts.map(\.id), documents: try encoder.encodeDocuments(texts.map(\.text), batchSize: 32, progress: nil), dim: 16)
        batch.model = encoder.identity
        try byVectors.add(batch)
        try byVectors.commit()
        byVectors.close()
        XCTAssertEqual(try files((directory as NSString).appendingPathComponent("texts")),
                       try files((directory as NSString).appendingPathComponent("vectors")))

        // A stop before a chunk stages nothing; another model's dimension is refused.
        let writer = try IndexWriter(path: (directory as NSString).appendingPathComponent("texts"))
        defer { writer.close() }
        struct Stopped: Error {}
        var calls = 0
        XCTAssertThrowsError(try writer.add(texts: texts.map { TextRecord(id: "n" + $0.id, text: $0.text) }, encoder: encoder, chunk: 32) {
            calls += 1
            if calls == 2 { throw Stopped() }
        }) { XCTAssertTrue($0 is Stopped, "\($0)") }
        XCTAssertFalse(writer.hasChanges)
        XCTAssertThrowsError(try writer.add(texts: texts, encoder: WordVectors(dimension: 8))) {
            XCTAssertTrue("\($0)".contains("dimension 8"), "\($0)")
        }
        XCTAssertFalse(writer.hasChanges)
    }
}
