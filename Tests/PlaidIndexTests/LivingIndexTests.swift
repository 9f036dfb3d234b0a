import XCTest
import PlaidCore
@testable import PlaidIndex

/// Add, delete, upsert and compact through `IndexWriter`, checked against a model of the live ids
/// and against the same index compacted.
final class LivingIndexTests: XCTestCase {
    private var directory = ""
    private var corpus: SyntheticCorpus!
    /// A pool of 900 documents; batches are slices of it under chosen ids.
    private var pool: DocumentEmbeddings!

    override func setUpWithError() throws {
        directory = temporaryDirectory()
        (corpus, pool) = try smallCorpus(documents: 900, tokens: 8...24, dim: 32, seed: 21, in: directory)
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: directory) }

    private func path(_ name: String) -> String { (directory as NSString).appendingPathComponent(name) }

    /// Documents `documents` of the pool, named by `ids`.
    private func batch(_ documents: [Int], ids: [String]) throws -> DocumentBatch {
        let vectors = try documents.map { d -> [Float] in
            var v = [Float](repeating: 0, count: pool.lengths[d] * pool.dim)
            try v.withUnsafeMutableBufferPointer { try pool.copyTokens(start: pool.offsets[d], count: pool.lengths[d], into: $0.baseAddress!) }
            return v
        }
        return try DocumentBatch(ids: ids, documents: vectors, dim: pool.dim)
    }

    private func buildIndex(_ name: String, documents: Range<Int>, centroids: Int = 64) throws -> String {
        let b = try batch(Array(documents), ids: documents.map { "doc\($0)" })
        _ = try IndexBuilder.build(from: b, at: path(name), parameters: BuildParameters(nbits: 2, kmeans: KMeansParameters(centroids: centroids)))
        return path(name)
    }

    private func search(_ index: String, _ queries: QueryEmbeddings, k: Int = 10) throws -> [[SearchResult]] {
        Searcher(index: try CompressedIndex(path: index)).search(queries: queries, parameters: SearchParameters(k: k), threads: 1)
    }

    /// Results as (id, score) lists: ordinals differ between an index and its compacted copy.
    private func assertSameRanking(_ a: [[SearchResult]], _ b: [[SearchResult]], _ message: String, line: UInt = #line) {
        XCTAssertEqual(a.map { $0.map(\.id) }, b.map { $0.map(\.id) }, message, line: line)
        for (x, y) in zip(a.joined(), b.joined()) { XCTAssertEqual(x.score, y.score, accuracy: 1e-5, message, line: line) }
    }

    private func copyOf(_ index: String, _ name: String) throws -> String {
        try? FileManager.default.removeItem(atPath: path(name))
        try FileManager.default.copyItem(atPath: index, toPath: path(name))
        return path(name)
    }

    /// Seeded random sequences of add, delete, upsert and compact against a dictionary of live ids.
    /// After every step the index's live ids equal the model's, and search equals the same index compacted.
    func testRandomOperationsMatchAModelAndTheCompactedIndex() throws {
        let index = try buildIndex("living", documents: 0..<150)
        var live = [String: Int]()          // id → pool document its vectors came from
        for d in 0..<150 { live["doc\(d)"] = d }
        var rng = SeededRandom(seed: 99)
        var nextDocument = 150, nextID = 150
        let queries = corpus.queries(count: 8, tokens: 12)
        var operations: [String: Int] = [:]
        for step in 0..<40 {
            let writer = try IndexWriter(path: index)
            let operation = ["add", "delete", "upsert", "compact"][Int(rng.next() % 4)]
            operations[operation, default: 0] += 1
            switch operation {
            case "add":
                let count = 5 + Int(rng.next() % 30)
                let documents = (0..<count).map { (nextDocument + $0) % pool.documentCount }
                let ids = (0..<count).map { "doc\(nextID + $0)" }
                try writer.add(try batch(documents, ids: ids))
                for (id, d) in zip(ids, documents) { live[id] = d }
                nextDocument += count; nextID += count
            case "delete":
                var ids = Array(live.keys.sorted().shuffled(using: &rng).prefix(1 + Int(rng.next() % 25)))
                ids.append("never-added-\(step)")
                let summary = try writer.delete(ids: ids)
                XCTAssertEqual(summary.unknown, ["never-added-\(step)"])
                XCTAssertEqual(summary.deleted, ids.count - 1)
                for id in ids { live[id] = nil }
            case "upsert":
                // Some live ids get new vectors, and some new ids come with them.
                let replaced = Array(live.keys.sorted().shuffled(using: &rng).prefix(1 + Int(rng.next() % 10)))
                let fresh = (0..<Int(rng.next() % 5)).map { "doc\(nextID + $0)" }
                nextID += fresh.count
                let ids = replaced + fresh
                let documents = (0..<ids.count).map { (nextDocument + $0) % pool.documentCount }
                nextDocument += ids.count
                let summary = try writer.add(try batch(documents, ids: ids), upsert: true)
                XCTAssertEqual(summary.replaced, replaced.count)
                for (id, d) in zip(ids, documents) { live[id] = d }
            default:
                try writer.compact()
            }
            if operation != "compact" { try writer.commit() }
            writer.close()

            let opened = try CompressedIndex(path: index)
            XCTAssertEqual(Set(opened.liveDocumentIDs), Set(live.keys), "step \(step) (\(operation))")
            XCTAssertEqual(opened.documentCount, live.count)
            let compacted = try copyOf(index, "compacted")
            let compactor = try IndexWriter(path: compacted)
            try compactor.compact()
            compactor.close()
            XCTAssertEqual(try CompressedIndex(path: compacted).segments.count, live.isEmpty ? 0 : 1)
            let results = try search(index, queries)
            assertSameRanking(results, try search(compacted, queries), "step \(step) (\(operation)): search differs from the compacted index")
            XCTAssertTrue(results.joined().allSatisfy { live[$0.id] != nil }, "step \(step): a result that is not live")
        }
        XCTAssertEqual(operations.count, 4, "every operation ran: \(operations)")
    }

    func testAReaderKeepsItsSnapshotAndADeletedDocumentIsNeverReturnedAfterwards() throws {
        let index = try buildIndex("snapshot", documents: 0..<200)
        let queries = corpus.queries(count: 6, tokens: 12)
        let before = try CompressedIndex(path: index)
        let beforeResults = Searcher(index: before).search(queries: queries, parameters: SearchParameters(k: 5), threads: 1)
        let top = beforeResults.map { $0[0].id }
        let writer = try IndexWriter(path: index)
        try writer.delete(ids: top)
        try writer.add(try batch(Array(200..<260), ids: (200..<260).map { "doc\($0)" }))
        try writer.commit()
        try writer.compact()          // removes every file the old snapshot was opened from
        writer.close()
        XCTAssertEqual(Searcher(index: before).search(queries: queries, parameters: SearchParameters(k: 5), threads: 1), beforeResults,
                       "the snapshot opened before the commits changed")
        let after = try search(index, queries, k: 50)
        XCTAssertTrue(after.joined().allSatisfy { !top.contains($0.id) }, "a deleted id came back")
        XCTAssertEqual(try CompressedIndex(path: index).generation, 3)
    }

    func testASecondWriterIsToldWhichProcessHoldsTheLock() throws {
        let index = try buildIndex("locked", documents: 0..<50)
        let first = try IndexWriter(path: index)
        XCTAssertThrowsError(try IndexWriter(path: index)) { error in
            XCTAssertTrue("\(error)".contains("is locked by process \(getpid())"), "\(error)")
        }
        first.close()
        XCTAssertNoThrow(try IndexWriter(path: index).close())
        // A lock file whose holder is gone (its record names a dead process, no flock held) is no obstacle.
        try Data(#"{"host":"elsewhere","pid":4194300,"started":1}"#.utf8).write(to: URL(fileURLWithPath: index + "/writer.lock"))
        XCTAssertNoThrow(try IndexWriter(path: index).close())
    }

    func testBadBatchesAreRefusedAndLeaveTheIndexUnchanged() throws {
        let index = try buildIndex("refusals", documents: 0..<80)
        let before = try CompressedIndex(path: index)
        let writer = try IndexWriter(path: index)
        // Another dimension.
        XCTAssertThrowsError(try writer.add(try DocumentBatch(ids: ["x"], documents: [[Float](repeating: 0.125, count: 64)], dim: 64))) {
            XCTAssertTrue("\($0)".contains("dimension 64") && "\($0)".contains("dimension 32"), "\($0)")
        }
        // An empty batch.
        XCTAssertThrowsError(try writer.add(try DocumentBatch(ids: [], documents: [], dim: 32))) {
            XCTAssertTrue("\($0)".contains("no documents"), "\($0)")
        }
        // Duplicate ids within the batch.
        XCTAssertThrowsError(try writer.add(try batch([100, 101], ids: ["new", "new"]))) {
            XCTAssertTrue("\($0)".contains("duplicate id 'new'"), "\($0)")
        }
        // An id that is already live, without upsert: named, and nothing staged.
        XCTAssertThrowsError(try writer.add(try batch([100, 101], ids: ["fresh", "doc7"]))) {
            XCTAssertTrue("\($0)".contains("'doc7'") && "\($0)".contains("pass upsert: true"), "\($0)")
        }
        XCTAssertFalse(writer.hasChanges)
        try writer.commit()
        writer.close()
        let after = try CompressedIndex(path: index)
        XCTAssertEqual(after.manifest, before.manifest)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: index).sorted(), ["centroids-1.plaid", "manifest.plaid", "seg-000000", "writer.lock"])
        // A directory that is not an index: refused, and nothing written into it.
        let notIndex = path("not-an-index")
        try FileManager.default.createDirectory(atPath: notIndex, withIntermediateDirectories: true)
        XCTAssertThrowsError(try IndexWriter(path: notIndex)) { XCTAssertTrue("\($0)".contains("is not a plaid index"), "\($0)") }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: notIndex), [])
    }

    /// Documents of `tokens` unit vectors each, drawn around `topics` seeded directions that live
    /// in dimensions `dims` of 32 only (the others are zero).
    private func clusteredDocuments(_ count: Int, tokens: Int, topics: Int, dims: Range<Int>, seed: UInt64) -> [[Float]] {
        var rng = SeededRandom(seed: seed)
        let centers = (0..<topics).map { _ in dims.map { _ in rng.nextGaussian() } }
        return (0..<count).map { _ in
            var document: [Float] = []
            for _ in 0..<tokens {
                let center = centers[Int(rng.next() % UInt64(topics))]
                var row = [Float](repeating: 0, count: 32)
                for (j, d) in dims.enumerated() { row[d] = center[j] + 0.3 * rng.nextGaussian() }
                KMeans.normalizeRows(&row, dim: 32)
                document += row
            }
            return document
        }
    }

    /// Vectors far from the build's centroids (in dimensions the build never saw) grow the
    /// codebook; existing codes stay as they were, and the new documents are found.
    func testOutliersGrowTheCodebookAndAreFound() throws {
        let home = clusteredDocuments(300, tokens: 16, topics: 64, dims: 0..<16, seed: 1)
        let index = path("growth")
        _ = try IndexBuilder.build(from: try DocumentBatch(ids: (0..<300).map { "doc\($0)" }, documents: home, dim: 32), at: index,
                                   parameters: BuildParameters(nbits: 2, kmeans: KMeansParameters(centroids: 32)))
        let before = try CompressedIndex(path: index)
        let foreign = clusteredDocuments(60, tokens: 20, topics: 8, dims: 16..<32, seed: 2)
        let writer = try IndexWriter(path: index)
        // In-distribution documents grow nothing.
        let same = try writer.add(try DocumentBatch(ids: (0..<100).map { "more\($0)" },
                                                    documents: clusteredDocuments(100, tokens: 16, topics: 64, dims: 0..<16, seed: 1), dim: 32))
        XCTAssertEqual(same.newCentroids, 0)
        XCTAssertLessThan(same.outlierTokens, 100 * 16 / 20)
        let summary = try writer.add(try DocumentBatch(ids: (0..<60).map { "foreign\($0)" }, documents: foreign, dim: 32))
        try writer.commit()
        writer.close()
        XCTAssertEqual(summary.outlierTokens, 60 * 20, "every foreign token is an outlier")
        XCTAssertGreaterThan(summary.newCentroids, 0)
        let after = try CompressedIndex(path: index)
        XCTAssertEqual(after.codebook.centroidCount, 32 + summary.newCentroids)
        XCTAssertEqual(Array(after.quantizer.centroids.prefix(32 * 32)), before.quantizer.centroids, "existing centroids changed")
        XCTAssertEqual(after.segments.map(\.info.listCount), [32, 32, 32 + summary.newCentroids])
        XCTAssertEqual(after.reconstruct(document: 17), before.reconstruct(document: 17), "an existing document's codes changed")
        // A query made of a foreign document's own tokens finds it first.
        let query = QueryEmbeddings(ids: ["q"], tokensPerQuery: 20, dim: 32, values: foreign[7])
        XCTAssertEqual(Searcher(index: after).search(queries: query, parameters: SearchParameters(k: 3))[0].first?.id, "foreign7")
        // Without growth, the same batch is coded against the old centroids only.
        let plain = path("no-growth")
        try FileManager.default.copyItem(atPath: index, toPath: plain)
        let noGrowth = try IndexWriter(path: plain)
        XCTAssertEqual(try noGrowth.add(try DocumentBatch(ids: ["late"], documents: [foreign[8]], dim: 32), growCodebook: false).newCentroids, 0)
    }

    /// Automatic compaction once deleted tokens pass 20% of the stored tokens.
    /// An index created empty searches (finding nothing), and its first batch trains the codebook
    /// as a build on that batch would: same centroids count and residual buckets, and the same
    /// results but for ties moved by the centroids' float16 rounding.
    func testAnIndexCreatedEmptyIsTrainedByItsFirstBatchAsABuildWould() throws {
        let queries = corpus.queries(count: 20, tokens: 12)
        let empty = path("empty")
        try IndexBuilder.createEmpty(at: empty, dim: pool.dim)
        let opened = try CompressedIndex(path: empty)
        XCTAssertEqual(opened.documentCount, 0)
        XCTAssertFalse(opened.codebook.isTrained)
        XCTAssertTrue(try search(empty, queries).allSatisfy { $0.isEmpty })
        XCTAssertThrowsError(try IndexBuilder.createEmpty(at: empty, dim: pool.dim), "an existing index is not replaced")

        let first = try batch(Array(0..<300), ids: (0..<300).map { "doc\($0)" })
        let writer = try IndexWriter(path: empty)
        try writer.add(first)
        try writer.commit()
        _ = try IndexBuilder.build(from: first, at: path("built"))
        let trained = try CompressedIndex(path: empty).codebook, built = try CompressedIndex(path: path("built")).codebook
        XCTAssertEqual(trained.centroidCount, built.centroidCount)
        XCTAssertEqual(trained.bucketCutoffs, built.bucketCutoffs)
        XCTAssertEqual(trained.outlierDistance, built.outlierDistance)
        let a = try search(empty, queries), b = try search(path("built"), queries)
        let agreement = zip(a, b).map { Double(Set($0.map(\.id)).intersection($1.map(\.id)).count) / 10 }.reduce(0, +) / Double(a.count)
        XCTAssertGreaterThanOrEqual(agreement, 0.95, "top-10 agreement with a build on the same batch")

        // Later batches are added as to any index.
        try writer.add(try batch(Array(300..<400), ids: (300..<400).map { "doc\($0)" }))
        try writer.commit()
        writer.close()
        XCTAssertEqual(try CompressedIndex(path: empty).documentCount, 400)
    }

    /// A stream of small commits stays within `maxSegments` segments by merging adjacent small
    /// ones, and searches as the compacted index does.
    func testManySmallCommitsAreMergedAndSearchAsTheCompactedIndex() throws {
        let index = try buildIndex("merging", documents: 0..<200)
        let queries = corpus.queries(count: 10, tokens: 12)
        let writer = try IndexWriter(path: index)
        writer.mergePolicy = AdjacentMergePolicy(maxSegments: 4, segmentsPerMerge: 3)
        var merged = 0
        var live = Set((0..<200).map { "doc\($0)" })
        for step in 0..<15 {
            let documents = Array((200 + step * 10)..<(210 + step * 10))
            try writer.add(try batch(documents, ids: documents.map { "doc\($0)" }))
            live.formUnion(documents.map { "doc\($0)" })
            if step % 4 == 3 {
                try writer.delete(ids: ["doc\(step * 3)", "doc\(200 + step * 10)"])
                live.subtract(["doc\(step * 3)", "doc\(200 + step * 10)"])
            }
            merged += try writer.commit().mergedSegments
            let opened = try CompressedIndex(path: index)
            XCTAssertLessThanOrEqual(opened.segments.count, 4, "step \(step)")
            XCTAssertEqual(Set(opened.liveDocumentIDs), live, "step \(step)")
        }
        XCTAssertGreaterThan(merged, 0)
        writer.close()
        let compacted = try copyOf(index, "merging-compacted")
        let compactor = try IndexWriter(path: compacted)
        try compactor.compact()
        compactor.close()
        assertSameRanking(try search(index, queries), try search(compacted, queries), "merged segments against the compacted index")
    }

    /// A snapshot opened `reusing` the previous one takes the centroids and unchanged segments
    /// from it and reopens what the commit changed; it searches as a fresh open does.
    func testASnapshotReusingThePreviousOneSearchesAsAFreshOne() throws {
        let index = try buildIndex("reuse", documents: 0..<300)
        let queries = corpus.queries(count: 8, tokens: 12)
        let old = try CompressedIndex(path: index)
        let writer = try IndexWriter(path: index)
        try writer.add(try batch(Array(300..<400), ids: (300..<400).map { "doc\($0)" }))
        try writer.commit()
        let added = try CompressedIndex(path: index, reusing: old)
        XCTAssertTrue(added.segments[0] === old.segments[0], "the unchanged segment is reused")
        XCTAssertTrue(added.quantizer.centroids == old.quantizer.centroids)
        try writer.delete(ids: ["doc7", "doc350"])
        try writer.commit()
        writer.close()
        let deleted = try CompressedIndex(path: index, reusing: added)
        XCTAssertFalse(deleted.segments[0] === added.segments[0], "a segment with new deletions is reopened")
        let fresh = try CompressedIndex(path: index)
        XCTAssertEqual(deleted.bytesOnDisk, fresh.bytesOnDisk)
        let params = SearchParameters(k: 10)
        assertSameRanking(Searcher(index: deleted).search(queries: queries, parameters: params, threads: 1),
                          Searcher(index: fresh).search(queries: queries, parameters: params, threads: 1), "reused against fresh")
        XCTAssertFalse(Searcher(index: deleted).search(queries: queries, parameters: SearchParameters(k: 400), threads: 1)
            .joined().contains { $0.id == "doc7" || $0.id == "doc350" })
    }

    /// The growth pass's codes, reused when it appends no centroid, give the very segment an
    /// add without growth writes (which assigns the tokens itself).
    func testCodesOfTheGrowthPassGiveTheSameSegment() throws {
        let base = try buildIndex("codes", documents: 0..<300)
        let other = try copyOf(base, "codes-without-growth")
        let documents = Array(300..<420)
        for (index, grow) in [(base, true), (other, false)] {
            let writer = try IndexWriter(path: index)
            writer.chunkTokens = 500   // several chunks, so the codes are sliced per chunk
            let summary = try writer.add(try batch(documents, ids: documents.map { "doc\($0)" }), growCodebook: grow)
            XCTAssertEqual(summary.newCentroids, 0)
            if grow { XCTAssertGreaterThan(summary.tokens, 500) }
            try writer.commit()
            writer.close()
        }
        let segment = try CompressedIndex(path: base).segments[1].info.name
        for file in ["codes.plaid", "residuals.plaid", "ivf.plaid"] {
            XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: "\(base)/\(segment)/\(file)")),
                           try Data(contentsOf: URL(fileURLWithPath: "\(other)/\(segment)/\(file)")), file)
        }
    }

    func testDeletingMoreThanAFifthCompactsAutomatically() throws {
        let index = try buildIndex("auto", documents: 0..<100)
        let writer = try IndexWriter(path: index)
        try writer.delete(ids: (0..<10).map { "doc\($0)" })
        XCTAssertFalse(try writer.commit().compacted)
        XCTAssertEqual(try CompressedIndex(path: index).deletedCount, 10)
        try writer.delete(ids: (10..<30).map { "doc\($0)" })
        let commit = try writer.commit()
        writer.close()
        XCTAssertTrue(commit.compacted)
        let opened = try CompressedIndex(path: index)
        XCTAssertEqual(opened.deletedCount, 0)
        XCTAssertEqual(opened.documentCount, 70)
        XCTAssertEqual(opened.generation, 4)
        XCTAssertEqual(opened.liveDocumentIDs, (30..<100).map { "doc\($0)" })
    }

    /// A version-1 index (written by the previous format's plaid) opens and searches as it is; the
    /// first write upgrades it to version 2 in an ordinary commit, and search is unchanged.
    func testVersion1IndexSearchesAndIsUpgradedByTheFirstWrite() throws {
        let fixture = Bundle.module.path(forResource: "Fixtures/version1-index", ofType: nil)!
        let index = try copyOf(fixture, "version1")
        let old = try CompressedIndex(path: index)
        XCTAssertEqual(old.formatVersion, 1)
        XCTAssertEqual(old.generation, 0)
        XCTAssertEqual(old.documentCount, 120)
        let queries = SyntheticCorpus(documents: 120, tokensPerDocument: 8...24, dim: 32, seed: 5).queries(count: 10, tokens: 12)
        let before = Searcher(index: old).search(queries: queries, parameters: SearchParameters(k: 10), threads: 1)
        let victim = before[0][0].id
        let writer = try IndexWriter(path: index)
        try writer.delete(ids: [victim])
        try writer.commit()
        writer.close()
        let upgraded = try CompressedIndex(path: index)
        XCTAssertEqual(upgraded.formatVersion, 2)
        XCTAssertEqual(upgraded.generation, 1)
        XCTAssertEqual(upgraded.documentCount, 119)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: index).sorted(),
                       ["centroids-1.plaid", "manifest.plaid", "seg-000000", "writer.lock"], "the version-1 files were not all replaced")
        let after = Searcher(index: upgraded).search(queries: queries, parameters: SearchParameters(k: 10), threads: 1)
        for (b, a) in zip(before, after) where !b.contains(where: { $0.id == victim }) {
            assertSameRanking([b], [a], "a query the deletion does not touch changed")
        }
        XCTAssertFalse(after.joined().contains { $0.id == victim })
    }

    /// Build on half, add the other half, delete a seeded 10%: the staged search keeps as much of
    /// the exhaustive top-10 over the live documents as a one-shot build with the same deletions,
    /// and never returns a deleted id.
    func testHalfBuiltHalfAddedWithDeletionsTracksExhaustiveSearchOverTheLiveDocuments() throws {
        var rng = SeededRandom(seed: 10)
        let deleted = Set(rng.sample(90, from: 900))
        let deletedIDs = Set(deleted.map { pool.ids[$0] })
        let queries = corpus.queries(count: 60, tokens: 12)
        let exact = try ExhaustiveSearcher(documents: pool).search(queries: queries, k: 10, include: { !deleted.contains($0) })
        let parameters = BuildParameters(nbits: 2, kmeans: KMeansParameters(centroids: 128))
        func keptAfterDeleting(_ index: String) throws -> Double {
            let writer = try IndexWriter(path: index)
            writer.mergePolicy = AdjacentMergePolicy(compactionThreshold: nil)
            XCTAssertEqual(try writer.delete(ids: Array(deletedIDs)).deleted, 90)
            try writer.commit()
            writer.close()
            let staged = try search(index, queries)
            XCTAssertFalse(staged.joined().contains { deletedIDs.contains($0.id) })
            var found = 0
            for (s, e) in zip(staged, exact) { found += Set(s.map(\.id)).intersection(e.map(\.id)).count }
            return Double(found) / Double(10 * queries.count)
        }
        _ = try IndexBuilder.build(from: pool, at: path("one-shot"), parameters: parameters)
        let oneShot = try keptAfterDeleting(path("one-shot"))
        _ = try IndexBuilder.build(from: DocumentRange(pool, documents: 0..<450), at: path("halves"), parameters: parameters)
        let writer = try IndexWriter(path: path("halves"))
        try writer.add(DocumentRange(pool, documents: 450..<900))
        try writer.commit()
        writer.close()
        let halves = try keptAfterDeleting(path("halves"))
        print("exact top-10 over the live documents kept: one-shot \(oneShot), half built and half added \(halves)")
        // Centroids trained on half the corpus cost a little; a coding error would cost nearly everything.
        XCTAssertGreaterThanOrEqual(halves, oneShot - 0.05)
        XCTAssertGreaterThan(oneShot, 0.45)
    }
}
