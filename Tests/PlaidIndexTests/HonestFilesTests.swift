import XCTest
import PlaidCore
import PlaidKernels
@testable import PlaidIndex

/// Files that compress far better than usual are still honest files: a reader's limits come from
/// what the manifest says a component holds, and a commit never names a file a reader refuses.
/// Each probe here lost an index before (issue 19, §1).
final class HonestFilesTests: XCTestCase {
    private var directory = ""

    override func setUp() { directory = temporaryDirectory() }
    override func tearDown() { try? FileManager.default.removeItem(atPath: directory) }

    private func path(_ name: String) -> String { (directory as NSString).appendingPathComponent(name) }

    /// `count` one-token documents of dimension 8, named `prefix0`, `prefix1`, …
    private func oneTokenDocuments(_ count: Int, prefix: String, seed: UInt64) throws -> DocumentBatch {
        let vectors = randomUnitVectors(count, dim: 8, seed: seed)
        return try DocumentBatch(ids: (0..<count).map { "\(prefix)\($0)" },
                                 documents: (0..<count).map { Array(vectors[($0 * 8)..<(($0 + 1) * 8)]) }, dim: 8)
    }

    private func build(_ batch: DocumentBatch, _ name: String) throws -> String {
        _ = try IndexBuilder.build(from: batch, at: path(name), parameters: BuildParameters(nbits: 2, kmeans: KMeansParameters(centroids: 16)))
        return path(name)
    }

    /// 60,000 documents of one length: their lengths file compresses to a few dozen bytes
    /// (ratio above 4,096), which the reader refused as damage, so the build failed at its end.
    func testEqualLengthDocumentsBuildAndOpen() throws {
        let index = try build(try oneTokenDocuments(60_000, prefix: "d", seed: 1), "equal")
        let opened = try CompressedIndex(path: index)
        XCTAssertEqual(opened.documentCount, 60_000)
        XCTAssertEqual(opened.segments[0].documentLengths.count, 60_000)
    }

    /// One id of 200,000 characters: its ids file compresses past the old ratio limit.
    func testAVeryLongIDOpens() throws {
        let long = String(repeating: "a", count: 200_000)
        let vectors = randomUnitVectors(41, dim: 8, seed: 2)
        let rows = (0..<41).map { Array(vectors[($0 * 8)..<(($0 + 1) * 8)]) }
        let named = try DocumentBatch(ids: [long] + (1..<40).map { "d\($0)" }, documents: Array(rows[0..<40]), dim: 8)
        let index = try build(named, "long")
        XCTAssertEqual(try CompressedIndex(path: index).liveDocumentIDs.first, long)
        // Added through the writer too.
        let writer = try IndexWriter(path: index)
        try writer.add(try DocumentBatch(ids: [long + "b"], documents: [rows[40]], dim: 8))
        try writer.commit()
        writer.close()
        XCTAssertEqual(try CompressedIndex(path: index).documentCount, 41)
    }

    /// The server's case: small adds pile up, and the automatic merge writes one segment of tens
    /// of thousands of equal documents. That commit made an index no command could open.
    func testAnAutomaticMergeOfManyEqualDocumentsLeavesAnIndexThatOpens() throws {
        let index = try build(try oneTokenDocuments(100, prefix: "base", seed: 3), "merged")
        let writer = try IndexWriter(path: index)
        writer.mergePolicy = AdjacentMergePolicy(maxSegments: 2, segmentsPerMerge: 2)
        for batch in 0..<3 {
            try writer.add(try oneTokenDocuments(20_000, prefix: "b\(batch)-", seed: 10 + UInt64(batch)))
            try writer.commit()
        }
        writer.close()
        let opened = try CompressedIndex(path: index)
        XCTAssertEqual(opened.documentCount, 60_100)
        XCTAssertLessThanOrEqual(opened.segments.count, 2)
        XCTAssertTrue(opened.segments.contains { $0.documentCount >= 40_000 }, "no merge happened")
    }

    /// An index that the 4,096× rule made unopenable (a 200,000-character id, written by the plaid
    /// of commit 26fc8bf; see Fixtures/README.md) opens, searches and takes writes again.
    func testAnIndexRefusedByTheOldRatioRuleOpensAgain() throws {
        let fixture = Bundle.module.path(forResource: "Fixtures/refused-by-ratio", ofType: nil)!
        let index = path("refused")
        try FileManager.default.copyItem(atPath: fixture, toPath: index)
        let opened = try CompressedIndex(path: index)
        XCTAssertTrue(opened.liveDocumentIDs.contains(String(repeating: "x", count: 200_000)))
        let writer = try IndexWriter(path: index)
        try writer.delete(ids: ["short-1"])
        try writer.commit()
        writer.close()
        XCTAssertFalse(try CompressedIndex(path: index).liveDocumentIDs.contains("short-1"))
    }

    /// A header claiming more than the manifest allows is refused before anything is allocated,
    /// with the file named.
    func testAHeaderClaimingMoreThanTheManifestAllowsIsRefused() throws {
        let index = try build(try oneTokenDocuments(50, prefix: "d", seed: 4), "claim")
        let segment = try CompressedIndex(path: index).segments[0]
        let file = (segment.directory as NSString).appendingPathComponent(IndexComponent.documentLengths.fileName)
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: file)))
        // Claim a terabyte, with the header's own checksum made good, as a crafted file would.
        withUnsafeBytes(of: (UInt64(1) << 40).littleEndian) { bytes.replaceSubrange(24..<32, with: $0) }
        let sum = bytes.withUnsafeBytes { plaid_checksum64($0.baseAddress, 48, 0) }
        withUnsafeBytes(of: sum.littleEndian) { bytes.replaceSubrange(48..<56, with: $0) }
        try Data(bytes).write(to: URL(fileURLWithPath: file))
        XCTAssertThrowsError(try CompressedIndex(path: index)) { error in
            let message = describe(error)
            XCTAssertTrue(message.contains("doclens.plaid") && message.contains("exactly 200"), message)
        }
    }

    /// A manifest whose checksum is good but whose counters cannot be (found by a probe: each of
    /// these crashed a command on an overflow, and a next segment number naming a live segment
    /// made `add` write over it) is refused at open, naming the field; nothing is written.
    func testAManifestWithImpossibleCountersIsRefusedAtOpen() throws {
        let original = try build(try oneTokenDocuments(50, prefix: "d", seed: 7), "counters")
        let manifestPath = (original as NSString).appendingPathComponent(IndexComponent.manifest.fileName)
        let good = try Manifest.read(path: manifestPath)
        let forgeries: [(String, (inout Manifest) -> Void)] = [
            ("generation", { $0.generation = .max }),
            ("generation", { $0.generation = -1 }),
            ("nextSegmentNumber", { $0.nextSegmentNumber = .max }),
            ("nextSegmentNumber", { $0.nextSegmentNumber = -1 }),
            ("nextSegmentNumber", { $0.nextSegmentNumber = 0 }),
            ("deletedTokens", { $0.segments[0].deletedTokens = .min }),
            ("deletedTokens", { $0.segments[0].deletedTokens = .max }),
            ("deletedDocuments", { $0.segments[0].deletedDocuments = 51 }),
            ("outlierTokens", { $0.segments[0].outlierTokens = .max }),
            ("tokenCount", { $0.segments[0].tokenCount = -5 }),
            ("name", { $0.segments[0].name = "../elsewhere/seg-000000" }),
            ("name", { $0.segments.append($0.segments[0]) }),
            // Found by a review: the codebook's iterations crashed a growing add, or ran for ever.
            ("kmeansIterations", { $0.codebook.kmeansIterations = -1 }),
            ("kmeansIterations", { $0.codebook.kmeansIterations = 100_000_000 }),
        ]
        for (number, (field, forge)) in forgeries.enumerated() {
            let index = path("forged-\(number)")
            try FileManager.default.copyItem(atPath: original, toPath: index)
            var manifest = good
            forge(&manifest)
            let target = (index as NSString).appendingPathComponent(IndexComponent.manifest.fileName)
            _ = try ComponentWriter.write(path: target, component: .manifest, payload: Array(try JSONEncoder().encode(manifest)), compress: false)
            XCTAssertThrowsError(try CompressedIndex(path: index), "forgery \(number)") { error in
                let message = describe(error)
                XCTAssertTrue(message.contains("manifest.plaid") && message.contains(field), "forgery \(number): \(message)")
            }
            XCTAssertThrowsError(try IndexWriter(path: index), "forgery \(number): a writer must not open it either")
            XCTAssertEqual(try CompressedIndex(path: original).documentCount, 50)
        }
    }

    /// Found by a review: a counter at the largest value open accepts went past it with the next
    /// commit, which wrote a manifest no command could open. A commit checks what it writes.
    func testACommitNeverWritesCountersAReaderRefuses() throws {
        let index = try build(try oneTokenDocuments(50, prefix: "d", seed: 8), "limit")
        let target = (index as NSString).appendingPathComponent(IndexComponent.manifest.fileName)
        var manifest = try Manifest.read(path: target)
        manifest.generation = Manifest.largestCount
        _ = try ComponentWriter.write(path: target, component: .manifest, payload: Array(try JSONEncoder().encode(manifest)), compress: false)
        let writer = try IndexWriter(path: index)
        try writer.delete(ids: ["d5"])
        XCTAssertThrowsError(try writer.commit()) { error in
            XCTAssertTrue(describe(error).contains("generation") && describe(error).contains("nothing was committed"), describe(error))
        }
        writer.close()
        let opened = try CompressedIndex(path: index)
        XCTAssertEqual(opened.generation, Manifest.largestCount)
        XCTAssertEqual(opened.documentCount, 50)
    }

    /// The commit reads back what it names: a staged segment damaged before the commit makes the
    /// commit fail, and the index stays at its last commit.
    func testACommitNeverNamesAFileThatAReaderRefuses() throws {
        let index = try build(try oneTokenDocuments(50, prefix: "d", seed: 5), "readback")
        let writer = try IndexWriter(path: index)
        try writer.add(try oneTokenDocuments(30, prefix: "new", seed: 6))
        let staged = try FileManager.default.contentsOfDirectory(atPath: index).filter { $0.hasPrefix("seg-") }.sorted().last!
        let codes = (path("readback/\(staged)") as NSString).appendingPathComponent(IndexComponent.codes.fileName)
        let handle = try XCTUnwrap(FileHandle(forUpdatingAtPath: codes))
        try handle.seek(toOffset: 70)
        try handle.write(contentsOf: [0xFF, 0xFF, 0xFF])
        try handle.close()
        XCTAssertThrowsError(try writer.commit())
        writer.close()
        let opened = try CompressedIndex(path: index)
        XCTAssertEqual(opened.generation, 1)
        XCTAssertEqual(opened.documentCount, 50)
    }
}
