import XCTest
import PlaidCore
@testable import PlaidIndex

/// The budgets from the scores (AdaptiveRescoring.swift) and the probe margin.
final class AdaptiveRescoringTests: XCTestCase {
    private var directory = ""
    override func setUp() { directory = temporaryDirectory() }
    override func tearDown() { try? FileManager.default.removeItem(atPath: directory) }

    func testTheErrorMarginIsTheMeanPlusTheExpectedLargestDeviation() {
        var estimate = Searcher.ErrorEstimate()
        XCTAssertEqual(estimate.margin(over: 100), .infinity, "nothing known: everything may enter")
        for error in [1.0, 2.0, 3.0, 4.0] { estimate.add(error) }
        // mean 2.5, population deviation √1.25, √(2 ln 100)
        XCTAssertEqual(estimate.margin(over: 100), 2.5 + 1.25.squareRoot() * (2 * log(100.0)).squareRoot(), accuracy: 1e-9)
        XCTAssertEqual(estimate.margin(over: 0), estimate.margin(over: 2), "fewer than two documents left count as two")
        XCTAssertGreaterThan(estimate.margin(over: 10_000), estimate.margin(over: 100))
    }

    func testTheQueueTakesBestFirst() {
        var queue = Searcher.ApproximateQueue(Ranking(scores: [7, 5, 8, 7, 9], documents: [2, 8, 6, 1, 4]))
        XCTAssertEqual(queue.take(1).map(\.document), [4])
        XCTAssertEqual(queue.count, 4)
        XCTAssertEqual(queue.take(while: { $0.score >= 7 }).map(\.document), [6, 1, 2])
        XCTAssertEqual(queue.take(while: { $0.score >= 7 }).map(\.document), [])
        XCTAssertEqual(queue.take(1).map(\.document), [8])
        XCTAssertEqual(queue.count, 0)
    }

    /// With every centroid probed and a first cut of k, PLAID's fixed budgets score only the k
    /// best by the centroid interaction, and on this small codebook (64 centroids, large
    /// residuals) they miss much of the codec bound's top ten: the exact MaxSim of every decoded
    /// document. The budgets from the scores move the cuts until they find it.
    func testBudgetsFromTheScoresFindTheCodecBoundsTopTen() throws {
        let (corpus, embeddings) = try smallCorpus(documents: 1200, tokens: 20...40, dim: 32, seed: 4, in: directory)
        let path = (directory as NSString).appendingPathComponent("index")
        _ = try IndexBuilder.build(from: embeddings, at: path, parameters: BuildParameters(nbits: 2, kmeans: KMeansParameters(centroids: 64)))
        let index = try CompressedIndex(path: path)
        let searcher = Searcher(index: index)
        let queries = corpus.queries(count: 20, tokens: 12)
        var bound = SearchParameters(k: 10, ncells: 64, centroidScoreThreshold: -100, ndocs: 4 * index.documentCount)
        bound.budgetsFromScores = false
        var fixed = SearchParameters(k: 10, ncells: 64, centroidScoreThreshold: 0.3, ndocs: 10)
        fixed.budgetsFromScores = false
        var fromScores = fixed
        fromScores.budgetsFromScores = true
        let reference = searcher.search(queries: queries, parameters: bound, threads: 1)
        func kept(_ parameters: SearchParameters) -> Double {
            shareKept(searcher.search(queries: queries, parameters: parameters, threads: 1), of: reference)
        }
        let fixedKept = kept(fixed), adaptiveKept = kept(fromScores)
        print("codec bound's top-10 kept: fixed budgets \(fixedKept), budgets from the scores \(adaptiveKept)")
        XCTAssertLessThan(fixedKept, 0.9)
        XCTAssertGreaterThanOrEqual(adaptiveKept, 0.97)
        // The results are the exact scores of the documents found, as the bound's are.
        let results = searcher.search(queries: queries, parameters: fromScores, threads: 1)
        for (r, b) in zip(results, reference) where Set(r.map(\.document)) == Set(b.map(\.document)) {
            XCTAssertEqual(r, b)
        }
    }

    /// Each token probes its `ncells` best centroids and those within the margin of its best,
    /// at most 4 · ncells, as a sort of every centroid's score says.
    func testTheProbeMarginAddsTheCentroidsWithinItOfEachTokensBest() throws {
        let (corpus, embeddings) = try smallCorpus(documents: 300, dim: 32, seed: 9, in: directory)
        let path = (directory as NSString).appendingPathComponent("index")
        _ = try IndexBuilder.build(from: embeddings, at: path, parameters: BuildParameters(nbits: 2, kmeans: KMeansParameters(centroids: 64)))
        let searcher = Searcher(index: try CompressedIndex(path: path))
        let queries = corpus.queries(count: 3, tokens: 8)
        let scores = queries.values.withUnsafeBufferPointer { searcher.centroidScores(queries: $0.baseAddress!, count: 3, tokens: 8) }
        var widened = 0
        for (q, score) in scores.enumerated() {
            let tokens = score.activeTokens.map(Int32.init)
            for (ncells, margin) in [(1, Float(0)), (1, Float(0.05)), (2, Float(0.1)), (3, Float(2))] {
                let probed = searcher.probedCentroids(score, tokens: tokens, ncells: ncells, margin: margin)
                var expected: [Int32] = []
                for t in score.activeTokens {
                    let ranked = score.withValues { values in
                        (0..<64).map { c in (score: values[c * score.tokens + t], centroid: Int32(c)) }
                    }.sorted { $0.score > $1.score || ($0.score == $1.score && $0.centroid < $1.centroid) }
                    let width = margin > 0 ? 4 * ncells : ncells
                    let chosen = ranked.prefix(width).enumerated().filter { $0.offset < ncells || $0.element.score >= ranked[0].score - margin }
                    expected += chosen.map(\.element.centroid)
                }
                XCTAssertEqual(probed, expected, "query \(q), ncells \(ncells), margin \(margin)")
                if probed.count > ncells * tokens.count { widened += 1 }
            }
        }
        XCTAssertGreaterThan(widened, 0, "some margin widened some token's probes")
    }
}
