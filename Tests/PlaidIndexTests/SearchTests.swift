import XCTest
import PlaidCore
import PlaidKernels
@testable import PlaidIndex

final class SearchTests: XCTestCase {
    private var directory = ""
    override func setUp() { directory = temporaryDirectory() }
    override func tearDown() { try? FileManager.default.removeItem(atPath: directory) }

    func testDefaultsFollowPLAIDByK() {
        XCTAssertEqual(SearchParameters(k: 10), SearchParameters(k: 10, ncells: 1, centroidScoreThreshold: 0.5, ndocs: 256))
        XCTAssertEqual(SearchParameters(k: 100), SearchParameters(k: 100, ncells: 2, centroidScoreThreshold: 0.45, ndocs: 1024))
        XCTAssertEqual(SearchParameters(k: 1000), SearchParameters(k: 1000, ncells: 4, centroidScoreThreshold: 0.4, ndocs: 4096))
        XCTAssertEqual(SearchParameters(k: 2000).ndocs, 8000)
    }

    func testRankedOrdersAsTheComparisonDoes() {
        // Scores of both signs, zeros of both signs, many ties, extremes; documents in any order.
        var rng = SeededRandom(seed: 7)
        let pool: [Float] = [0, -0.0, 1, -1, 0.5, -0.5, .greatestFiniteMagnitude, -.greatestFiniteMagnitude,
                             .leastNonzeroMagnitude, -.leastNonzeroMagnitude, 3.25, -7.75]
        for size in [0, 1, 2, 17, 1000] {
            let scores = (0..<size).map { _ in rng.next() % 3 == 0 ? Float(Int(rng.next() % 2001) - 1000) / 64 : pool[Int(rng.next() % UInt64(pool.count))] }
            var documents = Array(0..<size).map { $0 * 7919 % max(size, 1) }
            if size == 1000 { documents[3] = (1 << 32) - 1 }
            let expected = zip(scores, documents).map { (score: $0, document: $1) }.sorted(by: TopK.better)
            var ranking = Ranking(scores: scores, documents: documents)
            let ranked = ranking.best(size)
            XCTAssertEqual(ranked.map(\.document), expected.map(\.document), "size \(size)")
            XCTAssertEqual(ranked.map(\.score), expected.map(\.score), "size \(size)")
        }
        // A document past 2^32 takes the comparison sort, with the same order.
        var farRanking = Ranking(scores: [1, 2, 1], documents: [1 << 33, 5, 4])
        let far = farRanking.best(3)
        XCTAssertEqual(far.map(\.document), [5, 4, 1 << 33])
    }

    func testSortKeysSortsAsTheStandardLibrary() {
        // Keys varying in every digit, in a few digits only (the passes that move nothing are
        // skipped), all equal, and with duplicates; sizes around the empty and one-key cases.
        var rng = SeededRandom(seed: 11)
        let shapes: [(String, () -> UInt64)] = [("random", { rng.next() }),
                                                ("high and low bits", { (rng.next() % 5) << 60 | rng.next() % 3 }),
                                                ("one digit", { (rng.next() % 2048) << 22 }),
                                                ("equal", { 0xDEAD_BEEF })]
        for (shape, key) in shapes {
            for size in [0, 1, 2, 3, 100, 20_000] {
                var keys = (0..<size).map { _ in key() }, scratch = [UInt64](repeating: 0, count: size)
                let expected = keys.sorted()
                plaid_sort_keys(&keys, keys.count, &scratch)
                XCTAssertEqual(keys, expected, "\(shape), \(size) keys")
            }
        }
    }

    func testSmallestKeysAreTheHeadOfTheSortedKeys() {
        // The shapes of the sort's test, and keys at the top of the range (where a bin's end would
        // pass 2^64 − 1), with heads from none to all and past all.
        var rng = SeededRandom(seed: 13)
        let shapes: [(String, () -> UInt64)] = [("random", { rng.next() }),
                                                ("high and low bits", { (rng.next() % 5) << 60 | rng.next() % 3 }),
                                                ("one digit", { (rng.next() % 2048) << 22 }),
                                                ("top of the range", { UInt64.max - rng.next() % 5000 }),
                                                ("extremes", { [0, UInt64.max, rng.next()][Int(rng.next() % 3)] }),
                                                ("equal", { 0xDEAD_BEEF })]
        for (shape, key) in shapes {
            for size in [0, 1, 2, 3, 300, 20_000] {
                let keys = (0..<size).map { _ in key() }, expected = keys.sorted()
                for m in Set([0, 1, 2, size / 3, size - 1, size, size + 5]) where m >= 0 {
                    var head = [UInt64](repeating: 0, count: min(m, size) + 1), scratch = [UInt64](repeating: 0, count: size + 1)
                    head[min(m, size)] = 42  // past the head: left alone
                    plaid_smallest_keys(keys, size, m, &head, &scratch)
                    let wrong = (0..<min(m, size)).first { head[$0] != expected[$0] }
                    XCTAssertNil(wrong, "\(shape), \(size) keys, head \(m): the first wrong place")
                    XCTAssertEqual(head[min(m, size)], 42, "\(shape), \(size) keys, head \(m)")
                }
            }
        }
    }

    func testRankingReadsInTheComparisonsOrderHoweverFarItIsRead() {
        // Ties, zeros of both signs and extremes; read one place at a time (the sorted head grows
        // as the reader passes its end), or the best n at once.
        var rng = SeededRandom(seed: 17)
        let pool: [Float] = [0, -0.0, 1, -1, 0.5, .greatestFiniteMagnitude, -.greatestFiniteMagnitude, .leastNonzeroMagnitude]
        for size in [0, 1, 255, 256, 257, 3000] {
            let scores = (0..<size).map { _ in rng.next() % 2 == 0 ? Float(Int(rng.next() % 4001) - 2000) / 64 : pool[Int(rng.next() % UInt64(pool.count))] }
            let documents = (0..<size).map { $0 * 7919 % max(size, 1) }
            let expected = zip(scores, documents).map { (score: $0, document: $1) }.sorted(by: TopK.better)
            var oneByOne = Ranking(scores: scores, documents: documents)
            XCTAssertEqual(oneByOne.count, size)
            for i in 0..<size {
                let item = oneByOne.item(i)
                XCTAssertTrue(item.document == expected[i].document && item.score == expected[i].score, "size \(size), place \(i)")
            }
            for n in [0, 1, size / 2, size + 1] {
                var atOnce = Ranking(scores: scores, documents: documents)
                XCTAssertEqual(atOnce.best(n).map(\.document), expected.prefix(n).map(\.document), "size \(size), best \(n)")
            }
        }
    }

    func testStagedSearchRecoversTheExhaustiveTopTen() throws {
        let (corpus, embeddings) = try smallCorpus(documents: 1500, tokens: 30...60, dim: 64, seed: 12, in: directory)
        let path = (directory as NSString).appendingPathComponent("index")
        _ = try IndexBuilder.build(from: embeddings, at: path, parameters: BuildParameters(nbits: 2))
        let index = try CompressedIndex(path: path)
        let queries = corpus.queries(count: 60)
        let exact = try ExhaustiveSearcher(documents: embeddings).search(queries: queries, k: 10)
        let staged = Searcher(index: index).search(queries: queries, parameters: SearchParameters(k: 10))
        var found = 0
        for q in 0..<queries.count {
            found += Set(exact[q].map(\.document)).intersection(staged[q].map(\.document)).count
            XCTAssertEqual(staged[q].count, 10)
            XCTAssertEqual(staged[q].map(\.score), staged[q].map(\.score).sorted(by: >))
        }
        let recall = Double(found) / Double(10 * queries.count)
        print("staged search recall of the exhaustive top-10: \(recall)")
        XCTAssertGreaterThanOrEqual(recall, 0.95)
    }

    func testResultsDoNotDependOnTheThreadCount() throws {
        let (corpus, embeddings) = try smallCorpus(documents: 400, in: directory)
        let path = (directory as NSString).appendingPathComponent("index")
        _ = try IndexBuilder.build(from: embeddings, at: path)
        let searcher = Searcher(index: try CompressedIndex(path: path))
        let queries = corpus.queries(count: 24, tokens: 16)
        let one = searcher.search(queries: queries, parameters: SearchParameters(k: 5), threads: 1)
        let many = searcher.search(queries: queries, parameters: SearchParameters(k: 5), threads: 4)
        XCTAssertEqual(one, many)
        // Nor on the batches stage 1 scores together: each query alone gives the same results.
        for q in 0..<queries.count {
            let alone = queries.values.withUnsafeBufferPointer {
                searcher.search(query: $0.baseAddress! + q * 16 * queries.dim, tokens: 16, parameters: SearchParameters(k: 5))
            }
            XCTAssertEqual(alone, one[q], "query \(q)")
        }
        let exactOne = try ExhaustiveSearcher(documents: embeddings).search(queries: queries, k: 5, threads: 1)
        let exactMany = try ExhaustiveSearcher(documents: embeddings).search(queries: queries, k: 5, threads: 3)
        XCTAssertEqual(exactOne, exactMany)
    }

    /// Codes copied into huge pages (as a segment's large codes are) search exactly as codes read
    /// through the map.
    func testCodesInHugePagesSearchAsMappedCodes() throws {
        let (corpus, embeddings) = try smallCorpus(documents: 300, in: directory)
        let path = (directory as NSString).appendingPathComponent("index")
        _ = try IndexBuilder.build(from: embeddings, at: path)
        let queries = corpus.queries(count: 12, tokens: 16)
        let mapped = try CompressedIndex(path: path)
        XCTAssertNil(mapped.segments[0].residentCodes)
        let saved = Segment.residentCodesMinimumBytes
        Segment.residentCodesMinimumBytes = 1
        defer { Segment.residentCodesMinimumBytes = saved }
        let copied = try CompressedIndex(path: path)
        XCTAssertNotNil(copied.segments[0].residentCodes)
        for k in [5, 100] {
            XCTAssertEqual(Searcher(index: copied).search(queries: queries, parameters: SearchParameters(k: k), threads: 1),
                           Searcher(index: mapped).search(queries: queries, parameters: SearchParameters(k: k), threads: 1), "k = \(k)")
        }
    }

    /// The trace counts what each stage took in and kept: the centroids, the candidates of the
    /// probed lists, `ndocs` of them, a quarter of those, then k (with PLAID's fixed budgets; the
    /// budgets from the scores take at least as many); and the traced search returns what the
    /// untraced one does.
    func testTheTraceCountsEachStagesCandidates() throws {
        let (corpus, embeddings) = try smallCorpus(documents: 1200, tokens: 20...40, dim: 32, seed: 4, in: directory)
        let path = (directory as NSString).appendingPathComponent("index")
        _ = try IndexBuilder.build(from: embeddings, at: path, parameters: BuildParameters(nbits: 2, kmeans: KMeansParameters(centroids: 64)))
        let searcher = Searcher(index: try CompressedIndex(path: path))
        let queries = corpus.queries(count: 6, tokens: 12)
        var parameters = SearchParameters(k: 10, ncells: 4, centroidScoreThreshold: 0.3, ndocs: 128)
        parameters.budgetsFromScores = false
        parameters.probeMargin = 0
        var fromScores = parameters
        fromScores.budgetsFromScores = true
        for q in 0..<queries.count {
            var adaptive = SearchTrace()
            _ = queries.values.withUnsafeBufferPointer {
                searcher.search(query: $0.baseAddress! + q * 12 * 32, tokens: 12, parameters: fromScores, trace: &adaptive)
            }
            XCTAssertGreaterThanOrEqual(adaptive[.fullInteraction].itemsIn, 128)
            XCTAssertEqual(adaptive[.fullInteraction].itemsOut, adaptive[.exact].itemsIn)
            XCTAssertGreaterThanOrEqual(adaptive[.exact].itemsIn, 32)
            var trace = SearchTrace()
            let traced = queries.values.withUnsafeBufferPointer {
                searcher.search(query: $0.baseAddress! + q * 12 * 32, tokens: 12, parameters: parameters, trace: &trace)
            }
            let plain = queries.values.withUnsafeBufferPointer { searcher.search(query: $0.baseAddress! + q * 12 * 32, tokens: 12, parameters: parameters) }
            XCTAssertEqual(traced, plain)
            XCTAssertEqual(trace[.centroidScores].itemsIn, 64)
            XCTAssertEqual(trace[.centroidScores].itemsOut, 12)
            let candidates = trace[.candidates].itemsOut
            XCTAssertGreaterThan(candidates, 128, "4 probes per token reach more than ndocs documents")
            XCTAssertEqual(trace[.prunedInteraction].itemsIn, candidates)
            XCTAssertEqual(trace[.prunedInteraction].itemsOut, 128)
            XCTAssertEqual(trace[.fullInteraction].itemsOut, 32)
            XCTAssertEqual(trace[.exact].itemsIn, 32)
            XCTAssertEqual(trace[.exact].itemsOut, 10)
            // Candidate selection runs only on a codebook trained in groups (GroupedSearchTests).
            XCTAssertTrue(SearchTrace.Stage.allCases.allSatisfy { trace[$0].runs == ($0 == .candidateSelection ? 0 : 1) && trace[$0].seconds >= 0 })
        }
    }

    /// Stage 4's MaxSim from codes (q·c from the centroid scores plus q·r from the bucket
    /// weights) equals MaxSim over the decompressed vectors, at 1, 2 and 4 bits, for 32-token
    /// queries (the chunked path) and others. The residual widths cover every part of the table's
    /// layout: dimension 24 at 2 bits is 6 bytes, too few for 6-bit groups (nibbles only); 64
    /// ends in an odd 3-byte block and a nibble byte; 104 leaves residual bytes past the last
    /// whole block; 384 is the default model's. 300 tokens span three chunks of 128.
    func testMaxSimFromLookupEqualsMaxSimOverDecodedVectors() {
        for (dim, docTokens) in [(24, 40), (64, 23), (104, 300), (384, 60)] { checkMaxSimFromLookup(dim: dim, docTokens: docTokens) }
    }

    private func checkMaxSimFromLookup(dim: Int, docTokens: Int) {
        var rng = SeededRandom(seed: UInt64(9 + dim))
        let centroidCount = 40
        let centroids = (0..<centroidCount * dim).map { _ in rng.nextGaussian() * 0.2 }
        let quantizer = CoarseQuantizer(centroids: centroids, dim: dim)
        // The tokens split into documents: an empty one, one token, and the rest in two.
        let lengths = [0, 1, docTokens / 3, docTokens - 1 - docTokens / 3]
        let starts = lengths.indices.map { lengths[..<$0].reduce(0, +) }
        for nbits in [1, 2, 4] {
            let buckets = 1 << nbits
            let codec = ResidualCodec(dim: dim, nbits: nbits, cutoffs: (1..<buckets).map { Float($0) / Float(buckets) - 0.5 },
                                      weights: (0..<buckets).map { (Float($0) + 0.5) / Float(buckets) - 0.5 })
            let packed = (0..<docTokens * codec.bytesPerVector).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            let codes = (0..<docTokens).map { _ in UInt16(rng.next() % UInt64(centroidCount)) }
            var decoded = [Float](repeating: 0, count: docTokens * dim)
            packed.withUnsafeBufferPointer { p in
                codes.withUnsafeBytes { c in
                    ResidualDecoder(codec: codec, quantizer: quantizer).decode(packed: p.baseAddress!, codes: c.baseAddress!, codeWidth: 2,
                                                                               count: docTokens, into: &decoded)
                }
            }
            for nq in [32, 5] {
                let query = (0..<nq * dim).map { _ in rng.nextGaussian() }
                let expected: [Float] = lengths.indices.map { i in
                    guard lengths[i] > 0 else { return 0 }
                    return (0..<nq).reduce(Float(0)) { sum, t in
                        sum + (starts[i]..<starts[i] + lengths[i]).map { d in
                            (0..<dim).reduce(Float(0)) { $0 + query[t * dim + $1] * decoded[d * dim + $1] }
                        }.max()!
                    }
                }
                var centroidScores = [Float](repeating: 0, count: centroidCount * nq)
                for c in 0..<centroidCount { for t in 0..<nq { centroidScores[c * nq + t] = (0..<dim).reduce(Float(0)) { $0 + query[t * dim + $1] * centroids[c * dim + $1] } } }
                var queryT = [Float](repeating: 0, count: dim * nq)
                for t in 0..<nq { for j in 0..<dim { queryT[j * nq + t] = query[t * dim + j] } }
                var scratch = [Float](repeating: 0, count: 21 * nq)
                var lookup = [Int16](repeating: 0, count: plaid_residual_lookup_count(dim, Int32(nbits), nq))
                var units = [Float](repeating: 0, count: nq)
                plaid_residual_lookup_build(queryT, nq, dim, Int32(nbits), codec.weights, &lookup, &units, &scratch)
                let (together, alone): ([Float], [Float]) = packed.withUnsafeBufferPointer { p in
                    codes.withUnsafeBytes { c in
                        let documents = lengths.indices.map { i in
                            plaid_lookup_document(codes: c.baseAddress! + 2 * starts[i], residuals: p.baseAddress! + starts[i] * codec.bytesPerVector,
                                                  tokens: lengths[i], codeWidth: 2)
                        }
                        var together = [Float](repeating: .nan, count: documents.count)
                        plaid_maxsim_from_lookup(centroidScores, lookup, units, nq, dim, Int32(nbits), documents, documents.count, &together, &scratch)
                        let alone = documents.map { document -> Float in
                            var score: Float = .nan
                            plaid_maxsim_from_lookup(centroidScores, lookup, units, nq, dim, Int32(nbits), [document], 1, &score, &scratch)
                            return score
                        }
                        return (together, alone)
                    }
                }
                let context = "dim \(dim), \(nbits) bits, \(nq) query tokens"
                XCTAssertEqual(together, alone, "\(context): the documents scored together and one by one")
                // Each token's q·r is within dim·nbits/8 units of its own (half a unit per
                // group, at most two groups per byte); the float sums themselves add a little.
                let tableBound = units.reduce(0) { $0 + $1 * Float(dim * nbits / 8) }
                for i in lengths.indices {
                    XCTAssertEqual(together[i], expected[i], accuracy: tableBound + 1e-4 * abs(expected[i]), "\(context), document \(i)")
                }
                // The bound is a real constraint: a table off by one unit everywhere misses it.
                // (Not at dimension 384, where this test's unnormalised queries at 4 bits make the
                // bound as large as the scores themselves.)
                if dim <= 104 { XCTAssertLessThan(tableBound, 0.05 * abs(expected[3]), "\(context): the table's rounding is small") }
            }
        }
    }

    func testExhaustiveSearchIsExactMaxSim() throws {
        let (corpus, embeddings) = try smallCorpus(documents: 50, in: directory)
        let queries = corpus.queries(count: 3, tokens: 8)
        let results = try ExhaustiveSearcher(documents: embeddings).search(queries: queries, k: 50)
        let dim = embeddings.dim
        for q in 0..<3 {
            for result in results[q].prefix(5) {
                let d = result.document
                var vectors = [Float](repeating: 0, count: embeddings.lengths[d] * dim)
                try vectors.withUnsafeMutableBufferPointer { try embeddings.copyTokens(start: embeddings.offsets[d], count: embeddings.lengths[d], into: $0.baseAddress!) }
                var expected: Float = 0
                for t in 0..<8 {
                    var best = -Float.infinity
                    for u in 0..<embeddings.lengths[d] {
                        var dot: Float = 0
                        for j in 0..<dim { dot += queries.values[(q * 8 + t) * dim + j] * vectors[u * dim + j] }
                        best = max(best, dot)
                    }
                    expected += best
                }
                XCTAssertEqual(result.score, expected, accuracy: 1e-3)
            }
        }
    }

    func testTopKBreaksTiesByDocumentNumber() {
        var top = TopK(k: 3)
        for (s, d) in [(1.0, 5), (2.0, 9), (1.0, 2), (1.0, 7), (0.5, 1)] { top.insert(score: Float(s), document: d) }
        XCTAssertEqual(top.sorted().map(\.document), [9, 2, 5])
    }
}
