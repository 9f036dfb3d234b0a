import Foundation
import XCTest
import PlaidCore
@testable import PlaidEncoder

/// Strict weight loading, name variants, dtypes, shards, and finding models on disk.
final class ModelLoadingTests: XCTestCase {
    var scratch: String!

    override func setUpWithError() throws {
        scratch = (NSTemporaryDirectory() as NSString).appendingPathComponent("plaid-model-loading-\(UUID().uuidString)")
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: scratch)
    }

    // MARK: - A tiny BERT written by the test

    struct Tensor {
        var name: String
        var shape: [Int]
        var values: [Float]
    }

    /// Writes a safetensors file; `dtype` F32, F16 or BF16 (BF16 truncates).
    static func writeSafeTensors(_ tensors: [Tensor], path: String, dtype: String = "F32", extraHeader: [String: Any] = [:]) throws {
        var header: [String: Any] = ["__metadata__": ["format": "pt"]]
        var data = Data()
        for tensor in tensors {
            let begin = data.count
            for v in tensor.values {
                switch dtype {
                case "F16": withUnsafeBytes(of: Float16(v).bitPattern.littleEndian) { data.append(contentsOf: $0) }
                case "BF16": withUnsafeBytes(of: UInt16(v.bitPattern >> 16).littleEndian) { data.append(contentsOf: $0) }
                default: withUnsafeBytes(of: v.bitPattern.littleEndian) { data.append(contentsOf: $0) }
                }
            }
            header[tensor.name] = ["dtype": dtype, "shape": tensor.shape, "data_offsets": [begin, data.count]]
        }
        for (k, v) in extraHeader { header[k] = v }
        var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        while json.count % 8 != 0 { json.append(0x20) }
        var file = Data()
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { file.append(contentsOf: $0) }
        file.append(json)
        file.append(data)
        try file.write(to: URL(fileURLWithPath: path))
    }

    static let bertConfig: [String: Any] = [
        "model_type": "bert", "vocab_size": 40, "hidden_size": 16, "num_hidden_layers": 2,
        "num_attention_heads": 2, "intermediate_size": 24, "max_position_embeddings": 20,
        "type_vocab_size": 2, "layer_norm_eps": 1e-12, "hidden_act": "gelu",
    ]

    /// The parameters of `bertConfig` with seeded random values, named as `BertModel`'s state dict.
    static func bertTensors(seed: UInt64 = 7) -> [Tensor] {
        var state = seed
        func random() -> Float {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Float(Int64(bitPattern: state >> 11) % 2000) / 4000
        }
        func tensor(_ name: String, _ shape: [Int], around center: Float = 0) -> Tensor {
            Tensor(name: name, shape: shape, values: (0..<shape.reduce(1, *)).map { _ in center + random() })
        }
        let h = 16, i = 24
        var tensors = [
            tensor("embeddings.word_embeddings.weight", [40, h]),
            tensor("embeddings.position_embeddings.weight", [20, h]),
            tensor("embeddings.token_type_embeddings.weight", [2, h]),
            tensor("embeddings.LayerNorm.weight", [h], around: 1),
            tensor("embeddings.LayerNorm.bias", [h]),
        ]
        for l in 0..<2 {
            let p = "encoder.layer.\(l)"
            for part in ["attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense"] {
                tensors += [tensor("\(p).\(part).weight", [h, h]), tensor("\(p).\(part).bias", [h])]
            }
            tensors += [
                tensor("\(p).attention.output.LayerNorm.weight", [h], around: 1), tensor("\(p).attention.output.LayerNorm.bias", [h]),
                tensor("\(p).intermediate.dense.weight", [i, h]), tensor("\(p).intermediate.dense.bias", [i]),
                tensor("\(p).output.dense.weight", [h, i]), tensor("\(p).output.dense.bias", [h]),
                tensor("\(p).output.LayerNorm.weight", [h], around: 1), tensor("\(p).output.LayerNorm.bias", [h]),
            ]
        }
        return tensors
    }

    /// A folder with config.json and the given tensors; returns its path.
    func bertFolder(_ name: String, tensors: [Tensor], dtype: String = "F32") throws -> String {
        let folder = (scratch as NSString).appendingPathComponent(name)
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try JSONSerialization.data(withJSONObject: Self.bertConfig).write(to: URL(fileURLWithPath: (folder as NSString).appendingPathComponent("config.json")))
        try Self.writeSafeTensors(tensors, path: (folder as NSString).appendingPathComponent("model.safetensors"), dtype: dtype)
        return folder
    }

    static let sampleIDs: [[Int]] = [[1, 5, 9, 22, 3, 2], [1, 39, 2]]

    func embed(_ folder: String) throws -> [[Float]] {
        let backbone = try loadBackbone(directory: folder, precision: .float32)
        var batch = PackedSequences()
        for ids in Self.sampleIDs { batch.append(ids, attendable: ids.map { _ in true }) }
        let out = backbone.forward(batch, threads: 2)
        let hidden = backbone.hiddenSize
        return (0..<batch.sequenceCount).map { s in
            Array(UnsafeBufferPointer(start: out.pointer + batch.offsets[s] * hidden, count: batch.length(of: s) * hidden))
        }
    }

    func assertThrows(_ expression: @autoclosure () throws -> Any, mentioning words: [String], file: StaticString = #filePath, line: UInt = #line) {
        do {
            _ = try expression()
            XCTFail("expected an error mentioning \(words)", file: file, line: line)
        } catch {
            let message = "\(error)"
            for word in words {
                XCTAssertTrue(message.contains(word), "error '\(message)' does not mention '\(word)'", file: file, line: line)
            }
        }
    }

    // MARK: - Strict loading

    func testCompleteCheckpointLoads() throws {
        let vectors = try embed(try bertFolder("plain", tensors: Self.bertTensors()))
        XCTAssertEqual(vectors.map(\.count), Self.sampleIDs.map { $0.count * 16 })
        XCTAssertTrue(vectors.joined().allSatisfy(\.isFinite))
    }

    func testMissingTensorIsNamed() throws {
        let tensors = Self.bertTensors().filter { $0.name != "encoder.layer.1.intermediate.dense.bias" }
        assertThrows(try embed(try bertFolder("missing", tensors: tensors)), mentioning: ["encoder.layer.1.intermediate.dense.bias", "lacks"])
    }

    func testExtraTensorIsNamed() throws {
        let tensors = Self.bertTensors() + [Tensor(name: "encoder.layer.0.attention.self.rotary.weight", shape: [2], values: [0, 0])]
        assertThrows(try embed(try bertFolder("extra", tensors: tensors)), mentioning: ["encoder.layer.0.attention.self.rotary.weight", "does not use"])
    }

    func testWrongShapeIsNamed() throws {
        var tensors = Self.bertTensors()
        let index = tensors.firstIndex { $0.name == "encoder.layer.0.output.dense.weight" }!
        tensors[index] = Tensor(name: tensors[index].name, shape: [24, 16], values: tensors[index].values)
        assertThrows(try embed(try bertFolder("shape", tensors: tensors)), mentioning: ["encoder.layer.0.output.dense.weight", "[24, 16]", "[16, 24]"])
    }

    func testGammaBetaAndBertPrefixVariantsLoadTheSame() throws {
        let reference = try embed(try bertFolder("plain", tensors: Self.bertTensors()))
        let renamed = Self.bertTensors().map { tensor -> Tensor in
            var name = "bert." + tensor.name
            if name.contains("LayerNorm.weight") { name = name.replacingOccurrences(of: "LayerNorm.weight", with: "LayerNorm.gamma") }
            if name.contains("LayerNorm.bias") { name = name.replacingOccurrences(of: "LayerNorm.bias", with: "LayerNorm.beta") }
            return Tensor(name: name, shape: tensor.shape, values: tensor.values)
        }
        // Known buffers and pre-training heads are tolerated, a pooler is accepted.
        let extras = [
            Tensor(name: "bert.embeddings.position_ids", shape: [1, 20], values: (0..<20).map(Float.init)),
            Tensor(name: "cls.predictions.bias", shape: [40], values: [Float](repeating: 0, count: 40)),
            Tensor(name: "bert.pooler.dense.weight", shape: [16, 16], values: [Float](repeating: 0, count: 256)),
            Tensor(name: "bert.pooler.dense.bias", shape: [16], values: [Float](repeating: 0, count: 16)),
        ]
        let variant = try embed(try bertFolder("variant", tensors: renamed + extras))
        XCTAssertEqual(variant, reference)
        let modelPrefix = Self.bertTensors().map { Tensor(name: "model." + $0.name, shape: $0.shape, values: $0.values) }
        XCTAssertEqual(try embed(try bertFolder("model-prefix", tensors: modelPrefix)), reference)
    }

    func testTwoNamesForOneParameterAreRefused() throws {
        let tensors = Self.bertTensors() + [Tensor(name: "bert.embeddings.LayerNorm.gamma", shape: [16], values: [Float](repeating: 1, count: 16))]
        assertThrows(try embed(try bertFolder("duplicate", tensors: tensors)), mentioning: ["embeddings.LayerNorm.weight"])
    }

    func testHalfPrecisionCheckpointsLoad() throws {
        let reference = try embed(try bertFolder("f32", tensors: Self.bertTensors()))
        for dtype in ["F16", "BF16"] {
            // Values rounded to the narrow type first, so the F32 copy holds exactly the same numbers.
            let rounded = Self.bertTensors().map { tensor in
                Tensor(name: tensor.name, shape: tensor.shape, values: tensor.values.map {
                    dtype == "F16" ? Float(Float16($0)) : Float(bitPattern: $0.bitPattern & 0xFFFF_0000)
                })
            }
            let expected = try embed(try bertFolder("\(dtype)-as-f32", tensors: rounded))
            let actual = try embed(try bertFolder(dtype, tensors: rounded, dtype: dtype))
            XCTAssertEqual(actual, expected, dtype)
            XCTAssertEqual(actual.count, reference.count)
        }
    }

    func testShardedCheckpointLoads() throws {
        let tensors = Self.bertTensors()
        let reference = try embed(try bertFolder("single", tensors: tensors))
        let folder = (scratch as NSString).appendingPathComponent("sharded")
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try JSONSerialization.data(withJSONObject: Self.bertConfig).write(to: URL(fileURLWithPath: (folder as NSString).appendingPathComponent("config.json")))
        let half = tensors.count / 2
        let shards = [("model-00001-of-00002.safetensors", Array(tensors[..<half])), ("model-00002-of-00002.safetensors", Array(tensors[half...]))]
        var weightMap: [String: String] = [:]
        for (name, part) in shards {
            try Self.writeSafeTensors(part, path: (folder as NSString).appendingPathComponent(name))
            for tensor in part { weightMap[tensor.name] = name }
        }
        try JSONSerialization.data(withJSONObject: ["metadata": [:], "weight_map": weightMap])
            .write(to: URL(fileURLWithPath: (folder as NSString).appendingPathComponent("model.safetensors.index.json")))
        XCTAssertEqual(try embed(folder), reference)
    }

    func testTruncatedSafeTensorsIsAnError() throws {
        let folder = try bertFolder("truncated", tensors: Self.bertTensors())
        let path = (folder as NSString).appendingPathComponent("model.safetensors")
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        try data.prefix(data.count - 100).write(to: URL(fileURLWithPath: path))
        assertThrows(try embed(folder), mentioning: ["model.safetensors", "outside the file"])
    }

    func testUnsupportedModelTypeIsNamed() throws {
        let folder = try bertFolder("roberta", tensors: Self.bertTensors())
        var config = Self.bertConfig
        config["model_type"] = "roberta"
        try JSONSerialization.data(withJSONObject: config).write(to: URL(fileURLWithPath: (folder as NSString).appendingPathComponent("config.json")))
        assertThrows(try embed(folder), mentioning: ["roberta", "config.json"])
    }

    // MARK: - ModernBERT strictness (the committed tiny model)

    func testModernBertMissingTensorIsNamed() throws {
        let folder = (scratch as NSString).appendingPathComponent("tiny")
        try FileManager.default.copyItem(atPath: EncoderParityTests.tinyModernBert, toPath: folder)
        let weights = (folder as NSString).appendingPathComponent("model.safetensors")
        let file = try SafeTensorsFile(path: weights)
        let kept = try file.tensors.keys.sorted().filter { $0 != "layers.2.mlp.Wi.bias" }.map { name in
            Tensor(name: name, shape: file.tensors[name]!.shape, values: try file.floats(name).array)
        }
        try Self.writeSafeTensors(kept, path: weights)
        assertThrows(try ColBERTEncoder(modelPath: folder), mentioning: ["layers.2.mlp.Wi.bias"])
    }

    // MARK: - Finding models

    func testMissingModelSaysWhereItLookedAndWhatToDo() {
        let environment = ["HF_HUB_CACHE": scratch!]
        assertThrows(try ModelLocator.resolve("no-such-org/no-such-model", environment: environment),
                     mentioning: ["no-such-org/no-such-model", scratch, "models--no-such-org--no-such-model", "setup-default-model.sh", "never downloads"])
        assertThrows(try ColBERTEncoder(modelPath: (scratch as NSString).appendingPathComponent("absent-folder")),
                     mentioning: ["absent-folder", "setup-default-model.sh"])
    }

    func testHubCacheDirectoryFollowsTheEnvironment() {
        XCTAssertEqual(ModelLocator.hubCacheDirectory(environment: ["HF_HUB_CACHE": "/a", "HF_HOME": "/b", "HOME": "/c"]), "/a")
        XCTAssertEqual(ModelLocator.hubCacheDirectory(environment: ["HF_HOME": "/b", "HOME": "/c"]), "/b/hub")
        XCTAssertEqual(ModelLocator.hubCacheDirectory(environment: ["HOME": "/c"]), "/c/.cache/huggingface/hub")
    }

    func testRepoIDIsFoundInTheHubCache() throws {
        let repo = (scratch as NSString).appendingPathComponent("models--test-org--tiny-colbert")
        let snapshot = (repo as NSString).appendingPathComponent("snapshots/0123abcd")
        try FileManager.default.createDirectory(atPath: (repo as NSString).appendingPathComponent("snapshots"), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: (repo as NSString).appendingPathComponent("refs"), withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: EncoderParityTests.tinyModernBert, toPath: snapshot)
        try FileManager.default.createDirectory(atPath: (repo as NSString).appendingPathComponent("snapshots/older"), withIntermediateDirectories: true)
        try "0123abcd\n".write(toFile: (repo as NSString).appendingPathComponent("refs/main"), atomically: true, encoding: .utf8)

        XCTAssertEqual(try ModelLocator.resolve("test-org/tiny-colbert", environment: ["HF_HUB_CACHE": scratch]), snapshot)
        // HF_HOME/hub is the cache when HF_HUB_CACHE is unset.
        let home = (scratch as NSString).appendingPathComponent("home")
        try FileManager.default.createDirectory(atPath: (home as NSString).appendingPathComponent("hub"), withIntermediateDirectories: true)
        try FileManager.default.moveItem(atPath: repo, toPath: (home as NSString).appendingPathComponent("hub/models--test-org--tiny-colbert"))
        XCTAssertEqual(try ModelLocator.resolve("test-org/tiny-colbert", environment: ["HF_HOME": home]),
                       (home as NSString).appendingPathComponent("hub/models--test-org--tiny-colbert/snapshots/0123abcd"))
        assertThrows(try ModelLocator.resolve("test-org/tiny-colbert", environment: ["HF_HUB_CACHE": scratch]), mentioning: ["test-org/tiny-colbert"])
    }

    func testEncoderOpensARepoIDThroughHFHubCache() throws {
        let repo = (scratch as NSString).appendingPathComponent("models--test-org--tiny-colbert")
        let snapshot = (repo as NSString).appendingPathComponent("snapshots/feedface")
        try FileManager.default.createDirectory(atPath: (repo as NSString).appendingPathComponent("snapshots"), withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: EncoderParityTests.tinyModernBert, toPath: snapshot)
        let previous = ProcessInfo.processInfo.environment["HF_HUB_CACHE"]
        setenv("HF_HUB_CACHE", scratch, 1)
        defer { if let previous { setenv("HF_HUB_CACHE", previous, 1) } else { unsetenv("HF_HUB_CACHE") } }
        let encoder = try ColBERTEncoder(modelPath: "test-org/tiny-colbert")
        XCTAssertEqual(encoder.modelDirectory, snapshot)
        XCTAssertEqual(encoder.dimension, 32)
        XCTAssertEqual(try encoder.encodeQueries(["hello"])[0].count, 16 * 32)
    }
}
