import XCTest
import PlaidCore
@testable import PlaidIndex

/// A build spread over workers: one codebook trained once, segments coded with it apart from any
/// index (`SharedCodebook.buildSegment`), attached in one commit (`IndexWriter.attach`).
final class DistributedBuildTests: XCTestCase {
    private var directory = ""
    private var corpus: SyntheticCorpus!
    private var pool: DocumentEmbeddings!

    override func setUpWithError() throws {
        directory = temporaryDirectory()
        (corpus, pool) = try smallCorpus(documents: 420, tokens: 8...24, dim: 32, seed: 31, in: directory)
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: directory) }

    private func path(_ name: String) -> String { (directory as NSString).appendingPathComponent(name) }

    /// Documents `documents` of the pool under their own ids (or `ids`).
    private func batch(_ documents: Range<Int>, ids: [String]? = nil, dim: Int? = nil) throws -> DocumentBatch {
        let vectors = try documents.map { d -> [Float] in
            var v = [Float](repeating: 0, count: pool.lengths[d] * pool.dim)
            try v.withUnsafeMutableBufferPointer { try pool.copyTokens(start: pool.offsets[d], count: pool.lengths[d], into: $0.baseAddress!) }
            return v
        }
        return try DocumentBatch(ids: ids ?? documents.map { pool.ids[$0] }, documents: vectors, dim: pool.dim)
    }

    private let parameters = BuildParameters(nbits: 2, kmeans: KMeansParameters(centroids: 64))

    private func search(_ index: String, k: Int = 10) throws -> [[SearchResult]] {
        Searcher(index: try CompressedIndex(path: index)).search(queries: corpus.queries(count: 12, tokens: 12),
                                                                 parameters: SearchParameters(k: k), threads: 1)
    }

    /// Every file of an index directory and its bytes: what "unchanged" means.
    private func snapshot(_ index: String) throws -> [String: Data] {
        var files: [String: Data] = [:]
        let enumerator = FileManager.default.enumerator(atPath: index)!
        while let entry = enumerator.nextObject() as? String {
            var isDirectory: ObjCBool = false
            let full = (index as NSString).appendingPathComponent(entry)
            // The lock file records its last holder, not the index.
            if entry != IndexLock.fileName, FileManager.default.fileExists(atPath: full, isDirectory: &isDirectory), !isDirectory.boolValue {
                files[entry] = try Data(contentsOf: URL(fileURLWithPath: full))
            }
        }
        return files
    }

    /// The codebook a build trains is the one `codebook train` writes for the same vectors and settings.
    func testTrainingWritesTheCodebookABuildTrains() throws {
        let all = try batch(0..<420)
        let shared = try SharedCodebook.train(on: all, at: path("cb"), parameters: parameters)
        _ = try IndexBuilder.build(from: all, at: path("built"), parameters: parameters)
        let built = try CompressedIndex(path: path("built"))
        XCTAssertEqual(shared.codebook, built.codebook)
        XCTAssertEqual(shared.centroids, built.quantizer.centroids)
        XCTAssertEqual(try CompressedIndex(path: path("cb")).documentCount, 0)
        XCTAssertEqual(shared.identity, built.codebook.identity(centroids: built.quantizer.centroids, listCount: 64))
    }

    /// One machine coding everything with the codebook, and 1, 3 or 7 workers coding shards that
    /// are then attached in order, give the same results: ids and scores, bit for bit.
    func testShardsAttachedSearchAsOneBuildWithTheCodebook() throws {
        let shared = try SharedCodebook.train(on: try batch(0..<420), at: path("cb"), parameters: parameters)
        _ = try IndexBuilder.build(from: try batch(0..<420), at: path("single"), codebook: shared)
        let reference = try search(path("single"))
        XCTAssertEqual(reference.joined().count, 120)
        for shards in [1, 3, 7] {
            let index = path("attached-\(shards)")
            try IndexBuilder.create(at: index, codebook: shared)
            let bounds = (0...shards).map { 420 * $0 / shards }
            let segments = try (0..<shards).map { s -> String in
                let segment = path("segments-\(shards)/shard-\(s)")
                try shared.buildSegment(from: try batch(bounds[s]..<bounds[s + 1]), at: segment)
                return segment
            }
            let writer = try IndexWriter(path: index)
            writer.mergePolicy = AdjacentMergePolicy(maxSegments: 100)
            let summary = try writer.attach(segments: segments)
            try writer.commit()
            writer.close()
            XCTAssertEqual(summary.documents, 420)
            let opened = try CompressedIndex(path: index)
            XCTAssertEqual(opened.segments.count, shards)
            XCTAssertEqual(opened.liveDocumentIDs, pool.ids)
            let results = try search(index)
            XCTAssertEqual(results.map { $0.map(\.id) }, reference.map { $0.map(\.id) }, "\(shards) shards")
            XCTAssertEqual(results.map { $0.map(\.score) }, reference.map { $0.map(\.score) }, "\(shards) shards")
            // The segment directories stay as they were.
            XCTAssertNoThrow(try SegmentDescriptor.read(directory: segments[0]))
        }
    }

    /// Segments attached to an index built the usual way, with its own codebook as theirs, and
    /// `upsert` replacing documents that are already there.
    func testAnIndexServesAsTheCodebookOfItsSegmentsAndUpsertReplaces() throws {
        _ = try IndexBuilder.build(from: try batch(0..<300), at: path("index"), parameters: parameters)
        let shared = try SharedCodebook(path: path("index"))
        try shared.buildSegment(from: try batch(280..<420), at: path("segment"))
        let writer = try IndexWriter(path: path("index"))
        XCTAssertThrowsError(try writer.attach(segments: [path("segment")])) { error in
            XCTAssertTrue("\(error)".contains(pool.ids[280]), "\(error)")
        }
        // A stray journal beside the segment's files (someone opened its database) stays out of the index.
        try "stray".write(toFile: path("segment/metadata.sqlite-wal"), atomically: true, encoding: .utf8)
        let summary = try writer.attach(segments: [path("segment")], upsert: true)
        try writer.commit()
        writer.close()
        let attached = try CompressedIndex(path: path("index")).segments.last!.directory
        XCTAssertFalse(FileManager.default.fileExists(atPath: attached + "/metadata.sqlite-wal"))
        XCTAssertEqual(summary.replaced, 20)
        XCTAssertEqual(Set(try CompressedIndex(path: path("index")).liveDocumentIDs), Set(pool.ids))
    }

    /// A segment of another codebook, dimension or text setting, a damaged or incomplete one, and
    /// ids that clash (with the index or between segments) are refused in one sentence, and the
    /// index keeps every byte.
    func testBadSegmentsAreRefusedAndLeaveTheIndexUnchanged() throws {
        let shared = try SharedCodebook.train(on: try batch(0..<300), at: path("cb"), parameters: parameters)
        _ = try IndexBuilder.build(from: try batch(0..<200), at: path("index"), codebook: shared)
        try shared.buildSegment(from: try batch(200..<300), at: path("good"))
        try shared.buildSegment(from: try batch(250..<300, ids: (0..<50).map { "other\($0)" }), at: path("good2"))
        var other = parameters
        other.kmeans.seed = 7
        let otherCodebook = try SharedCodebook.train(on: try batch(0..<300), at: path("cb-other"), parameters: other)
        try otherCodebook.buildSegment(from: try batch(300..<320), at: path("other-codebook"))
        let narrow = try DocumentBatch(ids: ["n0", "n1"], documents: [randomUnitVectors(10, dim: 16, seed: 1), randomUnitVectors(12, dim: 16, seed: 2)], dim: 16)
        let narrowCodebook = try SharedCodebook.train(on: narrow, at: path("cb-16"), parameters: BuildParameters(kmeans: KMeansParameters(centroids: 4)))
        try narrowCodebook.buildSegment(from: narrow, at: path("dim-16"))
        var texts = parameters
        texts.storedText = try StoredTextSettings()
        let textCodebook = try SharedCodebook.train(on: try batch(0..<300), at: path("cb-text"), parameters: texts)
        try textCodebook.buildSegment(from: try batch(300..<320), at: path("with-text"))
        try shared.buildSegment(from: try batch(300..<320), at: path("damaged"))
        let residuals = path("damaged/residuals.plaid")
        var bytes = try Data(contentsOf: URL(fileURLWithPath: residuals))
        bytes[bytes.count - 3] ^= 0x40
        try bytes.write(to: URL(fileURLWithPath: residuals))
        try shared.buildSegment(from: try batch(320..<340), at: path("incomplete"))
        try FileManager.default.removeItem(atPath: path("incomplete/segment.plaid"))
        try shared.buildSegment(from: try batch(150..<160), at: path("clash-with-index"))
        // Header bytes 56..<64 are reserved (zero) and outside the header checksum.
        try shared.buildSegment(from: try batch(340..<350), at: path("reserved-byte"))
        let reserved = path("reserved-byte/codes.plaid")
        var reservedBytes = try Data(contentsOf: URL(fileURLWithPath: reserved))
        reservedBytes[56] ^= 0xFF
        try reservedBytes.write(to: URL(fileURLWithPath: reserved))
        try shared.buildSegment(from: try batch(290..<300), at: path("clash-with-good"))
        // Found by a review: a description whose counts a reader refuses was attached, and the
        // index no longer opened.
        try shared.buildSegment(from: try batch(350..<360), at: path("impossible-counts"))
        var forged = try SegmentDescriptor.read(directory: path("impossible-counts"))
        forged.segment.outlierTokens = forged.segment.tokenCount * 10
        try forged.write(directory: path("impossible-counts"))

        // Vectors of another model than the index's (the same vectors, so the same codebook identity).
        func identity(_ hash: String) -> ModelIdentity {
            ModelIdentity(name: "m-\(hash)", path: "/models/\(hash)", hash: hash, dim: 32, queryLength: 32, documentLength: 180,
                          queryPrefix: "[Q] ", documentPrefix: "[D] ", precision: "int16")
        }
        let modelled = try batch(0..<300)
        modelled.model = identity("aaaa")
        let modelCodebook = try SharedCodebook.train(on: modelled, at: path("cb-model"), parameters: parameters)
        XCTAssertEqual(modelCodebook.identity, shared.identity)
        try IndexBuilder.create(at: path("index-of-model"), codebook: modelCodebook)
        let otherModel = try batch(300..<320)
        otherModel.model = identity("bbbb")
        try shared.buildSegment(from: otherModel, at: path("other-model"))
        let modelWriter = try IndexWriter(path: path("index-of-model"))
        XCTAssertThrowsError(try modelWriter.attach(segments: [path("other-model")])) { error in
            XCTAssertTrue("\(error)".contains("was encoded with the model m-bbbb"), "\(error)")
        }
        modelWriter.close()

        let before = try snapshot(path("index"))
        let cases: [(segments: [String], says: String)] = [
            ([path("good"), path("other-codebook")], "coded with another codebook"),
            ([path("dim-16")], "dimension 16"),
            ([path("with-text")], "stores text"),
            ([path("good"), path("damaged")], "is damaged"),
            ([path("reserved-byte")], "is damaged"),
            ([path("incomplete")], "incomplete segment"),
            ([path("good"), path("clash-with-index")], pool.ids[150]),
            ([path("good"), path("clash-with-good")], "in both"),
            ([path("good"), path("good") + "/"], "is named twice"),
            ([path("missing")], "not a directory"),
            ([path("cb")], "not a segment"),
            ([path("impossible-counts")], "field 'outlierTokens'"),
        ]
        for (segments, says) in cases {
            let writer = try IndexWriter(path: path("index"))
            XCTAssertThrowsError(try writer.attach(segments: segments), says) { error in
                let message = "\(error)"
                XCTAssertTrue(message.contains(says), "\(says): \(message)")
                XCTAssertFalse(message.dropLast().contains(". "), "one sentence: \(message)")
            }
            XCTAssertFalse(writer.hasChanges)
            try writer.commit()
            writer.close()
            XCTAssertEqual(try snapshot(path("index")), before, says)
        }
        // The good segments still attach.
        let writer = try IndexWriter(path: path("index"))
        try writer.attach(segments: [path("good"), path("good2")])
        try writer.commit()
        writer.close()
        XCTAssertEqual(try CompressedIndex(path: path("index")).documentCount, 350)
    }

    /// A segment directory is replaced only with `overwrite`; a stopped build's leftovers too;
    /// and nothing that is not a segment is ever removed.
    func testASegmentIsReplacedOnlyWithOverwrite() throws {
        let shared = try SharedCodebook.train(on: try batch(0..<300), at: path("cb"), parameters: parameters)
        try shared.buildSegment(from: try batch(0..<20), at: path("segment"))
        XCTAssertThrowsError(try shared.buildSegment(from: try batch(20..<40), at: path("segment"))) { error in
            XCTAssertTrue("\(error)".contains("already holds a segment; pass --overwrite"), "\(error)")
        }
        try FileManager.default.removeItem(atPath: path("segment/segment.plaid"))
        XCTAssertThrowsError(try shared.buildSegment(from: try batch(20..<40), at: path("segment"))) { error in
            XCTAssertTrue("\(error)".contains("incomplete segment"), "\(error)")
        }
        let rebuilt = try shared.buildSegment(from: try batch(20..<40), at: path("segment"), overwrite: true)
        XCTAssertEqual(rebuilt.segment.documentCount, 20)
        try FileManager.default.createDirectory(atPath: path("notes"), withIntermediateDirectories: true)
        try "mine".write(toFile: path("notes/readme.txt"), atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try shared.buildSegment(from: try batch(20..<40), at: path("notes"), overwrite: true)) { error in
            XCTAssertTrue("\(error)".contains("is not a segment directory"), "\(error)")
        }
        XCTAssertTrue(FileManager.default.fileExists(atPath: path("notes/readme.txt")))
    }

    /// Tokens far from every centroid are coded, counted by the segment, and recorded by the
    /// index they are attached to; the codebook does not grow.
    func testOutliersAreCountedNotGrown() throws {
        let near = try batchInDimensions(40, dims: 0..<16, seed: 5)
        let shared = try SharedCodebook.train(on: near, at: path("cb"), parameters: BuildParameters(kmeans: KMeansParameters(centroids: 16)))
        let far = try batchInDimensions(30, dims: 16..<32, seed: 6)
        let descriptor = try shared.buildSegment(from: far, at: path("far"))
        XCTAssertGreaterThan(descriptor.segment.outlierTokens!, 400)
        try IndexBuilder.create(at: path("index"), codebook: shared)
        let writer = try IndexWriter(path: path("index"))
        let summary = try writer.attach(segments: [path("far")])
        try writer.commit()
        writer.close()
        XCTAssertEqual(summary.outlierTokens, descriptor.segment.outlierTokens!)
        let index = try CompressedIndex(path: path("index"))
        XCTAssertEqual(index.manifest.outliersCodedWithoutGrowth, descriptor.segment.outlierTokens!)
        XCTAssertEqual(index.codebook.centroidCount, 16)
    }

    /// A build that fails on bad input found while streaming (a NaN) leaves the segment it was to
    /// replace as it was, and nothing of its own; a killed build's leftovers beside the segment are
    /// removed by the next build there.
    func testAFailedOverwriteKeepsTheOldSegmentAndLeavesNothing() throws {
        let shared = try SharedCodebook.train(on: try batch(0..<300), at: path("cb"), parameters: parameters)
        try shared.buildSegment(from: try batch(0..<20), at: path("segments/segment"))
        let before = try snapshot(path("segments/segment"))
        let nan = path("nan-embeddings")
        try FileManager.default.copyItem(atPath: path("embeddings"), toPath: nan)
        let file = (nan as NSString).appendingPathComponent(EmbeddingsLayout.documentEmbeddings)
        let offset = try NPYArray(path: file).dataOffset + (5 * 32 + 3) * 4
        var bytes = try Data(contentsOf: URL(fileURLWithPath: file))
        bytes.replaceSubrange(offset..<offset + 4, with: withUnsafeBytes(of: Float.nan.bitPattern.littleEndian) { Data($0) })
        try bytes.write(to: URL(fileURLWithPath: file))
        let gone = ProcessIdentity(host: ProcessIdentity.current.host, pid: 4194300, started: 1)
        for suffix in ["building", "embeddings"] {
            try FileManager.default.createDirectory(atPath: path("segments/.segment.\(suffix)-\(gone.tag)"), withIntermediateDirectories: true)
        }
        for (target, overwrite) in [("segments/segment", true), ("segments/new", false)] {
            XCTAssertThrowsError(try shared.buildSegment(from: try DocumentEmbeddings(directory: nan), at: path(target), overwrite: overwrite)) { error in
                XCTAssertTrue("\(error)".contains("NaN"), "\(error)")
            }
        }
        XCTAssertEqual(try snapshot(path("segments/segment")), before)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: path("segments")), ["segment"])
    }

    /// `overwrite` replaces only a directory of plaid's own files: regular files whose contents
    /// are a component's or a SQLite database's, not merely their names.
    func testOverwriteRemovesOnlyPlaidsOwnFiles() throws {
        let shared = try SharedCodebook.train(on: try batch(0..<300), at: path("cb"), parameters: parameters)
        try FileManager.default.createDirectory(atPath: path("folder/codes.plaid"), withIntermediateDirectories: true)
        try "precious".write(toFile: path("folder/codes.plaid/inner"), atomically: true, encoding: .utf8)
        try FileManager.default.createDirectory(atPath: path("mine"), withIntermediateDirectories: true)
        try "mine".write(toFile: path("mine/metadata.sqlite"), atomically: true, encoding: .utf8)
        try FileManager.default.createDirectory(atPath: path("junk"), withIntermediateDirectories: true)
        try "not a component".write(toFile: path("junk/segment.plaid"), atomically: true, encoding: .utf8)
        for directory in ["folder", "mine", "junk"] {
            XCTAssertThrowsError(try shared.buildSegment(from: try batch(0..<20), at: path(directory), overwrite: true), directory) { error in
                XCTAssertTrue("\(error)".contains("is not a segment directory"), "\(error)")
            }
        }
        XCTAssertEqual(try String(contentsOfFile: path("folder/codes.plaid/inner"), encoding: .utf8), "precious")
        XCTAssertEqual(try String(contentsOfFile: path("mine/metadata.sqlite"), encoding: .utf8), "mine")
    }

    /// The index's count of outliers is that of the segments it holds: a segment replaced or
    /// compacted away takes its count with it.
    func testTheOutlierCountFollowsTheDocumentsKept() throws {
        let near = try batchInDimensions(40, dims: 0..<16, seed: 5)
        let shared = try SharedCodebook.train(on: near, at: path("cb"), parameters: BuildParameters(kmeans: KMeansParameters(centroids: 16)))
        let far = try batchInDimensions(30, dims: 16..<32, seed: 6)
        let descriptor = try shared.buildSegment(from: far, at: path("far"))
        try IndexBuilder.create(at: path("index"), codebook: shared)
        for upsert in [false, true] {
            let writer = try IndexWriter(path: path("index"))
            try writer.attach(segments: [path("far")], upsert: upsert)
            try writer.commit()
            writer.close()
            XCTAssertEqual(try CompressedIndex(path: path("index")).manifest.outliersCodedWithoutGrowth, descriptor.segment.outlierTokens!)
        }
        let writer = try IndexWriter(path: path("index"))
        try writer.delete(ids: far.ids)
        try writer.commit()
        writer.close()
        XCTAssertEqual(try CompressedIndex(path: path("index")).manifest.outliersCodedWithoutGrowth, 0)
    }
}
