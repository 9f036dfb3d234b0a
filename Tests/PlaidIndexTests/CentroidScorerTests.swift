import XCTest
import PlaidCore
import PlaidKernels
@testable import PlaidIndex

/// Stage 1's 16-bit products: every kernel this CPU runs gives the portable kernel's floats
/// exactly, within the error bound the header states of the float products.
final class CentroidScorerTests: XCTestCase {
    /// The 16-bit methods this CPU can run; the failure messages say which one failed.
    private var int16Methods: [CentroidScorer.Method] {
        var methods: [CentroidScorer.Method] = [.int16Portable]
        if CentroidScorer.hasAVX2 { methods.append(.int16AVX2) }
        // `.int16` is the VNNI kernel where the CPU has it, otherwise AVX2 again.
        if CentroidScorer.hasAVX2 { methods.append(.int16) }
        return methods
    }

    private func scores(_ scorer: CentroidScorer, _ query: [Float], tokens: Int, method: CentroidScorer.Method) -> [Float] {
        var out = [Float](repeating: .nan, count: scorer.count * tokens)
        query.withUnsafeBufferPointer { q in
            out.withUnsafeMutableBufferPointer { scorer.scores(queries: q.baseAddress!, tokens: tokens, into: $0.baseAddress!, method: method) }
        }
        return out
    }

    /// The bound of PlaidKernels.h for one centroid and one token, from the units the kernel
    /// chooses: s_c from the row's largest value and its L1 budget, s_t from the token's largest.
    private func bound(_ c: ArraySlice<Float>, _ q: ArraySlice<Float>) -> Double {
        let dim = Double(c.count)
        let cL1 = c.reduce(0.0) { $0 + Double(abs($1)) }, qL1 = q.reduce(0.0) { $0 + Double(abs($1)) }
        let sc = max(Double(c.map(abs).max()!) / 32767, cL1 * 1.0001 / (524288 - dim / 2))
        let st = Double(q.map(abs).max()!) / 4095
        return (sc * qL1 + st * cL1) / 2 + sc * st * dim / 4
    }

    func testEveryKernelEqualsThePortableOneWithinTheStatedBound() {
        // Shapes off the kernels' tiles: 12 centroids (VNNI), 2 (AVX2), 32 tokens, pairs of inputs.
        for (k, dim, tokens) in [(300, 101, 32), (13, 384, 5), (40, 64, 45), (1, 7, 1), (31, 128, 33)] {
            let centroids = randomUnitVectors(k, dim: dim, seed: UInt64(k * dim))
            var rng = SeededRandom(seed: UInt64(tokens))
            // Query tokens of unequal norms, one of them all zeros (a padding token).
            var query = (0..<tokens * dim).map { _ in rng.nextGaussian() * 0.3 }
            for j in 0..<dim { query[(tokens / 2) * dim + j] = 0 }
            let scorer = CentroidScorer(centroids: centroids, dim: dim)
            let portable = scores(scorer, query, tokens: tokens, method: .int16Portable)
            for method in int16Methods.dropFirst() {
                XCTAssertEqual(scores(scorer, query, tokens: tokens, method: method), portable, "\(method), k \(k), dim \(dim), \(tokens) tokens")
            }
            var worstShare = 0.0
            for c in 0..<k {
                for t in 0..<tokens {
                    let cRow = centroids[c * dim..<(c + 1) * dim], qRow = query[t * dim..<(t + 1) * dim]
                    let exact = zip(cRow, qRow).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
                    let error = abs(Double(portable[c * tokens + t]) - exact)
                    let allowed = bound(cRow, qRow) + 1e-6 * abs(exact) + 1e-9
                    XCTAssertLessThanOrEqual(error, allowed, "centroid \(c), token \(t), k \(k), dim \(dim)")
                    worstShare = max(worstShare, error / allowed)
                }
            }
            // The bound is not vacuous: the errors use a fair part of it somewhere.
            if k * tokens > 100 { XCTAssertGreaterThan(worstShare, 0.01, "k \(k), dim \(dim)") }
        }
    }

    /// The largest sums the units allow, every input of one sign and of the same size, at
    /// dimension 2048: the int32 sums must not wrap (a wrapped sum is off by 2^31 units), and the
    /// score is the float product's within the bound.
    func testSumsAtTheUnitsLimitDoNotOverflow() {
        let dim = 2048
        let centroid = [Float](repeating: 1 / Float(dim).squareRoot(), count: dim)
        let query = centroid, negated = centroid.map { -$0 }
        let scorer = CentroidScorer(centroids: centroid + negated, dim: dim)
        let allowed = bound(centroid[...], query[...]) + 1e-6
        for method in int16Methods {
            let s = scores(scorer, query + negated, tokens: 2, method: method)
            for (i, expected) in [Float(1), -1, -1, 1].enumerated() {
                XCTAssertEqual(Double(s[i]), Double(expected), accuracy: allowed, "\(method), score \(i)")
            }
        }
    }

    /// A batch of queries (the VNNI kernel reads each centroid tile once for all of them) gives
    /// each query exactly the scores it gets alone, with every method.
    func testABatchEqualsEachQueryAlone() {
        let dim = 101, k = 37, tokens = 33, count = 3
        let scorer = CentroidScorer(centroids: randomUnitVectors(k, dim: dim, seed: 8), dim: dim)
        let batch = randomUnitVectors(count * tokens, dim: dim, seed: 9)
        for method in int16Methods + [.float32] {
            var together = [Float](repeating: .nan, count: count * k * tokens)
            batch.withUnsafeBufferPointer { q in
                together.withUnsafeMutableBufferPointer {
                    scorer.scores(queries: q.baseAddress!, count: count, tokens: tokens, into: $0.baseAddress!, method: method)
                }
            }
            for b in 0..<count {
                let alone = scores(scorer, Array(batch[b * tokens * dim..<(b + 1) * tokens * dim]), tokens: tokens, method: method)
                XCTAssertEqual(Array(together[b * k * tokens..<(b + 1) * k * tokens]), alone, "\(method), query \(b)")
            }
        }
    }

    func testFloatAndInt16MethodsAgree() {
        let dim = 96, k = 50, tokens = 32
        let centroids = randomUnitVectors(k, dim: dim, seed: 5)
        let query = randomUnitVectors(tokens, dim: dim, seed: 6)
        let scorer = CentroidScorer(centroids: centroids, dim: dim)
        let float = scores(scorer, query, tokens: tokens, method: .float32)
        let int16 = scores(scorer, query, tokens: tokens, method: .automatic)
        for i in 0..<float.count { XCTAssertEqual(int16[i], float[i], accuracy: 2e-3) }
    }

    /// Scoring chosen centroids (grouped stage 1) gives, row for row, the floats scoring all of
    /// them gives, with every 16-bit method; ids may repeat and come in any order.
    func testScoringChosenCentroidsEqualsTheirRowsOfAllScores() {
        let dim = 72, k = 61, tokens = 32
        let scorer = CentroidScorer(centroids: randomUnitVectors(k, dim: dim, seed: 21), dim: dim)
        let query = randomUnitVectors(tokens, dim: dim, seed: 22)
        var rng = SeededRandom(seed: 23)
        let ids = (0..<29).map { _ in Int32(rng.next() % UInt64(k)) } + [0, Int32(k - 1)]
        for method in int16Methods {
            let all = scores(scorer, query, tokens: tokens, method: method)
            var chosen = [Float](repeating: .nan, count: ids.count * tokens)
            query.withUnsafeBufferPointer { q in
                chosen.withUnsafeMutableBufferPointer { scorer.scores(query: q.baseAddress!, tokens: tokens, of: ids, into: $0.baseAddress!, method: method) }
            }
            for (r, id) in ids.enumerated() {
                XCTAssertEqual(Array(chosen[r * tokens..<(r + 1) * tokens]), Array(all[Int(id) * tokens..<(Int(id) + 1) * tokens]), "\(method), centroid \(id)")
            }
        }
    }

    /// One token against runs of centroids (grouped stage 1's dot products, one kernel per CPU
    /// level) gives, pair for pair, the floats of the tile kernels over all centroids; dimension
    /// 72 leaves a partial vector of pairs.
    func testTokenScoresEqualTheirEntriesOfAllScores() {
        let dim = 72, k = 61, tokens = 5
        let scorer = CentroidScorer(centroids: randomUnitVectors(k, dim: dim, seed: 31), dim: dim)
        let query = randomUnitVectors(tokens, dim: dim, seed: 32)
        let ranges = [3..<9, 20..<21, 40..<61, 0..<0]
        let ids = ranges.flatMap { Array($0) }
        for method in int16Methods {
            let all = scores(scorer, query, tokens: tokens, method: method)
            for t in 0..<tokens {
                var own = [Float](repeating: .nan, count: ids.count)
                query.withUnsafeBufferPointer { scorer.scores(token: $0.baseAddress! + t * dim, ranges: ranges, into: &own, method: method) }
                XCTAssertEqual(own, ids.map { all[$0 * tokens + t] }, "\(method), token \(t)")
            }
        }
    }

    /// Stage 1's screen by 8-bit rows gives, for the centroids it scores, the 16-bit floats
    /// exactly, and every centroid it leaves out scores below the threshold and either below the
    /// worst given or below `keep` others of the range: whatever the threshold, the worst and the
    /// keep, at every CPU level, on dimensions 128 and 97 (odd: a last pair half zero) and ranges
    /// whose length is off the kernel's four rows.
    func testScreenedScoresKeepEveryScoreThatCanMatter() {
        var rng = SeededRandom(seed: 77)
        for (dim, k) in [(128, 300), (97, 45)] {
            let scorer = CentroidScorer(centroids: randomUnitVectors(k, dim: dim, seed: 78), dim: dim)
            let query = randomUnitVectors(6, dim: dim, seed: 79)
            var left = 0, kept = 0
            for trial in 0..<60 {
                let t = trial % 6
                let lower = Int(rng.next() % UInt64(k / 2)), range = lower..<(lower + 1 + Int(rng.next() % UInt64(k - lower - 1)))
                var exact = [Float](repeating: .nan, count: range.count)
                query.withUnsafeBufferPointer { scorer.scores(token: $0.baseAddress! + t * dim, ranges: [range], into: &exact, method: .int16Portable) }
                // The threshold and the worst at scores of the range itself, where a bound off by
                // the least rounding leaves out a centroid that matters; the threshold at one of
                // the range's highest, as stage 1's is.
                let threshold = exact.sorted(by: >)[Int(rng.next() % UInt64(min(3, range.count)))], keep = Int(rng.next() % 4)
                let worst: Float = trial % 3 == 0 ? -.infinity : exact[Int(rng.next() % UInt64(range.count))]
                var outputs: [[Float]] = []
                for method in int16Methods {
                    var offsets = [Int32](repeating: -1, count: range.count), scores = [Float](repeating: .nan, count: range.count)
                    var scratch = [Float](repeating: .nan, count: 2 * range.count + keep)
                    let n = query.withUnsafeBufferPointer {
                        scorer.screenedScores(token: $0.baseAddress! + t * dim, range: range, threshold: threshold, worst: worst, keep: keep,
                                              offsets: &offsets, scores: &scores, scratch: &scratch, method: method)
                    }
                    let chosen = Array(offsets.prefix(n).map(Int.init))
                    XCTAssertEqual(chosen, chosen.sorted(), "\(method): increasing offsets")
                    XCTAssertEqual(Array(scores.prefix(n)), chosen.map { exact[$0] }, "\(method): the 16-bit floats, trial \(trial)")
                    for j in Set(0..<range.count).subtracting(chosen) {
                        XCTAssertLessThan(exact[j], threshold, "\(method): a centroid left out reaches the threshold, trial \(trial)")
                        let better = exact.filter { $0 > exact[j] }.count
                        XCTAssertTrue(exact[j] < worst || better >= keep, "\(method): a centroid left out could be among the best \(keep), trial \(trial)")
                    }
                    outputs.append(Array(scores.prefix(n)) + chosen.map(Float.init))
                    left += range.count - n
                    kept += n
                }
                XCTAssertEqual(Set(outputs.map { $0.map(\.bitPattern) }).count, 1, "every level screens alike, trial \(trial)")
            }
            XCTAssertGreaterThan(left, kept, "the screen leaves most centroids out at dimension \(dim)")
        }
    }
}
