import XCTest
import Foundation

/// The repository's SciFact and default model, for end-to-end tests on a small slice.
enum SciFactSlice {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
    static var model: String { (root as NSString).appendingPathComponent("models/minilm-colbert") }

    /// Skips (or, in CI, fails) when the default model is not assembled.
    static func requireModel() throws {
        guard FileManager.default.fileExists(atPath: model + "/model.safetensors") else {
            if ProcessInfo.processInfo.environment["CI"] != nil {
                XCTFail("models/minilm-colbert/model.safetensors is missing: CI must run scripts/setup.sh first")
            }
            throw XCTSkip("the default model is not assembled (run scripts/setup.sh)")
        }
    }

    /// A BEIR folder at `target` with the first `documents` SciFact documents, every query, and the
    /// test judgments on those documents.
    @discardableResult
    static func make(at target: String, documents: Int = 60) throws -> String {
        let source = (root as NSString).appendingPathComponent("datasets/scifact")
        try FileManager.default.createDirectory(atPath: target + "/qrels", withIntermediateDirectories: true)
        let corpus = try String(contentsOfFile: source + "/corpus.jsonl", encoding: .utf8).split(separator: "\n").prefix(documents)
        try (corpus.joined(separator: "\n") + "\n").write(toFile: target + "/corpus.jsonl", atomically: true, encoding: .utf8)
        struct Identified: Decodable { let _id: String }
        let ids = Set(try corpus.map { try JSONDecoder().decode(Identified.self, from: Data($0.utf8))._id })
        let qrels = try String(contentsOfFile: source + "/qrels/test.tsv", encoding: .utf8).split(whereSeparator: \.isNewline)
        let kept = qrels.dropFirst().filter { ids.contains(String($0.split(separator: "\t")[1])) }
        XCTAssertGreaterThan(kept.count, 0)
        try (["query-id\tcorpus-id\tscore"] + kept.map(String.init)).joined(separator: "\n").write(toFile: target + "/qrels/test.tsv", atomically: true, encoding: .utf8)
        try? FileManager.default.removeItem(atPath: target + "/queries.jsonl")
        try FileManager.default.copyItem(atPath: source + "/queries.jsonl", toPath: target + "/queries.jsonl")
        return target
    }
}
