import Foundation
import PlaidCore
import PlaidEvaluation
import PlaidIndex
import BenchmarkSupport

// The living index on a real collection's embeddings, end to end through the library:
//
//   swift run -c release --package-path Benchmarks living-index EMB QEMB QRELS [WORK]
//
// EMB is a document embeddings folder (`plaid encode --mode document`), QEMB a query embeddings
// folder (`plaid encode --mode query`), QRELS a BEIR qrels file. It measures, in one run:
//  1. quality: a one-shot build against "build on the first half, add the second half", with
//     and without codebook growth, then a seeded 10% deleted: PLAID nDCG@10 against exhaustive
//     MaxSim over the live documents, and that no deleted id is ever returned;
//  2. speed: add throughput, deleting 1,000 ids, compaction, and search at 20 segments against
//     the same index compacted to one.
// Search is at k = 100 with PLAID's defaults for that k, on all cores.

// Everything runs in this function, off the main actor: the searches call back on worker threads.
func main() throws {
    let run = try CollectionRun(tool: "living-index")
    let documents = run.documents, queries = run.queries, qrels = run.qrels
    func path(_ name: String) -> String { run.path(name) }
    let k = 100
    let options = EvaluationOptions(dropIdenticalIDs: true, countMissingQueriesAsZero: true, skipQueriesWithoutRelevant: true)
    func ndcg(_ results: [[SearchResult]]) -> Double {
        Metrics.evaluate(run: Run(results: results, queryIDs: queries.ids), qrels: qrels, cutoffs: [10], options: options).mean(.ndcg, at: 10)
    }
    func search(_ index: String) throws -> (results: [[SearchResult]], queriesPerSecond: Double) {
        let searcher = Searcher(index: try CompressedIndex(path: index))
        let (results, seconds) = timed { searcher.search(queries: queries, parameters: SearchParameters(k: k)) }
        return (results, Double(queries.count) / seconds)
    }
    /// Share of the exhaustive top-10 that a search keeps.
    func overlap(_ a: [[SearchResult]], _ exact: [[SearchResult]]) -> Double {
        var found = 0, total = 0
        for (x, y) in zip(a, exact) {
            let top = Set(y.prefix(10).map(\.id))
            found += top.intersection(x.prefix(10).map(\.id)).count
            total += top.count
        }
        return Double(found) / Double(max(1, total))
    }

    let half = documents.documentCount / 2
    let parameters = BuildParameters(nbits: 2)

    // 1. Quality.
    var table = ["| index | centroids | nDCG@10 PLAID | nDCG@10 exhaustive (live) | exact top-10 kept |", "|---|---|---|---|---|"]
    let (exactAll, _) = try timed { try ExhaustiveSearcher(documents: documents).search(queries: queries, k: k) }
    let exhaustiveAll = ndcg(exactAll)
    let (oneShot, oneShotSeconds) = try timed { try IndexBuilder.build(from: documents, at: path("one-shot"), parameters: parameters, overwrite: true) }
    let oneShotResults = try search(path("one-shot")).results
    func row(_ line: String) { table.append(line); print(line); fflush(nil) }
    print(table.joined(separator: "\n"))
    row(String(format: "| one-shot build (%.0f s) | %d | %.4f | %.4f | %.3f |", oneShotSeconds, oneShot.manifest.codebook.centroidCount,
                        ndcg(oneShotResults), exhaustiveAll, overlap(oneShotResults, exactAll)))
    for grow in [true, false] {
        let name = grow ? "half-add-grow" : "half-add-fixed"
        _ = try IndexBuilder.build(from: DocumentRange(documents, documents: 0..<half), at: path(name), parameters: parameters, overwrite: true)
        let writer = try IndexWriter(path: path(name))
        let (added, seconds) = try timed { try writer.add(DocumentRange(documents, documents: half..<documents.documentCount), growCodebook: grow) }
        try writer.commit()
        writer.close()
        let results = try search(path(name)).results
        let opened = try CompressedIndex(path: path(name))
        row(String(format: "| build on 50%%, add 50%% %@ (add %.1f s, %.0f tokens/s; %d outlier tokens) | %d | %.4f | %.4f | %.3f |",
                            grow ? "with growth" : "without growth", seconds, Double(added.tokens) / seconds, added.outlierTokens,
                            opened.codebook.centroidCount, ndcg(results), exhaustiveAll, overlap(results, exactAll)))
    }
    // Delete a seeded 10% from the grown index.
    var rng = SeededRandom(seed: 2026)
    let deleted = Set(rng.sample(documents.documentCount / 10, from: documents.documentCount))
    let deletedIDs = Set(deleted.map { documents.ids[$0] })
    let writer = try IndexWriter(path: path("half-add-grow"))
    writer.mergePolicy = AdjacentMergePolicy(compactionThreshold: nil)
    try writer.delete(ids: Array(deletedIDs))
    try writer.commit()
    writer.close()
    let afterDelete = try search(path("half-add-grow")).results
    let exactLive = try ExhaustiveSearcher(documents: documents).search(queries: queries, k: k, include: { !deleted.contains($0) })
    let returnedDeleted = afterDelete.joined().filter { deletedIDs.contains($0.id) }.count
    row(String(format: "| the grown index, %d documents (10%%) deleted | %d | %.4f | %.4f | %.3f |", deleted.count,
                        try CompressedIndex(path: path("half-add-grow")).codebook.centroidCount, ndcg(afterDelete), ndcg(exactLive), overlap(afterDelete, exactLive)))
    print("deleted ids returned by any query: \(returnedDeleted)")

    // 2. Speed: 20 segments (5% built, 19 × 5% added) against the same index compacted.
    let twentieth = (documents.documentCount + 19) / 20
    _ = try IndexBuilder.build(from: DocumentRange(documents, documents: 0..<twentieth), at: path("segments"), parameters: parameters, overwrite: true)
    let segmentWriter = try IndexWriter(path: path("segments"))
    var addSeconds = 0.0, addTokens = 0
    for part in 1..<20 {
        let range = (part * twentieth)..<min(documents.documentCount, (part + 1) * twentieth)
        let (added, seconds) = try timed { () throws -> AddSummary in
            let summary = try segmentWriter.add(DocumentRange(documents, documents: range), growCodebook: false)
            try segmentWriter.commit()
            return summary
        }
        addSeconds += seconds; addTokens += added.tokens
    }
    let segmented = try CompressedIndex(path: path("segments"))
    var speeds: [(Double, Double)] = []
    let compactedCopy = path("segments-compacted")
    try? FileManager.default.removeItem(atPath: compactedCopy)
    try FileManager.default.copyItem(atPath: path("segments"), toPath: compactedCopy)
    let compactor = try IndexWriter(path: compactedCopy)
    let (_, compactSeconds) = try timed { try compactor.compact() }
    compactor.close()
    for _ in 0..<5 {   // interleaved rounds; medians below
        speeds.append((try search(path("segments")).queriesPerSecond, try search(compactedCopy).queriesPerSecond))
    }
    let (deleteSummary, deleteSeconds) = try timed { () throws -> DeleteSummary in
        let summary = try segmentWriter.delete(ids: Array(documents.ids.prefix(1000)))
        try segmentWriter.commit()
        return summary
    }
    segmentWriter.close()
    let many = median(speeds.map(\.0)), one = median(speeds.map(\.1))
    print("""

    | measure | value |
    |---|---|
    | add from embeddings, 19 batches of about \(twentieth) documents | \(String(format: "%.0f", Double(addTokens) / addSeconds)) tokens/s (\(addTokens) tokens in \(String(format: "%.1f", addSeconds)) s, commits included) |
    | delete 1,000 ids and commit | \(String(format: "%.3f", deleteSeconds)) s (\(deleteSummary.deleted) deleted) |
    | compact \(segmented.segments.count) segments, \(segmented.documentCount) documents | \(String(format: "%.2f", compactSeconds)) s |
    | search k=\(k), \(segmented.segments.count) segments (median of 5) | \(String(format: "%.1f", many)) queries/s |
    | search k=\(k), the same index compacted to 1 segment (median of 5) | \(String(format: "%.1f", one)) queries/s |
    | \(segmented.segments.count) segments / 1 segment | \(String(format: "%.2f", many / one)) |
    """)
}

do {
    try main()
} catch {
    FileHandle.standardError.write(Data("error: \(describe(error))\n".utf8))
    exit(1)
}
