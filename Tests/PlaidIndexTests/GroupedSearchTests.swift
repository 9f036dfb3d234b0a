import Foundation
import PlaidCore
import PlaidKernels
import XCTest
@testable import PlaidIndex

/// Search over a codebook trained in groups (`GroupedSearch.swift`), on small indexes built with
/// two-level k-means from a low centroid count.
final class GroupedSearchTests: XCTestCase {
    private var directory: String!
    override func setUp() { directory = temporaryDirectory() }
    override func tearDown() { try? FileManager.default.removeItem(atPath: directory) }

    /// 512 centroids trained in two levels (32 groups); the corpus and its embeddings.
    private func groupedIndex(documents: Int = 1500) throws -> (CompressedIndex, SyntheticCorpus, DocumentEmbeddings) {
        let (corpus, embeddings) = try smallCorpus(documents: documents, tokens: 30...60, dim: 64, seed: 12, in: directory)
        let path = (directory as NSString).appendingPathComponent("index")
        let kmeans = KMeansParameters(centroids: 512, twoLevelFrom: 256)
        _ = try IndexBuilder.build(from: embeddings, at: path, parameters: BuildParameters(nbits: 2, kmeans: kmeans))
        return (try CompressedIndex(path: path), corpus, embeddings)
    }

    /// The build records the groups, the open checks and rebuilds them, and a flat build records none.
    func testATwoLevelBuildRecordsItsGroups() throws {
        let (index, _, _) = try groupedIndex()
        let ends = try XCTUnwrap(index.codebook.centroidGroupEnds)
        XCTAssertEqual(ends.last, 512)
        XCTAssertEqual(index.searchGroups?.count, ends.count)
        XCTAssertEqual(index.searchGroups?.tail, 512..<512)
        XCTAssertGreaterThan(ends.count, 8)

        let (_, flatEmbeddings) = try smallCorpus(documents: 200, in: directory + "/flat")
        let flatPath = (directory as NSString).appendingPathComponent("flat-index")
        _ = try IndexBuilder.build(from: flatEmbeddings, at: flatPath, parameters: BuildParameters(nbits: 2, kmeans: KMeansParameters(centroids: 64)))
        let flat = try CompressedIndex(path: flatPath)
        XCTAssertNil(flat.codebook.centroidGroupEnds)
        XCTAssertNil(flat.searchGroups)
    }

    /// Probing every group with a budget past every candidate scores every centroid and keeps
    /// every candidate, and with ndocs = k stage 3 keeps all that stage 2 kept: the grouped search
    /// then returns what the dense search with PLAID's fixed budgets returns, result for result
    /// (a filter allowing every document takes the dense path).
    func testProbingEveryGroupWithoutABudgetEqualsTheDenseSearch() throws {
        let (index, corpus, _) = try groupedIndex()
        let groups = try XCTUnwrap(index.searchGroups)
        let everything = allowingEveryDocument(index)
        let queries = corpus.queries(count: 20)
        for k in [10, 30] {
            var p = SearchParameters(k: k, ncells: 2, centroidScoreThreshold: 0.4, ndocs: k)
            p.groupProbes = groups.count
            p.candidateBudget = index.documentCount
            p.exactScoringTokens = 0
            // PLAID's fixed budgets, and the dense search without the probe margin (the grouped
            // stages have none).
            p.budgetsFromScores = false
            p.probeMargin = 0
            let searcher = Searcher(index: index)
            let grouped = searcher.search(queries: queries, parameters: p, threads: 1)
            let dense = searcher.search(queries: queries, parameters: p, filter: everything, threads: 1)
            XCTAssertEqual(grouped, dense, "k = \(k)")
            // And it is not so at the defaults, which score fewer centroids and keep fewer candidates.
            XCTAssertNotEqual(searcher.search(queries: queries, parameters: SearchParameters(k: k), threads: 1), dense, "k = \(k)")
        }
    }

    /// At the defaults the grouped search keeps most of the dense search's top-10, its results
    /// do not depend on the thread count, and one query alone gives what it gives in a batch.
    func testDefaultsKeepTheDenseTopTenAndDoNotDependOnThreads() throws {
        let (index, corpus, _) = try groupedIndex()
        let queries = corpus.queries(count: 40)
        let searcher = Searcher(index: index)
        let p = SearchParameters(k: 10)
        let one = searcher.search(queries: queries, parameters: p, threads: 1)
        XCTAssertEqual(one, searcher.search(queries: queries, parameters: p, threads: 2))
        let alone = queries.values.withUnsafeBufferPointer {
            searcher.search(query: $0.baseAddress! + 3 * queries.tokensPerQuery * queries.dim, tokens: queries.tokensPerQuery, parameters: p)
        }
        XCTAssertEqual(alone, one[3])
        var dp = p
        dp.exactScoringTokens = 0
        let dense = searcher.search(queries: queries, parameters: dp, filter: allowingEveryDocument(index), threads: 1)
        var kept = 0
        for q in 0..<queries.count { kept += Set(one[q].map(\.document)).intersection(dense[q].map(\.document)).count }
        let share = Double(kept) / Double(10 * queries.count)
        print("grouped search keeps \(share) of the dense top-10")
        XCTAssertGreaterThanOrEqual(share, 0.9)
    }

    /// With a first cut of k, the fixed budget scores only stage 2's k best exactly; the budgets
    /// from the scores go down stage 2's ranking until they keep the codec bound's top ten (the
    /// dense search scoring every decoded document) as well as the candidates allow.
    func testBudgetsFromTheScoresMoveTheGroupedCut() throws {
        let (index, corpus, _) = try groupedIndex()
        let searcher = Searcher(index: index)
        let queries = corpus.queries(count: 20)
        var bound = SearchParameters(k: 10, ncells: 512, centroidScoreThreshold: -100, ndocs: 4 * index.documentCount)
        bound.budgetsFromScores = false
        bound.exactScoringTokens = 0
        let reference = searcher.search(queries: queries, parameters: bound, filter: allowingEveryDocument(index), threads: 1)
        var p = SearchParameters(k: 10, ncells: 2, centroidScoreThreshold: 0.4, ndocs: 10)
        p.candidateBudget = index.documentCount
        func kept(_ fromScores: Bool) -> Double {
            p.budgetsFromScores = fromScores
            return shareKept(searcher.search(queries: queries, parameters: p, threads: 1), of: reference)
        }
        let fixed = kept(false), fromScores = kept(true)
        print("grouped search, codec bound's top-10 kept: fixed budget \(fixed), budgets from the scores \(fromScores)")
        XCTAssertLessThan(fixed, 0.8)
        XCTAssertGreaterThanOrEqual(fromScores, 0.95)
    }

    /// The trace shows the selection: candidates in, the budget out, and the pruned stage takes
    /// those; with PLAID's fixed budgets a quarter of ndocs is scored exactly, and with the
    /// budgets from the scores at least that many.
    func testTheTraceShowsTheCandidateSelection() throws {
        let (index, corpus, _) = try groupedIndex()
        let queries = corpus.queries(count: 4, tokens: 16)
        var p = SearchParameters(k: 10, ncells: 4, centroidScoreThreshold: 0.3, ndocs: 64)
        p.candidateBudget = 100
        p.groupProbes = 2
        for (q, fromScores) in zip(0..<queries.count, [false, true, false, true]) {
            p.budgetsFromScores = fromScores
            var trace = SearchTrace()
            let results = queries.values.withUnsafeBufferPointer {
                Searcher(index: index).search(query: $0.baseAddress! + q * 16 * 64, tokens: 16, parameters: p, trace: &trace)
            }
            XCTAssertEqual(results.count, 10)
            XCTAssertLessThan(trace[.centroidScores].itemsIn, 512, "stage 1 scores the best groups' centroids, not all")
            XCTAssertGreaterThan(trace[.candidates].itemsOut, 100)
            XCTAssertEqual(trace[.candidateSelection].itemsIn, trace[.candidates].itemsOut)
            XCTAssertEqual(trace[.candidateSelection].itemsOut, 100)
            XCTAssertEqual(trace[.prunedInteraction].itemsIn, 100)
            XCTAssertEqual(trace[.prunedInteraction].itemsOut, 64)
            XCTAssertEqual(trace[.fullInteraction].itemsIn, 100)
            if fromScores {
                XCTAssertGreaterThanOrEqual(trace[.fullInteraction].itemsOut, 16)
            } else {
                XCTAssertEqual(trace[.fullInteraction].itemsOut, 16)
            }
            XCTAssertEqual(trace[.exact].itemsIn, trace[.fullInteraction].itemsOut)
            XCTAssertEqual(trace[.exact].itemsOut, 10)
        }
    }

    /// Deleted documents never come back from the grouped search.
    func testDeletedDocumentsAreNeverReturned() throws {
        let (index, corpus, _) = try groupedIndex()
        let queries = corpus.queries(count: 8)
        let before = Searcher(index: index).search(queries: queries, parameters: SearchParameters(k: 10), threads: 1)
        let doomed = Set(before.flatMap { $0.prefix(3).map(\.id) })
        let writer = try IndexWriter(path: index.path)
        _ = try writer.delete(ids: Array(doomed))
        try writer.commit()
        let after = Searcher(index: try CompressedIndex(path: index.path)).search(queries: queries, parameters: SearchParameters(k: 10), threads: 1)
        XCTAssertTrue(after.allSatisfy { $0.count == 10 && $0.allSatisfy { !doomed.contains($0.id) } })
    }

    /// Centroids appended by an addition (the tail, in no group) are probed like the others: a
    /// batch unlike the build's grows the codebook, and each of its documents, searched with its
    /// own vectors, comes back first.
    func testDocumentsCodedAgainstAppendedCentroidsAreFound() throws {
        let path = (directory as NSString).appendingPathComponent("index")
        let kmeans = KMeansParameters(centroids: 256, twoLevelFrom: 128)
        _ = try IndexBuilder.build(from: try batchInDimensions(600, dims: 0..<16, seed: 1), at: path, parameters: BuildParameters(nbits: 2, kmeans: kmeans))
        let writer = try IndexWriter(path: path)
        let foreign = try batchInDimensions(64, dims: 16..<32, seed: 2)
        try writer.add(foreign)
        try writer.commit()
        writer.close()
        let index = try CompressedIndex(path: path)
        let groups = try XCTUnwrap(index.searchGroups)
        XCTAssertGreaterThan(groups.tail.count, 0, "the foreign batch grew the codebook")
        let searcher = Searcher(index: index)
        for d in stride(from: 0, to: 64, by: 8) {
            let query = Array(foreign.values[(foreign.offsets[d] * 32)..<(foreign.offsets[d + 1] * 32)])
            let results = query.withUnsafeBufferPointer { searcher.search(query: $0.baseAddress!, tokens: 16, parameters: SearchParameters(k: 3)) }
            XCTAssertEqual(results.first?.id, "2-\(d)", "document \(d)")
        }
    }

    /// The selection keeps the `count` best by score, ties to the lower ordinal, in ordinal
    /// order: as sorting would, on scores full of ties.
    func testTheSelectionKeepsTheBestAsSortingWould() {
        var rng = SeededRandom(seed: 5)
        for trial in 0..<200 {
            let n = 1 + Int(rng.next() % 300)
            let score = (0..<n).map { _ in Float(rng.next() % 7) }
            let ordinals = (0..<n).shuffled(using: &rng)
            let count = Int(rng.next() % UInt64(n + 3))
            let expected = ordinals.sorted { score[$0] != score[$1] ? score[$0] > score[$1] : $0 < $1 }.prefix(count).sorted()
            XCTAssertEqual(Searcher.best(count, of: ordinals, scores: ordinals.map { score[$0] }), expected, "trial \(trial)")
        }
    }

    /// The same on many candidates with scores of every sign, ties among them, one value far
    /// from the rest (so that most fall in one bin of the selection's histogram) and ordinals
    /// past 2^24 (several passes of its sort).
    func testTheSelectionOfManyCandidatesKeepsTheBestAsSortingWould() {
        var rng = SeededRandom(seed: 9)
        for trial in 0..<12 {
            let n = 5_000 + Int(rng.next() % 20_000)
            var score = (0..<n).map { _ in Float(Int(rng.next() % 20_001) - 10_000) / 997 }
            if trial % 3 == 1 { score[Int(rng.next() % UInt64(n))] = 1e30 }
            if trial % 3 == 2 { for i in 0..<n where i % 5 == 0 { score[i] = 1.5 } }
            let ordinals = (0..<n).map { $0 * 4_099 + Int(rng.next() % 4_099) }.shuffled(using: &rng)
            let scoreOf = Dictionary(uniqueKeysWithValues: zip(ordinals, score))
            for count in [1, 10, n / 7, n - 1, n] {
                let expected = ordinals.sorted { scoreOf[$0]! != scoreOf[$1]! ? scoreOf[$0]! > scoreOf[$1]! : $0 < $1 }.prefix(count).sorted()
                XCTAssertEqual(Searcher.best(count, of: ordinals, scores: score), expected, "trial \(trial), count \(count)")
            }
        }
    }

    /// The candidate lists' kernel against a plain reference: each live document of the lists,
    /// credited once per token with the score of that token's first list holding it, over
    /// ordinals spanning several of its blocks, two segments and deletions.
    func testCreditedListsAgreeWithAPlainReference() {
        var rng = SeededRandom(seed: 21)
        let segmentSizes = [30_000, 12_000], bases = [0, 30_000], ordinals = 42_000
        let deleted: [[UInt64]] = segmentSizes.map { n in (0..<(n + 63) / 64).map { _ in rng.next() & rng.next() & rng.next() } }
        for trial in 0..<6 {
            var data: [UInt8] = []
            var specs: [(segment: Int, start: Int, end: Int, token: Int, score: Float, documents: [Int])] = []
            for token in 0..<(3 + trial) {
                for _ in 0..<(1 + Int(rng.next() % 3)) {
                    let segment = Int(rng.next() % 2), n = segmentSizes[segment]
                    let step = [2, 40, 700][Int(rng.next() % 3)]  // gaps of one, one or two, and two bytes
                    var documents: [Int] = [], d = Int(rng.next() % UInt64(step))
                    while d < n { documents.append(d); d += 1 + Int(rng.next() % UInt64(step)) }
                    let start = data.count
                    var previous = 0
                    for doc in documents {
                        var gap = doc - previous
                        previous = doc
                        while gap >= 0x80 { data.append(UInt8(gap & 0x7F) | 0x80); gap >>= 7 }
                        data.append(UInt8(gap))
                    }
                    specs.append((segment, start, data.count, token, Float(Int(rng.next() % 1000)) / 100 - 3, documents))
                }
            }
            var expected: [Int: Float] = [:]
            var seen = Set<[Int]>()
            for spec in specs {
                for d in spec.documents where deleted[spec.segment][d >> 6] >> (d & 63) & 1 == 0 {
                    let ordinal = bases[spec.segment] + d
                    if seen.insert([spec.token, ordinal]).inserted { expected[ordinal, default: 0] += spec.score }
                }
            }
            let room = specs.reduce(0) { $0 + $1.documents.count }
            var candidates = [Int64](repeating: -1, count: room), credits = [Float](repeating: 0, count: room)
            let count = data.withUnsafeBufferPointer { bytes in
                deleted[0].withUnsafeBufferPointer { first in
                    deleted[1].withUnsafeBufferPointer { second in
                        let lists = specs.map { spec in
                            plaid_probed_list(data: bytes.baseAddress!, start: spec.start, end: spec.end, documentCount: segmentSizes[spec.segment],
                                              base: bases[spec.segment], deleted: spec.segment == 0 ? first.baseAddress! : second.baseAddress!,
                                              mark: Int32(spec.token + 1), score: spec.score)
                        }
                        return plaid_credit_lists(lists, lists.count, ordinals, room, &candidates, &credits)
                    }
                }
            }
            XCTAssertEqual(count, expected.count, "trial \(trial)")
            let found = Dictionary(uniqueKeysWithValues: (0..<max(count, 0)).map { (Int(candidates[$0]), credits[$0]) })
            XCTAssertEqual(found, expected, "trial \(trial)")
        }
    }

    /// Gaps of one to five bytes, lists cut inside a gap, and ids past the segment's documents:
    /// the lists' kernel decodes each list as a plain byte-by-byte reading of its contract does
    /// (a list ends at its end, at a gap running past it, or at an id past documentCount), so the
    /// decoding of short gaps from whole words agrees with it on every length and every cut.
    func testCreditedListsDecodeGapsOfEveryLength() {
        var rng = SeededRandom(seed: 2121)
        let documentCount = 40_000_000, ordinals = documentCount
        let gapsOf: [ClosedRange<Int>] = [1...127, 128...16_383, 16_384...2_097_151, 2_097_152...9_000_000, 300_000_000...400_000_000]
        for trial in 0..<40 {
            var data: [UInt8] = []
            var ranges: [(start: Int, end: Int)] = []
            for _ in 0..<(1 + trial % 4) {
                let start = data.count
                for _ in 0..<Int(rng.next() % 30) {
                    // Mostly short gaps, a long one now and then (five bytes only in some trials).
                    let length = Int(rng.next() % (trial % 3 == 0 ? 5 : 4))
                    let range = gapsOf[rng.next() % 3 == 0 ? length : min(length, 1)]
                    var gap = range.lowerBound + Int(rng.next() % UInt64(range.count))
                    if rng.next() % 17 == 0 { gap = 0 }  // a repeated id, as a damaged list may hold
                    while gap >= 0x80 { data.append(UInt8(gap & 0x7F) | 0x80); gap >>= 7 }
                    data.append(UInt8(gap))
                }
                // Some lists cut short, maybe inside a gap.
                let end = trial % 2 == 1 && data.count > start ? start + Int(rng.next() % UInt64(data.count - start + 1)) : data.count
                ranges.append((start, end))
            }
            var expected: [Int: Float] = [:]
            for (l, range) in ranges.enumerated() {
                var p = range.start, doc = 0, seen = Set<Int>()
                decoding: while p < range.end {
                    var gap = 0, shift = 0
                    while true {
                        if p >= range.end || shift >= 63 { break decoding }
                        let byte = data[p]
                        p += 1
                        gap |= Int(byte & 0x7F) << shift
                        if byte < 0x80 { break }
                        shift += 7
                    }
                    doc += gap
                    if doc >= documentCount { break }
                    if seen.insert(doc).inserted { expected[doc, default: 0] += Float(l + 1) }
                }
            }
            let room = max(data.count, 1)
            var candidates = [Int64](repeating: -1, count: room), credits = [Float](repeating: 0, count: room)
            let count = data.withUnsafeBufferPointer { bytes in
                let lists = ranges.enumerated().map { l, range in
                    plaid_probed_list(data: bytes.baseAddress!, start: range.start, end: range.end, documentCount: documentCount, base: 0,
                                      deleted: nil, mark: Int32(l + 1), score: Float(l + 1))
                }
                return plaid_credit_lists(lists, lists.count, ordinals, room, &candidates, &credits)
            }
            XCTAssertEqual(count, expected.count, "trial \(trial)")
            let found = Dictionary(uniqueKeysWithValues: (0..<max(count, 0)).map { (Int(candidates[$0]), credits[$0]) })
            XCTAssertEqual(found, expected, "trial \(trial)")
        }
    }

    /// A list holding more postings than the room given (a damaged index whose recorded list
    /// lengths are short, opened without its postings checked, as the server opens) is refused,
    /// and nothing is written past the room: document 5 twice, in a room of one, had its second
    /// posting write a second entry (found by review with AddressSanitizer).
    func testCreditedListsNeverWritePastTheRoom() {
        let bytes: [UInt8] = [0x05, 0x00]
        var candidates: [Int64] = [-7, -7], credits: [Float] = [-7, -7]
        let refused = bytes.withUnsafeBufferPointer { data in
            let list = plaid_probed_list(data: data.baseAddress!, start: 0, end: 2, documentCount: 10, base: 0, deleted: nil, mark: 1, score: 0.5)
            return plaid_credit_lists([list], 1, 10, 1, &candidates, &credits)
        }
        XCTAssertEqual(refused, -2, "SIZE_MAX - 1: more postings than room")
        XCTAssertEqual(candidates, [-7, -7])
        XCTAssertEqual(credits, [-7, -7])
        let count = bytes.withUnsafeBufferPointer { data in
            let list = plaid_probed_list(data: data.baseAddress!, start: 0, end: 2, documentCount: 10, base: 0, deleted: nil, mark: 1, score: 0.5)
            return plaid_credit_lists([list], 1, 10, 2, &candidates, &credits)
        }
        XCTAssertEqual(count, 1)
        XCTAssertEqual(candidates[0], 5)
        XCTAssertEqual(credits[0], 0.5)
    }

    /// Stage 4's rewriting of codes as rows: each centroid gets one row, in the order first met
    /// after the rows already given, whatever the codes' width; a code past the centroids is refused.
    func testRowsOfCodesGiveEachCentroidOneRowInTheOrderFirstMet() {
        let wide: [UInt32] = [7, 3, 7, 9], narrow: [UInt16] = [3, 5], bytes: [UInt8] = [9, 0]
        var slot = [UInt32](repeating: 0, count: 10)
        slot[5] = 2  // centroid 5 already has row 1, and rows 0 and 1 exist
        var added = [Int32](repeating: -1, count: 8), rows = [UInt32](repeating: 99, count: 8)
        let count = wide.withUnsafeBytes { w in
            narrow.withUnsafeBytes { n in
                bytes.withUnsafeBytes { b in
                    let documents = [plaid_lookup_document(codes: w.baseAddress!, residuals: nil, tokens: 4, codeWidth: 4),
                                     plaid_lookup_document(codes: n.baseAddress!, residuals: nil, tokens: 2, codeWidth: 2),
                                     plaid_lookup_document(codes: b.baseAddress!, residuals: nil, tokens: 2, codeWidth: 1)]
                    return plaid_rows_of_codes(documents, 3, 10, &slot, 2, &added, &rows)
                }
            }
        }
        XCTAssertEqual(count, 4)
        XCTAssertEqual(Array(added.prefix(4)), [7, 3, 9, 0])
        XCTAssertEqual(rows, [2, 3, 2, 4, 3, 1, 4, 5])
        XCTAssertEqual(slot[7], 3)
        XCTAssertEqual(slot[0], 6)
        let past: [UInt32] = [2, 10]
        let refused = past.withUnsafeBytes { w in
            plaid_rows_of_codes([plaid_lookup_document(codes: w.baseAddress!, residuals: nil, tokens: 2, codeWidth: 4)], 1, 10,
                                &slot, 6, &added, &rows)
        }
        XCTAssertEqual(refused, -1, "SIZE_MAX for a code past the centroids")
    }

    /// A manifest whose group ends are out of order or past the centroids is refused at open.
    func testGroupEndsThatCannotBeAreRefused() {
        XCTAssertTrue(CentroidSearchGroups.isValid(ends: [3, 8, 10], trained: 10, centroidCount: 12))
        XCTAssertFalse(CentroidSearchGroups.isValid(ends: [], trained: 10, centroidCount: 10))
        XCTAssertFalse(CentroidSearchGroups.isValid(ends: [0, 10], trained: 10, centroidCount: 10))
        XCTAssertFalse(CentroidSearchGroups.isValid(ends: [5, 5, 10], trained: 10, centroidCount: 10))
        XCTAssertFalse(CentroidSearchGroups.isValid(ends: [8, 3], trained: 10, centroidCount: 10))
        XCTAssertFalse(CentroidSearchGroups.isValid(ends: [4, 11], trained: 10, centroidCount: 12))
        XCTAssertFalse(CentroidSearchGroups.isValid(ends: [4, 10], trained: 10, centroidCount: 9))
    }

    private func allowingEveryDocument(_ index: CompressedIndex) -> DocumentFilter {
        let n = index.ordinalCount
        var allowed = [UInt64](repeating: 0, count: (n + 63) / 64)
        for o in 0..<n { allowed[o >> 6] |= 1 << UInt64(o & 63) }
        return DocumentFilter(allowed: allowed, count: n, tokens: index.tokenCount, ordinals: Array(0..<n))
    }
}
