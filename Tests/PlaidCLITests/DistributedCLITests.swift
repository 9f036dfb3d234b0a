import XCTest
import Foundation
import PlaidCore

/// A build spread over workers as a user runs it: `plaid codebook train` on a sample, `plaid
/// segment build` per shard of a text collection, `plaid attach`, against `plaid build --codebook`
/// of the whole collection, with the default model on a slice of SciFact.
final class DistributedCLITests: PlaidCLITestCase {
    /// With a codebook, what the codebook fixes cannot be given again, and a codebook that stores
    /// text needs the texts of embeddings: documents would otherwise store empty texts silently.
    func testACodebooksSettingsAndTextsAreNotLeftOut() throws {
        try plaid(["synthesize", "--documents", "60", "--dim", "32", "--output", path("emb")])
        try plaid(["codebook", "train", "--embeddings", path("emb"), "--centroids", "16", "--store-text", "--output", path("cb")])
        for (arguments, says) in [
            (["segment", "build", "--codebook", path("cb"), "--embeddings", path("emb"), "--output", path("segment")], "--texts"),
            (["build", "--codebook", path("cb"), "--embeddings", path("emb"), "--index", path("index")], "--texts"),
            (["build", "--codebook", path("cb"), "--nbits", "4", "--index", path("index")], "come from the codebook"),
            (["build", "--codebook", path("cb"), "--seed", "3", "--index", path("index")], "come from the codebook"),
            (["build", "--codebook", path("cb"), "--kmeans-iterations", "2", "--index", path("index")], "come from the codebook"),
            (["segment", "build", "--codebook", path("cb"), "--embeddings", path("emb"), "--output", ""], "--output"),
            (["codebook", "train", "--embeddings", path("emb"), "--output", ""], "--output"),
        ] {
            let refused = try plaid(arguments, expect: nil)
            XCTAssertNotEqual(refused.status, 0, arguments.joined(separator: " "))
            XCTAssertTrue(refused.stderr.contains(says), "\(arguments): \(refused.stderr)")
            XCTAssertFalse(FileManager.default.fileExists(atPath: path("segment")) || FileManager.default.fileExists(atPath: path("index")))
        }
    }

    func testShardsOfACollectionAttachedAnswerAsOneBuild() throws {
        try SciFactSlice.requireModel()
        let dataset = try SciFactSlice.make(at: path("mini"), documents: 60)
        let lines = try String(contentsOfFile: dataset + "/corpus.jsonl", encoding: .utf8).split(separator: "\n")
        let model = ["--model", SciFactSlice.model]
        try plaid(["codebook", "train", "--collection", dataset + "/corpus.jsonl", "--sample-documents", "40", "--centroids", "64",
                   "--store-text", "--output", path("cb")] + model)
        var segments: [String] = []
        for shard in 0..<3 {
            let file = path("shard-\(shard).jsonl")
            try (lines[(shard * 20)..<(shard * 20 + 20)].joined(separator: "\n") + "\n").write(toFile: file, atomically: true, encoding: .utf8)
            segments.append(path("segments/\(shard)"))
            try plaid(["segment", "build", "--codebook", path("cb"), "--collection", file, "--output", segments.last!] + model)
        }
        try plaid(["build", "--codebook", path("cb"), "--index", path("attached")])
        let attached = try plaid(["attach", "--index", path("attached")] + segments)
        XCTAssertTrue(attached.stderr.contains("attached 3 segments (60 documents"), attached.stderr)
        try plaid(["build", "--codebook", path("cb"), "--collection", dataset + "/corpus.jsonl", "--index", path("single")] + model)

        for mode in ["plaid", "bm25", "hybrid"] {
            for index in ["attached", "single"] {
                try plaid(["query", "--index", path(index), "--queries", dataset + "/queries.jsonl", "--k", "10", "--mode", mode,
                           "--output", path("\(index)-\(mode).tsv")] + model)
            }
            let a = try String(contentsOfFile: path("attached-\(mode).tsv"), encoding: .utf8)
            XCTAssertGreaterThan(a.count, 1000)
            XCTAssertEqual(a, try String(contentsOfFile: path("single-\(mode).tsv"), encoding: .utf8), "\(mode): ids and scores")
        }
        let info = try JSONSerialization.jsonObject(with: Data(try plaid(["info", "--index", path("attached"), "--json"]).stdout.utf8)) as! [String: Any]
        let codebook = try JSONSerialization.jsonObject(with: Data(try plaid(["info", "--index", path("cb"), "--json"]).stdout.utf8)) as! [String: Any]
        XCTAssertEqual(info["codebook_identity"] as? String, codebook["codebook_identity"] as? String)
        XCTAssertEqual(info["documents"] as? Int, 60)
        XCTAssertNotNil(info["outliers_coded_without_growth"] as? Int)

        // Attaching again is refused (the ids are there), naming them, and changes nothing.
        let again = try plaid(["attach", "--index", path("attached"), segments[0]], expect: nil)
        XCTAssertNotEqual(again.status, 0)
        XCTAssertTrue(again.stderr.contains("already in the index"), again.stderr)
        let after = try JSONSerialization.jsonObject(with: Data(try plaid(["info", "--index", path("attached"), "--json"]).stdout.utf8)) as! [String: Any]
        XCTAssertEqual(after["generation"] as? Int, info["generation"] as? Int)
        XCTAssertEqual(after["documents"] as? Int, 60)
    }
}
