import Foundation
import PlaidCore
@testable import PlaidEvaluation
import XCTest

/// Parity with pytrec_eval (the trec_eval C code) and BEIR's MRR on the fixtures that
/// scripts/fixtures/make_metric_fixtures.py makes.
final class MetricParityTests: XCTestCase {
    struct Expected: Decodable {
        let cutoffs: [Int]
        let per_query: [String: [String: Double]]
        let mean: [String: Double]
        let judged_queries_missing_from_run: [String]
        let beir_mrr_mean_over_all_judged_queries: [String: Double]
        let judged_query_count: Int
    }

    static let fixtures = Bundle.module.url(forResource: "Fixtures", withExtension: nil)!

    func loadFixtures() throws -> (Run, Qrels, Expected) {
        let run = try Run.readTREC(path: Self.fixtures.appendingPathComponent("run.trec").path)
        let qrels = try Qrels.load(path: Self.fixtures.appendingPathComponent("qrels.tsv").path)
        let data = try Data(contentsOf: Self.fixtures.appendingPathComponent("expected_metrics.json"))
        return (run, qrels, try JSONDecoder().decode(Expected.self, from: data))
    }

    func testEveryQueryAndMeasureAgreesWithPytrecEval() throws {
        let (run, qrels, expected) = try loadFixtures()
        // pytrec_eval leaves judged queries that the run lacks out of its output.
        let result = Metrics.evaluate(run: run, qrels: qrels, cutoffs: expected.cutoffs,
                                      options: EvaluationOptions(countMissingQueriesAsZero: false))
        XCTAssertEqual(Set(result.perQuery.keys), Set(expected.per_query.keys))
        var worst = 0.0, compared = 0
        for (query, values) in expected.per_query {
            let ours = try XCTUnwrap(result.perQuery[query], query)
            XCTAssertEqual(Set(ours.keys.map(\.description)), Set(values.keys), query)
            for (key, value) in ours {
                let reference = try XCTUnwrap(values[key.description])
                worst = max(worst, abs(value - reference))
                compared += 1
                XCTAssertEqual(value, reference, accuracy: 1e-6, "\(query) \(key)")
            }
        }
        for (key, value) in result.mean {
            let reference = try XCTUnwrap(expected.mean[key.description])
            worst = max(worst, abs(value - reference))
            XCTAssertEqual(value, reference, accuracy: 1e-6, "mean \(key)")
        }
        XCTAssertEqual(compared, 29 * 25)
        print("pytrec_eval parity: \(compared) per-query values and \(result.mean.count) means, largest difference \(worst)")
    }

    func testDefaultOptionsGiveBEIRsMRRMeanOverAllJudgedQueries() throws {
        let (run, qrels, expected) = try loadFixtures()
        let result = Metrics.evaluate(run: run, qrels: qrels, cutoffs: expected.cutoffs)
        XCTAssertEqual(result.queriesMissingFromRun, expected.judged_queries_missing_from_run)
        XCTAssertEqual(result.unjudgedRunQueries, ["q99"])
        XCTAssertEqual(result.queriesWithoutRelevant, ["q05", "q06"])
        XCTAssertEqual(result.perQuery.count, expected.judged_query_count)
        for k in expected.cutoffs {
            let reference = try XCTUnwrap(expected.beir_mrr_mean_over_all_judged_queries["MRR@\(k)"])
            XCTAssertEqual(result.mean(.mrr, at: k), reference, accuracy: 1e-9, "MRR@\(k)")
            XCTAssertEqual(result.perQuery["q09"]?[MetricKey(.ndcg, k)], 0)
        }
    }

    func testTiesAreBrokenByDocumentIDDescending() {
        // trec_eval: among equal scores "c" ranks before "b" before "a" (pytrec_eval gives recip_rank 0.25 here).
        let run = Run(["q": ["a": 1, "b": 1, "c": 1, "d": 2]])
        let qrels = Qrels(["q": ["a": 1, "b": 0]])
        let result = Metrics.evaluate(run: run, qrels: qrels, cutoffs: [3, 4])
        XCTAssertEqual(result.mean(.mrr, at: 3), 0)
        XCTAssertEqual(result.mean(.mrr, at: 4), 0.25)
        XCTAssertEqual(run.ranking(query: "q").map(\.id), ["d", "c", "b", "a"])
        // Byte order, not case-insensitive order: "d1" (0x64) ranks before "D7" (0x44).
        XCTAssertEqual(Run(["q": ["D7": 1, "d1": 1]]).ranking(query: "q").map(\.id), ["d1", "D7"])
    }

    func testTopShareCountsTheReferencesTopDocumentsKept() {
        let reference = Run(["q1": ["a": 3, "b": 2, "c": 1], "q2": ["x": 1], "q3": [:]])
        // q1 keeps a and b of the reference's top 2 → 1; q2 keeps nothing → 0; q3 has no reference ranking.
        let run = Run(["q1": ["b": 5, "a": 4, "c": 3], "q2": ["y": 1]])
        XCTAssertEqual(run.topShare(of: reference, depth: 2), 0.5)
        // Top 1 of q1: "a" against "b" → 0.
        XCTAssertEqual(run.topShare(of: reference, depth: 1), 0)
        // A query missing from the run counts 0; an empty reference gives nil.
        XCTAssertEqual(Run(["q1": ["a": 1, "b": 1]]).topShare(of: reference, depth: 2), 0.5)
        XCTAssertNil(run.topShare(of: Run()))
    }

    func testIdenticalIDsAreDroppedUnlessAsked() {
        let run = Run(["q1": ["q1": 9, "d": 1]])
        let qrels = Qrels(["q1": ["q1": 1, "d": 1]])
        XCTAssertEqual(Metrics.evaluate(run: run, qrels: qrels, cutoffs: [1]).mean(.precision, at: 1), 1)
        let kept = Metrics.evaluate(run: run, qrels: qrels, cutoffs: [2],
                                    options: EvaluationOptions(dropIdenticalIDs: false))
        XCTAssertEqual(kept.mean(.recall, at: 2), 1)
        XCTAssertEqual(Metrics.evaluate(run: run, qrels: qrels, cutoffs: [2]).mean(.recall, at: 2), 0.5)
    }

    func testQueriesWithoutRelevantDocumentsCountAsZeroUnlessSkipped() {
        let run = Run(["q1": ["d": 1], "q2": ["d": 1]])
        let qrels = Qrels(["q1": ["d": 2], "q2": ["d": 0]])
        XCTAssertEqual(Metrics.evaluate(run: run, qrels: qrels, cutoffs: [10]).mean(.ndcg, at: 10), 0.5)
        let skipping = Metrics.evaluate(run: run, qrels: qrels, cutoffs: [10],
                                        options: EvaluationOptions(skipQueriesWithoutRelevant: true))
        XCTAssertEqual(skipping.mean(.ndcg, at: 10), 1)
        XCTAssertEqual(skipping.perQuery.count, 1)
    }

    func testGradedNDCGByHand() {
        // Ranking: rel 1, rel 0, rel 3; ideal: 3, 2, 1.
        let run = Run(["q": ["a": 3, "b": 2, "c": 1]])
        let qrels = Qrels(["q": ["a": 1, "b": 0, "c": 3, "e": 2]])
        let dcg = 1.0 + 3 / log2(4.0)
        let idcg = 3.0 + 2 / log2(3.0) + 1 / log2(4.0)
        let result = Metrics.evaluate(run: run, qrels: qrels, cutoffs: [3, 5])
        XCTAssertEqual(result.mean(.ndcg, at: 3), dcg / idcg, accuracy: 1e-12)
        XCTAssertEqual(result.mean(.map, at: 3), (1.0 + 2.0 / 3) / 3, accuracy: 1e-12)
        XCTAssertEqual(result.mean(.precision, at: 5), 2.0 / 5, accuracy: 1e-12)
        XCTAssertEqual(result.mean(.recall, at: 3), 2.0 / 3, accuracy: 1e-12)
    }
}
