import Foundation
import XCTest
import PlaidCore
@testable import PlaidEncoder

/// Parity of the native encoder with PyLate 1.6.0 (fixtures from scripts/fixtures/make_encoder_fixtures.py):
/// token ids equal, every vector within cosine 0.9999 of the reference.
final class EncoderParityTests: XCTestCase {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures").path
    static let defaultModel = (packageRoot as NSString).appendingPathComponent("models/minilm-colbert")
    static let tinyModernBert = (fixtures as NSString).appendingPathComponent("tiny-modernbert/model")

    static let minimumCosine: Float = 0.9999
    /// Bounds on the largest |difference| of one vector component, by how the dense layers multiply:
    /// float32 differs from PyTorch by summation order only; int16 rounds both operands of each
    /// product to 16 bits (per row and per column scales), which leaves ~1e-4 on unit vectors.
    static func maximumAbsoluteDifference(_ precision: MatrixPrecision) -> Float {
        precision == .float32 ? 1e-5 : 1e-3
    }

    struct Reference: Decodable {
        let queryLength: Int
        let documentLength: Int
        let texts: [String]
        let queryIDs: [[Int]]
        let queryAttentionMasks: [[Int]]
        let skiplistIDs: [Int]
        let documentIDs: [[Int]]
        let documentVectorCounts: [Int]
        enum CodingKeys: String, CodingKey {
            case queryLength = "query_length", documentLength = "document_length", texts
            case queryIDs = "query_ids", queryAttentionMasks = "query_attention_masks", skiplistIDs = "skiplist_ids", documentIDs = "document_ids", documentVectorCounts = "document_vector_counts"
        }
    }

    struct ReferenceSet {
        let reference: Reference
        let queryVectors: [Float]      // [texts, queryLength, dim]
        let documentVectors: [Float]   // [sum of counts, dim]
        let dimension: Int

        init(directory: String) throws {
            let data = try Data(contentsOf: URL(fileURLWithPath: (directory as NSString).appendingPathComponent("reference.json")))
            reference = try JSONDecoder().decode(Reference.self, from: data)
            func load(_ name: String) throws -> (values: [Float], shape: [Int]) {
                let array = try NPYArray(path: (directory as NSString).appendingPathComponent(name))
                var values = [Float](repeating: 0, count: array.elementCount)
                values.withUnsafeMutableBufferPointer { array.copyFloats(start: 0, count: array.elementCount, into: $0.baseAddress!) }
                return (values, array.shape)
            }
            let queries = try load("query_vectors.npy")
            let documents = try load("document_vectors.npy")
            queryVectors = queries.values
            documentVectors = documents.values
            dimension = documents.shape[1]
        }

        /// The reference document vectors of each text.
        var documentVectorsPerText: [[Float]] {
            var offset = 0
            return reference.documentVectorCounts.map { count in
                defer { offset += count * dimension }
                return Array(documentVectors[offset..<(offset + count * dimension)])
            }
        }

        var queryVectorsPerText: [[Float]] {
            let size = reference.queryLength * dimension
            return (0..<reference.texts.count).map { Array(queryVectors[($0 * size)..<(($0 + 1) * size)]) }
        }
    }

    /// Compares vector lists row by row; returns (min cosine, max |difference|) after asserting both.
    @discardableResult
    static func assertClose(_ actual: [[Float]], _ expected: [[Float]], dimension: Int, label: String,
                            precision: MatrixPrecision, file: StaticString = #filePath, line: UInt = #line) -> (Float, Float) {
        let label = "\(label) [\(precision)]"
        XCTAssertEqual(actual.count, expected.count, "\(label): number of texts", file: file, line: line)
        var minimumCosine: Float = 1, maximumDifference: Float = 0
        for (t, (a, e)) in zip(actual, expected).enumerated() {
            guard a.count == e.count else {
                XCTFail("\(label): text \(t) has \(a.count / dimension) vectors, expected \(e.count / dimension)", file: file, line: line)
                continue
            }
            for r in 0..<(a.count / dimension) {
                var dot: Float = 0, na: Float = 0, ne: Float = 0
                for c in 0..<dimension {
                    let x = a[r * dimension + c], y = e[r * dimension + c]
                    dot += x * y; na += x * x; ne += y * y
                    maximumDifference = max(maximumDifference, abs(x - y))
                }
                let cosine = dot / max((na * ne).squareRoot(), 1e-12)
                if cosine < minimumCosine { minimumCosine = cosine }
                if cosine < EncoderParityTests.minimumCosine {
                    XCTFail("\(label): text \(t) vector \(r) has cosine \(cosine) with the reference", file: file, line: line)
                }
            }
        }
        print("\(label): min cosine \(minimumCosine), max abs difference \(maximumDifference)")
        XCTAssertLessThanOrEqual(maximumDifference, EncoderParityTests.maximumAbsoluteDifference(precision), "\(label): max abs difference", file: file, line: line)
        return (minimumCosine, maximumDifference)
    }

    /// The default model's weights are assembled by a script, not committed: fail on CI, skip elsewhere.
    func requireDefaultModel() throws {
        let weights = (Self.defaultModel as NSString).appendingPathComponent("model.safetensors")
        if FileManager.default.fileExists(atPath: weights) { return }
        let message = "\(weights) is missing: run scripts/setup-default-model.sh to assemble the default model"
        if ProcessInfo.processInfo.environment["CI"] != nil {
            XCTFail(message)
            throw XCTSkip("failed: " + message)
        }
        throw XCTSkip(message)
    }

    // MARK: - Default model (MiniLM BERT)

    func testDefaultModelTokenIDsMatchPyLate() throws {
        try requireDefaultModel()
        let encoder = try ColBERTEncoder(modelPath: Self.defaultModel)
        let set = try ReferenceSet(directory: (Self.fixtures as NSString).appendingPathComponent("minilm"))
        for (i, text) in set.reference.texts.enumerated() {
            XCTAssertEqual(encoder.queryTokenIDs(text), set.reference.queryIDs[i], "query ids of text \(i): \(text)")
            XCTAssertEqual(encoder.documentTokenIDs(text), set.reference.documentIDs[i], "document ids of text \(i): \(text)")
        }
    }

    func testDefaultModelReadmeExamples() throws {
        try requireDefaultModel()
        let encoder = try ColBERTEncoder(modelPath: Self.defaultModel)
        XCTAssertEqual(encoder.queryTokenIDs("what is the role of p53 in cancer?"),
                       [101, 30522, 2054, 2003, 1996, 2535, 1997, 1052, 22275, 1999, 4456, 1029, 102] + [Int](repeating: 103, count: 19))
        let document = "P53, a tumor-suppressor: it (often) mutates."
        let ids = encoder.documentTokenIDs(document)
        XCTAssertEqual(ids, [101, 30523, 1052, 22275, 1010, 1037, 13656, 1011, 16081, 2953, 1024, 2009, 1006, 2411, 1007, 14163, 12259, 2015, 1012, 102])
        // The vectors of , - : ( ) . are dropped: 20 ids, 14 vectors.
        let vectors = try encoder.encodeDocuments([document])
        XCTAssertEqual(vectors[0].count, 14 * encoder.dimension)
        XCTAssertEqual(encoder.queryLength, 32)
        XCTAssertEqual(encoder.dimension, 384)
    }

    func testDefaultModelVectorsMatchPyLate() throws {
        try requireDefaultModel()
        let set = try ReferenceSet(directory: (Self.fixtures as NSString).appendingPathComponent("minilm"))
        for precision in MatrixPrecision.allCases {
            let encoder = try ColBERTEncoder(modelPath: Self.defaultModel, precision: precision)
            let queries = try encoder.encodeQueries(set.reference.texts)
            Self.assertClose(queries, set.queryVectorsPerText, dimension: set.dimension, label: "MiniLM queries", precision: precision)
            // A small batch size makes several length-sorted batches.
            var progress: [Int] = []
            let documents = try encoder.encodeDocuments(set.reference.texts, batchSize: 7) { progress.append($0) }
            Self.assertClose(documents, set.documentVectorsPerText, dimension: set.dimension, label: "MiniLM documents", precision: precision)
            XCTAssertEqual(progress.last, set.reference.texts.count)
        }
    }

    /// The model alone, fed PyLate's own ids: isolates the numerics from the tokenizer.
    func testDefaultModelOnReferenceTokenIDs() throws {
        try requireDefaultModel()
        let set = try ReferenceSet(directory: (Self.fixtures as NSString).appendingPathComponent("minilm"))
        for precision in MatrixPrecision.allCases {
            let model = try ColBERTModel(directory: Self.defaultModel, precision: precision)
            try checkModelOnReferenceIDs(model, set, label: "MiniLM model on reference ids", precision: precision)
        }
    }

    // MARK: - Tiny random ModernBERT (toy BPE tokenizer, sliding-window layers, biases, Dense 64 → 32)

    func testTinyModernBertTokenIDsMatchPyLate() throws {
        let encoder = try ColBERTEncoder(modelPath: Self.tinyModernBert)
        let set = try ReferenceSet(directory: (Self.fixtures as NSString).appendingPathComponent("tiny-modernbert"))
        for (i, text) in set.reference.texts.enumerated() {
            XCTAssertEqual(encoder.queryTokenIDs(text), set.reference.queryIDs[i], "query ids of text \(i): \(text)")
            XCTAssertEqual(encoder.documentTokenIDs(text), set.reference.documentIDs[i], "document ids of text \(i): \(text)")
        }
    }

    func testTinyModernBertVectorsMatchPyLate() throws {
        let set = try ReferenceSet(directory: (Self.fixtures as NSString).appendingPathComponent("tiny-modernbert"))
        for precision in MatrixPrecision.allCases {
            let encoder = try ColBERTEncoder(modelPath: Self.tinyModernBert, precision: precision)
            XCTAssertEqual(encoder.dimension, 32)
            let queries = try encoder.encodeQueries(set.reference.texts)
            Self.assertClose(queries, set.queryVectorsPerText, dimension: set.dimension, label: "tiny ModernBERT queries", precision: precision)
            let documents = try encoder.encodeDocuments(set.reference.texts, batchSize: 5)
            Self.assertClose(documents, set.documentVectorsPerText, dimension: set.dimension, label: "tiny ModernBERT documents", precision: precision)
        }
    }

    func testTinyModernBertOnReferenceTokenIDs() throws {
        let set = try ReferenceSet(directory: (Self.fixtures as NSString).appendingPathComponent("tiny-modernbert"))
        for precision in MatrixPrecision.allCases {
            let model = try ColBERTModel(directory: Self.tinyModernBert, precision: precision)
            try checkModelOnReferenceIDs(model, set, label: "tiny ModernBERT model on reference ids", precision: precision)
        }
    }

    /// Runs the model on the reference ids with PyLate's attention masks, dropping the document
    /// vectors of PyLate's skiplist ids.
    private func checkModelOnReferenceIDs(_ model: ColBERTModel, _ set: ReferenceSet, label: String,
                                          precision: MatrixPrecision) throws {
        let masks = set.reference.queryAttentionMasks.map { $0.map { $0 != 0 } }
        let queries = try model.embed(tokenIDs: set.reference.queryIDs, attendable: masks)
        Self.assertClose(queries, set.queryVectorsPerText, dimension: set.dimension, label: label + " (queries)", precision: precision)
        let skiplist = Set(set.reference.skiplistIDs)
        let all = try model.embed(tokenIDs: set.reference.documentIDs)
        let documents = zip(all, set.reference.documentIDs).map { vectors, ids -> [Float] in
            ids.enumerated().filter { !skiplist.contains($0.element) }.flatMap { p, _ in
                vectors[(p * set.dimension)..<((p + 1) * set.dimension)]
            }
        }
        Self.assertClose(documents, set.documentVectorsPerText, dimension: set.dimension, label: label + " (documents)", precision: precision)
    }
}
