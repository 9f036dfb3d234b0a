import XCTest
import PlaidCore
@testable import PlaidIndex

/// A build or add that cannot fit on its disk stops, saying how much it needs, before it writes
/// (and while it writes, when others fill the disk), and leaves what was there.
final class DiskSpaceTests: XCTestCase {
    private var directory = ""
    private var embeddings: DocumentEmbeddings!
    private let realAvailable = DiskSpace.available

    override func setUpWithError() throws {
        directory = temporaryDirectory()
        (_, embeddings) = try smallCorpus(documents: 300, tokens: 20...40, dim: 32, in: directory)
    }
    override func tearDown() {
        DiskSpace.available = realAvailable
        try? FileManager.default.removeItem(atPath: directory)
    }

    private func path(_ name: String) -> String { (directory as NSString).appendingPathComponent(name) }
    private let parameters = BuildParameters(nbits: 2, kmeans: KMeansParameters(centroids: 16), chunkTokens: 1_000)

    func testABuildThatCannotFitIsRefusedBeforeItWrites() throws {
        let needed = IndexBuilder.estimatedBytes(of: embeddings, parameters: parameters)
        XCTAssertGreaterThan(needed, Int64(embeddings.tokenCount) * 8)
        DiskSpace.available = { _ in needed - 1 }
        XCTAssertThrowsError(try IndexBuilder.build(from: embeddings, at: path("index"), parameters: parameters)) { error in
            guard case PlaidError.insufficientSpace(_, let asked, let free)? = error as? PlaidError else { return XCTFail("\(error)") }
            XCTAssertEqual(asked, needed)
            XCTAssertEqual(free, needed - 1)
            XCTAssertTrue("\(error)".contains("free some space"), "\(error)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("index")))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.contains("index") }, [])
        // With room, the same build runs, and its index is smaller than the estimate.
        DiskSpace.available = { _ in needed }
        let summary = try IndexBuilder.build(from: embeddings, at: path("index"), parameters: parameters)
        XCTAssertLessThanOrEqual(Int64(summary.bytesOnDisk), needed)
    }

    func testADiskThatFillsDuringTheBuildStopsItAndTheOldIndexStays() throws {
        _ = try IndexBuilder.build(from: embeddings, at: path("index"), parameters: parameters)
        let before = try CompressedIndex(path: path("index")).manifest
        // Room at the start; none once the residuals are being written.
        var checks = 0
        DiskSpace.available = { _ in
            checks += 1
            return checks <= 2 ? Int64.max : 0
        }
        XCTAssertThrowsError(try IndexBuilder.build(from: embeddings, at: path("index"), parameters: parameters, overwrite: true)) { error in
            guard case PlaidError.insufficientSpace? = error as? PlaidError else { return XCTFail("\(error)") }
        }
        XCTAssertGreaterThan(checks, 2, "the streaming pass checked the disk")
        DiskSpace.available = realAvailable
        XCTAssertEqual(try CompressedIndex(path: path("index")).manifest, before)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.contains("index") }, ["index"])
        // An add checks too.
        DiskSpace.available = { _ in 0 }
        let writer = try IndexWriter(path: path("index"))
        defer { writer.close() }
        let vectors = try (0..<10).map { d -> [Float] in
            var v = [Float](repeating: 0, count: embeddings.lengths[d] * embeddings.dim)
            try v.withUnsafeMutableBufferPointer { try embeddings.copyTokens(start: embeddings.offsets[d], count: embeddings.lengths[d], into: $0.baseAddress!) }
            return v
        }
        let batch = try DocumentBatch(ids: (0..<10).map { "more\($0)" }, documents: vectors, dim: embeddings.dim)
        XCTAssertThrowsError(try writer.add(batch)) { error in
            guard case PlaidError.insufficientSpace? = error as? PlaidError else { return XCTFail("\(error)") }
        }
        XCTAssertFalse(writer.hasChanges)
    }
}
