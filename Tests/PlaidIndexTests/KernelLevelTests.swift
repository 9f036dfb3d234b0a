import XCTest
import PlaidCore
import PlaidKernels
@testable import PlaidIndex

/// The search kernels run at every CPU level this machine can (x86-64 baseline, v3 with AVX2,
/// v4 with AVX-512) and give the same results at each: every index build, search and kernel
/// below is repeated per level and compared with the baseline exactly.
final class KernelLevelTests: XCTestCase {
    private var directory = ""
    override func setUp() { directory = temporaryDirectory() }
    override func tearDown() {
        plaid_set_kernel_level(0)
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// The levels this CPU runs, baseline first; the failure messages name the level.
    private var levels: [Int32] { [1, 3, 4].filter { $0 <= plaid_cpu_kernel_level() } }

    private func atEachLevel<T>(_ body: () throws -> T) rethrows -> [(level: Int32, result: T)] {
        defer { plaid_set_kernel_level(0) }
        return try levels.map { level in
            XCTAssertEqual(plaid_set_kernel_level(level), level)
            return (level, try body())
        }
    }

    /// The batch interaction's names for the rows of `rowOf` (rows in centroid order): a bit per
    /// centroid with a row, and the bits set before each 64-bit word.
    private func rankedRows(_ rowOf: [UInt32]) -> (hasRow: [UInt64], rowsBefore: [UInt32]) {
        var hasRow = [UInt64](repeating: 0, count: (rowOf.count + 63) / 64)
        for (c, row) in rowOf.enumerated() where row != 0 { hasRow[c >> 6] |= 1 << UInt64(c & 63) }
        return (hasRow, hasRow.indices.map { w in UInt32(hasRow[..<w].reduce(0) { $0 + $1.nonzeroBitCount }) })
    }

    func testTheLevelCanBeLoweredAndRestored() {
        let best = plaid_cpu_kernel_level()
        print("CPU kernel level: \(best); levels tested: \(levels)")
        XCTAssertTrue([1, 3, 4].contains(best))
        XCTAssertEqual(plaid_set_kernel_level(1), 1)
        XCTAssertEqual(plaid_kernel_level(), 1)
        XCTAssertEqual(plaid_set_kernel_level(2), -1, "there is no level 2")
        if best < 4 { XCTAssertEqual(plaid_set_kernel_level(4), -1, "a level above the CPU's is refused") }
        XCTAssertEqual(plaid_set_kernel_level(0), best)
    }

    /// A whole staged search (stages 1–4 on a 2-bit index of dimension 104, whose residual rows
    /// end past the kernels' blocks) and the decompressing exact path give the same documents
    /// and scores at every level.
    /// Every float16 bit pattern converts at each level to the float Swift's conversion gives
    /// (NaNs to a quiet NaN of the same sign and payload), from an odd address too.
    func testFloat16ConversionIsExactAtEveryLevel() {
        let patterns = (0...UInt16.max).map { $0 }
        var bytes = [UInt8](repeating: 0, count: 1 + 2 * patterns.count)
        for (i, h) in patterns.enumerated() { bytes[1 + 2 * i] = UInt8(h & 0xFF); bytes[2 + 2 * i] = UInt8(h >> 8) }
        let expected = patterns.map { h -> UInt32 in
            let bits = Float(Float16(bitPattern: h)).bitPattern
            return Float16(bitPattern: h).isNaN ? bits | 0x40_0000 : bits
        }
        for (level, converted) in atEachLevel({ () -> [UInt32] in
            var out = [Float](repeating: 0, count: patterns.count)
            bytes.withUnsafeBytes { plaid_float16_to_float32($0.baseAddress! + 1, &out, patterns.count) }
            return out.map(\.bitPattern)
        }) {
            let wrong = zip(patterns, zip(converted, expected)).filter { $1.0 != $1.1 }
            XCTAssertTrue(wrong.isEmpty, "level \(level): \(wrong.count) patterns differ, first \(wrong.first.map { String($0.0, radix: 16) } ?? "")")
        }
    }

    func testSearchIsTheSameAtEveryLevel() throws {
        let (corpus, embeddings) = try smallCorpus(documents: 300, tokens: 20...70, dim: 104, seed: 21, in: directory)
        let path = (directory as NSString).appendingPathComponent("index")
        _ = try IndexBuilder.build(from: embeddings, at: path, parameters: BuildParameters(nbits: 2, kmeans: KMeansParameters(centroids: 64)))
        let index = try CompressedIndex(path: path)
        let queries32 = corpus.queries(count: 8, tokens: 32), queries9 = corpus.queries(count: 8, tokens: 9)
        // Every 7th document, scored through the decompressing exact path (stage 4 alone).
        let ordinals = Array(stride(from: 0, to: index.ordinalCount, by: 7))
        var allowed = [UInt64](repeating: 0, count: (index.ordinalCount + 63) / 64)
        for o in ordinals { allowed[o >> 6] |= 1 << UInt64(o & 63) }
        let filter = DocumentFilter(allowed: allowed, count: ordinals.count, tokens: ordinals.count * 70, ordinals: ordinals)
        let runs = atEachLevel { () -> [[[SearchResult]]] in
            let searcher = Searcher(index: index)
            return [searcher.search(queries: queries32, parameters: SearchParameters(k: 10), threads: 1),
                    searcher.search(queries: queries9, parameters: SearchParameters(k: 20, ncells: 2, centroidScoreThreshold: 0.3, ndocs: 64), threads: 1),
                    searcher.search(queries: queries32, parameters: SearchParameters(k: 5), filter: filter, threads: 1)]
        }
        XCTAssertFalse(runs[0].result[0][0].isEmpty)
        for run in runs.dropFirst() {
            XCTAssertEqual(run.result, runs[0].result, "level \(run.level) against the baseline")
        }
    }

    /// The kernels one by one, on inputs whose sizes are off every vector width.
    func testEachKernelIsTheSameAtEveryLevel() {
        var rng = SeededRandom(seed: 33)
        let k = 75, nq = 32, dim = 104, nbits = 2, docTokens = 150
        let scores = (0..<k * nq).map { _ in rng.nextGaussian() * 0.3 }
        let tokens = (0..<nq).filter { $0 % 5 != 3 }.map(Int32.init)
        let queryT = (0..<dim * nq).map { _ in rng.nextGaussian() * 0.1 }
        let weights: [Float] = [-0.07, -0.02, 0.025, 0.065]
        let codes = (0..<docTokens).map { _ in UInt16(rng.next() % UInt64(k)) }
        let packed = (0..<docTokens * dim * nbits / 8).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        let centroids = (0..<k * dim).map { _ in rng.nextGaussian() }
        let byteLookup = (0..<256 * 4).map { _ in rng.nextGaussian() * 0.05 }
        let runs = atEachLevel { () -> [[Float]] in
            var top = [Int32](repeating: 0, count: tokens.count * 3), heap = [Float](repeating: 0, count: tokens.count * 3)
            plaid_top_centroids(scores, k, nq, tokens, tokens.count, 3, &top, &heap)
            var full = [Int16](repeating: 0, count: k * nq), kept = [Int16](repeating: 0, count: (k + 1) * nq)
            var rowOf = [UInt32](repeating: 0, count: k), keptCount = 0
            let unit = plaid_interaction_tables(scores, k, nq, tokens, tokens.count, 1.5, 0.3, &full, &rowOf, &kept, &keptCount)
            var lookup = [Int16](repeating: 0, count: plaid_residual_lookup_count(dim, Int32(nbits), nq))
            var units = [Float](repeating: 0, count: nq), scratch = [Float](repeating: 0, count: 21 * nq)
            plaid_residual_lookup_build(queryT, nq, dim, Int32(nbits), weights, &lookup, &units, &scratch)
            let interaction = packed.withUnsafeBufferPointer { p in
                codes.withUnsafeBytes { c -> [Float] in
                    // Two documents, the second starting mid-chunk.
                    let documents = [plaid_lookup_document(codes: c.baseAddress!, residuals: p.baseAddress!, tokens: 70, codeWidth: 2),
                                     plaid_lookup_document(codes: c.baseAddress! + 2 * 70, residuals: p.baseAddress! + 70 * dim * nbits / 8,
                                                           tokens: docTokens - 70, codeWidth: 2)]
                    var maxSims = [Float](repeating: 0, count: 2)
                    plaid_maxsim_from_lookup(scores, lookup, units, nq, dim, Int32(nbits), documents, 2, &maxSims, &scratch)
                    var batch = [Float](repeating: 0, count: 2)
                    plaid_centroid_interactions16(kept, rowOf, nil, nil, nq, documents, 2, 32, unit, &batch)
                    let single = documents.map { plaid_centroid_interaction16(kept, rowOf, nq, $0.codes, 2, $0.tokens, unit) }
                    XCTAssertEqual(batch, single, "the batch scores each document as the one-document kernel does")
                    var nearBatch = [Float](repeating: 0, count: 2)
                    plaid_centroid_interactions16(kept, rowOf, nil, nil, nq, documents, 2, 0, unit, &nearBatch)
                    XCTAssertEqual(nearBatch, single, "with no far prefetch too")
                    // The kept rows are in centroid order, so the bitmap and the counts before each
                    // word name them too (rowOf not read).
                    let (hasRow, rowsBefore) = rankedRows(rowOf)
                    var bitsBatch = [Float](repeating: 0, count: 2)
                    plaid_centroid_interactions16(kept, nil, hasRow, rowsBefore, nq, documents, 2, 32, unit, &bitsBatch)
                    XCTAssertEqual(bitsBatch, single, "with the bitmap of the centroids that have a row")
                    let wide = codes.map(UInt32.init)
                    let wideBatch = wide.withUnsafeBytes { w -> [Float] in
                        let wideDocuments = documents.enumerated().map { i, d in
                            plaid_lookup_document(codes: w.baseAddress! + 4 * 70 * i, residuals: d.residuals, tokens: d.tokens, codeWidth: 4)
                        }
                        var scores = [Float](repeating: 0, count: 2)
                        plaid_centroid_interactions16(kept, nil, hasRow, rowsBefore, nq, wideDocuments, 2, 0, unit, &scores)
                        return scores
                    }
                    XCTAssertEqual(wideBatch, single, "with 4-byte codes")
                    return [plaid_centroid_interaction16(full, nil, nq, c.baseAddress!, 2, docTokens, unit),
                            plaid_centroid_interaction16(kept, rowOf, nq, c.baseAddress!, 2, docTokens, unit)] + maxSims + batch
                }
            }
            var decoded = [Float](repeating: 0, count: 40 * dim)
            codes.withUnsafeBytes { c in plaid_decompress(packed, c.baseAddress!, 2, 40, centroids, dim, Int32(nbits), byteLookup, &decoded) }
            var argmax = [Int32](repeating: 0, count: 40)
            plaid_argmax_rows(decoded, 40, dim, nil, &argmax)
            return [top.map(Float.init), heap, full.map(Float.init), kept.map(Float.init), rowOf.map(Float.init), [unit, Float(keptCount)],
                    lookup.map(Float.init), units, interaction, decoded, argmax.map(Float.init),
                    [plaid_maxsim_from_scores(scores, k, nq)]]
        }
        XCTAssertGreaterThan(runs[0].result[5][1], 0, "some centroids pass the threshold")
        XCTAssertLessThan(runs[0].result[5][1], Float(k), "some are pruned")
        for run in runs.dropFirst() {
            for (i, output) in run.result.enumerated() {
                XCTAssertEqual(output, runs[0].result[i], "level \(run.level), output \(i)")
            }
        }
        // A reduction that reassociates by design: equal up to rounding, not bit for bit.
        let norms = atEachLevel { plaid_squared_norm(queryT, queryT.count) }
        for run in norms { XCTAssertEqual(run.result, norms[0].result, accuracy: 1e-5 * norms[0].result, "level \(run.level)") }
    }

    /// The grouped stage 2's batch kernel, its rows named by a bitmap and the counts before each
    /// word, scores as the one-document kernel with a row number per centroid: on documents longer
    /// than the runs it gathers the codes with a row in, with codes whose rows lie in the first and
    /// last bits of their words, on one without tokens, and for 32 query tokens and for fewer.
    func testRankedRowsScoreAsRowNumbersAtEveryLevel() {
        var rng = SeededRandom(seed: 3535)
        let k = 1_000
        for nq in [32, 7] {
            // Every fourth word of the bitmap full, a bit now and then elsewhere (bits 0 and 63 included).
            var rowOf = [UInt32](repeating: 0, count: k), kept = 0
            for c in 0..<k where (c / 64) % 4 == 1 || c % 64 == 0 || c % 64 == 63 || rng.next() % 9 == 0 {
                kept += 1
                rowOf[c] = UInt32(kept)
            }
            let table = (0..<(kept + 1) * nq).map { $0 < nq ? Int16.min : Int16(truncatingIfNeeded: Int(rng.next() % 60_001) - 30_000) }
            let (hasRow, rowsBefore) = rankedRows(rowOf)
            let lengths = [0, 1, 255, 256, 257, 700, 40]
            let codes = (0..<lengths.reduce(0, +)).map { _ in UInt32(rng.next() % UInt64(k)) }
            let narrow = codes.map { UInt16($0) }
            let single: [Float] = codes.withUnsafeBytes { c in
                var start = 0
                return lengths.map { length in
                    defer { start += length }
                    return plaid_centroid_interaction16(table, rowOf, nq, c.baseAddress! + 4 * start, 4, length, 0.5)
                }
            }
            let runs = atEachLevel { () -> [[Float]] in
                [4, 2].map { width in
                    let bytes = width == 4 ? codes.withUnsafeBytes { Array($0) } : narrow.withUnsafeBytes { Array($0) }
                    return bytes.withUnsafeBytes { c in
                        var start = 0
                        let documents = lengths.map { length in
                            defer { start += length }
                            return plaid_lookup_document(codes: c.baseAddress! + width * start, residuals: nil, tokens: length, codeWidth: Int32(width))
                        }
                        var scores = [Float](repeating: -1, count: documents.count)
                        plaid_centroid_interactions16(table, nil, hasRow, rowsBefore, nq, documents, documents.count, 0, 0.5, &scores)
                        return scores
                    }
                }
            }
            for run in runs {
                XCTAssertEqual(run.result[0], single, "4-byte codes, \(nq) tokens, level \(run.level)")
                XCTAssertEqual(run.result[1], single, "2-byte codes, \(nq) tokens, level \(run.level)")
            }
            XCTAssertEqual(single[0], 0, "a document without tokens scores 0")
        }
    }

    /// Residual coding in C gives the bytes of `ResidualCodec.encode` at every level and bit width,
    /// at a dimension that is not a multiple of its 256-dimension blocks.
    func testResidualCodingIsTheCodecsAtEveryLevel() {
        let dim = 264, count = 37
        let centroids = randomUnitVectors(5, dim: dim, seed: 3)
        let vectors = randomUnitVectors(count, dim: dim, seed: 4)
        let codes = (0..<count).map { Int32($0 % 5) }
        let residuals = (0..<count).flatMap { t in (0..<dim).map { vectors[t * dim + $0] - centroids[Int(codes[t]) * dim + $0] } }
        for nbits in ResidualCodec.supportedBits {
            let codec = ResidualCodec.train(residuals: residuals, dim: dim, nbits: nbits)
            var expected = [UInt8](repeating: 0, count: count * codec.bytesPerVector)
            codec.encode(residuals: residuals, count: count, into: &expected)
            for (level, bytes) in atEachLevel({ () -> [UInt8] in
                var out = [UInt8](repeating: 0, count: count * codec.bytesPerVector)
                plaid_encode_residuals(vectors, codes, centroids, count, dim, codec.cutoffs, Int32(nbits), &out)
                return out
            }) {
                XCTAssertEqual(bytes, expected, "\(nbits) bits at level \(level)")
            }
        }
    }

    /// Lists of one- and two-byte gaps (which x86-64-v3 decodes eight bytes at a time), with
    /// zero gaps, a longer gap now and then, and ids running to documentCount and past it at
    /// every offset: each list ends at its first id past its segment's documents, as a plain
    /// reading of its contract says, at every level. A second segment's ordinals follow the
    /// first's, so that an id read past the end would be credited to one of them.
    func testCreditedListsOfShortGapsEndWhereTheirIdsDoAtEveryLevel() {
        var rng = SeededRandom(seed: 77)
        for trial in 0..<300 {
            var data: [UInt8] = [], ranges: [(start: Int, end: Int)] = [], documents: [[Int]] = []
            for _ in 0..<(1 + trial % 3) {
                let start = data.count
                var doc = 0, ids: [Int] = []
                for _ in 0..<Int(8 + rng.next() % 40) {
                    let roll = rng.next() % 20
                    var gap = roll == 0 ? 0 : roll == 1 ? 16_384 + Int(rng.next() % 50_000) : roll < 10 ? Int(rng.next() % 128) : 128 + Int(rng.next() % 16_256)
                    doc += gap
                    ids.append(doc)
                    while gap >= 0x80 { data.append(UInt8(gap & 0x7F) | 0x80); gap >>= 7 }
                    data.append(UInt8(gap))
                }
                ranges.append((start, data.count))
                documents.append(ids)
            }
            // The documents end at one of the ids (so that id is the first past them), or just after one.
            let all = documents.flatMap { $0 }
            let documentCount = max(1, all[Int(rng.next() % UInt64(all.count))] + Int(rng.next() % 2))
            var expected: [Int: Float] = [:]
            for (l, ids) in documents.enumerated() {
                var seen = Set<Int>()
                for id in ids {
                    if id >= documentCount { break }
                    if seen.insert(id).inserted { expected[id, default: 0] += Float(l + 1) }
                }
            }
            for (level, found) in atEachLevel({ () -> [Int: Float] in
                var candidates = [Int64](repeating: -1, count: data.count), credits = [Float](repeating: 0, count: data.count)
                let count = data.withUnsafeBufferPointer { bytes in
                    let lists = ranges.enumerated().map { l, range in
                        plaid_probed_list(data: bytes.baseAddress!, start: range.start, end: range.end, documentCount: documentCount,
                                          base: 0, deleted: nil, mark: Int32(l + 1), score: Float(l + 1))
                    }
                    return plaid_credit_lists(lists, lists.count, documentCount + 100_000, data.count, &candidates, &credits)
                }
                return Dictionary(uniqueKeysWithValues: (0..<max(count, 0)).map { (Int(candidates[$0]), credits[$0]) })
            }) {
                XCTAssertEqual(found, expected, "trial \(trial), documentCount \(documentCount), level \(level)")
            }
        }
    }
}
